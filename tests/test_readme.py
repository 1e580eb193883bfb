"""README.md: its API reference lists every public name with its current signature and every
CLI option, its command lines parse, and its Python quick start runs as written.

When a signature or an option changes, the failure shows the line the README should hold;
``python tests/test_readme.py`` prints the whole generated reference.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import shlex
from pathlib import Path
from typing import Any

import cv2
import numpy as np

import daskquant as dq
from daskquant._cli._commands import _demo_image, _demo_options
from daskquant._cli._parser import build_parser as _parser

README = Path(__file__).resolve().parents[1] / "README.md"


def _section(text: str, heading: str) -> str:
    """The text under ``heading`` (a whole line), up to the next heading of its level or
    higher; lines in fenced code blocks are not headings."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = text.split("\n")
    start = lines.index(heading) + 1
    fenced = False
    for end in range(start, len(lines)):
        line = lines[end]
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(rf"#{{1,{level}}} ", line):
            return "\n".join(lines[start:end])
    return "\n".join(lines[start:])


def signature(name: str) -> str:
    """``name(arg, *, option=default, ...)`` without annotations, as the README shows it."""
    obj = getattr(dq, name)
    parts: list[str] = []
    star = False
    for p in inspect.signature(obj).parameters.values():
        if p.kind is p.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        text = p.name
        if p.default is not p.empty:
            text += f"={p.default!r}"
        parts.append(text)
    return f"{name}({', '.join(parts)})"


