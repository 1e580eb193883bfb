"""The layout the code promises (STYLE.md, issue 14), checked on the source itself.

- Imports point one way: ``_cli`` -> public API (``daskquant``, ``_api``) -> ``_store`` ->
  ``_io`` -> ``_engine`` and ``_color`` (peers) -> ``_engine._kernels`` and
  ``_engine._sorting``, ``_errors``, ``_version``.
- Functions stay short: none over 80 lines, at most three over 60 (docstrings not counted).
- The package's ``__init__`` only re-exports; every name in ``__all__`` exists.
- Test modules do not import each other: shared code lives in ``tests/_*.py`` helpers.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import daskquant as dq

ROOT = Path(dq.__file__).resolve().parent
TESTS = Path(__file__).resolve().parent

# Rank of each layer: a module may import modules of a lower rank, or of its own layer.
LAYERS = {
    "daskquant._errors": 0,
    "daskquant._version": 0,
    "daskquant._engine._kernels": 0,
    "daskquant._engine._sorting": -1,  # numba sorting kernels, below _kernels: no daskquant import
    "daskquant._engine": 1,
    "daskquant._color": 1,
    "daskquant._io": 2,
    "daskquant._store": 3,
    "daskquant._api": 4,
    "daskquant": 5,  # the package's __init__: the public API, re-exported
    "daskquant._cli": 6,
    "daskquant.__main__": 7,
}
LONG, LONGEST, MOST_LONG = 60, 80, 3


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> str:
    """The most specific entry of LAYERS that ``module`` belongs to."""
    best = max((n for n in LAYERS if module == n or module.startswith(n + ".")), key=len)
    return best


def _sources() -> list[Path]:
    return sorted(ROOT.rglob("*.py"))


def _is_module(name: str) -> bool:
    path = ROOT.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every daskquant import in ``path``, lazy ones included;
    ``from package import _module`` names the module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "daskquant":
                continue
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.append((node.lineno, sub if _is_module(sub) else node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("daskquant")]
    return found


def _allowed(importer: str, imported: str) -> bool:
    own, other = _layer(importer), _layer(imported)
    return own == other or LAYERS[other] < LAYERS[own]


def test_layers_cover_every_module() -> None:
    names = {_layer(_module_name(p)) for p in _sources()}
    assert names <= set(LAYERS)
    assert {"daskquant._engine", "daskquant._color", "daskquant._io"} <= names


def test_imports_point_one_way() -> None:
    wrong = [
        f"{p.relative_to(ROOT.parent)}:{line} imports {imported}"
        for p in _sources()
        for line, imported in sorted(set(_imports(p)))
        if not _allowed(_module_name(p), imported)
    ]
    assert wrong == []


@pytest.mark.parametrize(
    ("importer", "imported", "ok"),
    [
        ("daskquant._cli._main", "daskquant", True),
        ("daskquant._api._quantize", "daskquant", False),
        ("daskquant._api._fit", "daskquant._engine._lloyd", True),
        ("daskquant._store._preview", "daskquant._io._readers", True),
        ("daskquant._io._readers", "daskquant._store._store", False),
        ("daskquant._color._spaces", "daskquant._engine._sources", False),
        ("daskquant._engine._sources", "daskquant._color._spaces", False),
        ("daskquant._color._palettes", "daskquant._engine._kernels", True),
        ("daskquant._engine._kernels", "daskquant._engine._sources", False),
        ("daskquant._engine._kernels", "daskquant._engine._sorting", True),
        ("daskquant._engine._sorting", "daskquant._engine._kernels", False),
        ("daskquant._api._quantize", "daskquant._cli._progress", False),
    ],
)
def test_the_layer_rule_itself(importer: str, imported: str, ok: bool) -> None:
    assert _allowed(importer, imported) is ok


def _function_lengths() -> dict[str, int]:
    """Lines of every function, from ``def`` to its end, without its docstring (which is
    the API reference the docs site renders, not code to read)."""
    lengths = {}
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{path.relative_to(ROOT.parent)}:{node.lineno} {node.name}"
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                first = node.body[0]
                if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                    lines -= (first.end_lineno or first.lineno) - first.lineno + 1
                lengths[name] = lines
    return lengths


def test_functions_are_short() -> None:
    lengths = _function_lengths()
    longest = {name: n for name, n in lengths.items() if n > LONGEST}
    long = {name: n for name, n in lengths.items() if n > LONG}
    assert longest == {}, f"over {LONGEST} lines"
    assert len(long) <= MOST_LONG, f"more than {MOST_LONG} functions over {LONG} lines: {long}"


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the docstring nodes of a module and of its classes and functions."""
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, kinds)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }


def test_library_messages_name_parameters_not_flags() -> None:
    # The library says overwrite=True; only the command line says --overwrite (it translates).
    flag = re.compile(r"(?<![\w-])--[a-z][a-z-]+")
    wrong = []
    for path in _sources():
        if _layer(_module_name(path)) == "daskquant._cli":
            continue
        tree = ast.parse(path.read_text())
        docstrings = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if id(node) not in docstrings and flag.search(node.value):
                    wrong.append(f"{path.relative_to(ROOT.parent)}:{node.lineno} {node.value!r}")
    assert wrong == []


def test_init_only_reexports() -> None:
    tree = ast.parse((ROOT / "__init__.py").read_text())
    for node in tree.body:
        docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        exports = isinstance(node, ast.Assign) and [
            t.id for t in node.targets if isinstance(t, ast.Name)
        ] == ["__all__"]
        assert docstring or exports or isinstance(node, ast.ImportFrom), ast.dump(node)[:80]


def test_exports() -> None:
    assert len(dq.__all__) == len(set(dq.__all__))
    for name in dq.__all__:
        assert hasattr(dq, name), name
    public = {n for n in vars(dq) if not n.startswith("_")}
    assert public == set(dq.__all__) - {"__version__"}


def test_test_modules_do_not_import_each_other() -> None:
    modules = {p.stem for p in TESTS.rglob("test_*.py")}
    wrong = []
    for path in TESTS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module in modules:
                wrong.append(f"{path.relative_to(TESTS)} imports {node.module}")
            elif isinstance(node, ast.Import):
                wrong += [f"{path.name} imports {a.name}" for a in node.names if a.name in modules]
    assert wrong == []