def _summary(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.split("\n\n")[0].replace("\n", " ").replace(":func:", "").replace(":mod:", "")


def api_reference() -> str:
    """The README's list of public names, from the code."""
    lines = []
    for name in dq.__all__:
        obj = getattr(dq, name)
        if inspect.isfunction(obj):
            lines.append(f"- `dq.{signature(name)}`: {_summary(obj)}")
    for name in dq.__all__:
        obj = getattr(dq, name)
        if inspect.isclass(obj):
            lines.append(f"- `dq.{name}`: {_summary(obj)}")
    constants = [n for n in dq.__all__ if n.isupper()]
    lines.append(
        "- " + ", ".join(f"`dq.{n}`" for n in constants) + ": the cv2 flags for `dq.kmeans`."
    )
    lines.append(f"- `dq.__version__`: the version, `{dq.__version__!r}` here.")
    return "\n".join(lines)


def _commands() -> dict[str, argparse.ArgumentParser]:
    for action in _parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


COMMON = ("--help", "--debug", "--quiet")  # every command takes them: listed once


def _name(action: argparse.Action) -> str:
    """An option's first long spelling (``--colors`` for ``-k/--colors``), or the argument's."""
    longs = [s for s in action.option_strings if s.startswith("--")]
    return longs[0] if longs else action.metavar or action.dest


def _options(parser: argparse.ArgumentParser) -> list[str]:
    """Every option and positional argument of a command, but the common ones."""
    return [
        _name(a) for a in parser._actions if a.help != argparse.SUPPRESS and _name(a) not in COMMON
    ]


def test_api_reference_lists_every_public_name_with_its_signature():
    section = _section(README.read_text(), "## API reference")
    missing = [line for line in api_reference().splitlines() if line not in section]
    assert not missing, "README.md's API reference should hold these lines:\n" + "\n".join(missing)
    for name in dq.__all__:
        assert f"`dq.{name}" in section, name


def test_cli_reference_lists_every_command_and_option():
    section = _section(README.read_text(), "### Command line reference")
    for option in COMMON:
        assert f"`{option}`" in section, option
    for command, parser in _commands().items():
        heading = f"#### `daskquant {command}`"
        assert heading in section, heading
        text = _section(section, heading)
        for option in _options(parser):
            assert f"`{option}" in text, f"{command} {option}"


def _commands_in(text: str) -> list[list[str]]:
    """Every ``daskquant ...`` command line in the README's bash blocks."""
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            words = shlex.split(line, comments=True)
            for i, word in enumerate(words):
                if word.endswith("daskquant") and i + 1 < len(words):
                    found.append(words[i + 1 :])
                    break
    return found


def test_readme_command_lines_parse():
    commands = _commands_in(README.read_text())
    assert len(commands) >= 8
    for words in commands:
        if words[0] in ("--help", "--version"):
            continue
        _parser().parse_args(words)  # raises SystemExit on a usage error


def test_python_quick_start_runs(tmp_path, monkeypatch):
    """The five-line example under "Get started" runs as written, in an empty folder."""
    section = _section(README.read_text(), "## Get started")
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert blocks, "no Python example"
    code = blocks[0]
    assert len([line for line in code.splitlines() if line.strip()]) == 5
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["quantized"].shape == (512, 512, 3)
    assert (tmp_path / "astronaut.png").stat().st_size > 0
    assert dq.open_store(tmp_path / "astronaut.zarr").attrs["complete"] is True


def test_zarr_reader_snippet_runs(tmp_path, monkeypatch, astronaut):
    """The zarr-python lines under "Exports and viewers" read a store without daskquant."""
    section = _section(README.read_text(), "## Exports and viewers")
    code = next(b for b in re.findall(r"```python\n(.*?)```", section, re.DOTALL) if "zarr" in b)
    monkeypatch.chdir(tmp_path)
    summary = dq.quantize(astronaut, "scan.zarr", n_colors=4, seed=0)
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    region = namespace["region"]
    assert region.shape == astronaut.shape and region.dtype == np.uint8
    # The photo in its 4 palette colors, each on as many pixels as the store counted.
    colors, counts = np.unique(region.reshape(-1, 3), axis=0, return_counts=True)
    palette = np.asarray(summary.palette, np.uint8)
    order = np.lexsort(palette.T[::-1])
    np.testing.assert_array_equal(colors, palette[order])
    np.testing.assert_array_equal(counts, np.asarray(summary.counts)[order])


def _table(section: str) -> dict[str, str]:
    """The rows of the Markdown tables in ``section``, by the text of their first cell."""
    return {
        line.split("|")[1].strip(): line for line in section.splitlines() if line.startswith("| `")
    }


def test_store_layout_lists_every_attribute(tmp_path, astronaut):
    """The attribute table under "Output store" has a row for every attribute of real stores
    (fitted, fixed palette, OME-Zarr), and each row names the fields of its record."""
    rows = _table(_section(README.read_text(), "## Output store"))
    stores = [
        dq.quantize(astronaut, tmp_path / "fit.zarr", n_colors=8, seed=0),
        dq.quantize(astronaut, tmp_path / "palette.zarr", palette="web216"),
        dq.quantize(astronaut, tmp_path / "ome.zarr", n_colors=8, seed=0, ome=True),
    ]
    seen = set()
    for summary in stores:
        attrs = dq.open_store(summary.store).attrs.asdict()
        meta = attrs.pop("daskquant")
        names = [*attrs, *(f"daskquant.{key}" for key in meta)]
        for name in names:
            row = next((line for cell, line in rows.items() if f"`{name}`" in cell), None)
            assert row is not None, f"README.md's store layout has no row for `{name}`"
            seen.add(name)
            if name == "daskquant.request":  # "the options as given": quantize's own
                options = set(meta["request"]) - {"input"}
                assert options <= set(inspect.signature(dq.quantize).parameters)
                continue
            record = meta.get(name.removeprefix("daskquant."))
            records = record if name == "daskquant.images" else [record]
            for field in (f for r in records if isinstance(r, dict) for f in r):
                assert f"`{field}`" in row, f"the row of `{name}` should name `{field}`"
    # What the README relies on elsewhere, and what each kind of store adds.
    assert {"complete", "palette_saved", "ome", "daskquant.request"} <= seen
    assert {"daskquant.fit", "daskquant.palette_source", "daskquant.quality"} <= seen


def test_header_picture_is_what_the_demo_makes():
    """docs/demo_preview.jpg, the README's first picture ("Made by `make demo`"), shows the
    demo as it runs now: its left half is the demo's mosaic, and its swatch has the colors of
    the demo's palette, in bands as wide as their shares. After a change to the fit or the
    demo, ``python benchmarks/quality.py --pictures`` draws it again."""
    assert "![before/after](docs/demo_preview.jpg)" in README.read_text()
    args = _parser().parse_args(["demo"])
    image = _demo_image(args.size)
    fit = dq.fit_palette(image, **_demo_options(args.n_colors))
    picture = cv2.cvtColor(
        cv2.imread(str(README.parent / "docs/demo_preview.jpg")), cv2.COLOR_BGR2RGB
    )
    width = picture.shape[1]
    side = width // 2  # two square halves side by side, the swatch below them
    # Resampled differently and JPEG-compressed: a few levels off on average (another
    # mosaic is about 70 off).
    before = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
    assert np.abs(picture[:side, :side].astype(int) - before).mean() < 12
    # The swatch's top rows (the shares are written lower down), in the middle of each band.
    top = picture[side + 2 : side + 8].astype(int)
    order = np.argsort(-fit.counts, kind="stable")
    edges = np.r_[0, np.cumsum(fit.counts[order]) / fit.counts.sum() * width]
    for k, start, end in zip(order, edges[:-1], edges[1:], strict=True):
        if end - start < 8:  # too narrow to sample clear of the JPEG's blur
            continue
        quarter = (end - start) / 4
        band = top[:, int(start + quarter) : int(end - quarter)].reshape(-1, 3)
        color = np.median(band, axis=0)
        assert np.abs(color - fit.palette[k]).max() <= 6, (k, color, fit.palette[k])


def test_api_reference_lists_result_fields():
    section = _section(README.read_text(), "## API reference")
    for cls in (dq.FitResult, dq.Summary):
        for f in dataclasses.fields(cls):
            if f.repr:  # color_labels is an internal lookup table
                assert f"`{f.name}`" in section, f"{cls.__name__}.{f.name}"


if __name__ == "__main__":
    print(api_reference())
    for command, parser in _commands().items():
        print(f"\n#### `daskquant {command}`\n")
        for action in parser._actions:
            if action.help != argparse.SUPPRESS and _name(action) not in COMMON:
                print(f"- `{_name(action)}`: {action.help}")
