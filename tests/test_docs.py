"""The documentation: the site in docs/ builds with MkDocs in strict mode, offline; its pages
hold what the code has (every public name in the API reference, every CLI option, every store
attribute, the demo's picture); and the README's examples run and its command lines parse.

When an option changes, the failure says what the page should hold; ``python
tests/test_docs.py`` prints the command line reference generated from the parser.
"""

from __future__ import annotations

import argparse
import dataclasses
import html
import inspect
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import tifffile

import daskquant as dq

# The internal names these checks need, in one place: update them here when the modules move.
from daskquant._cli._commands import _demo_image, _demo_options
from daskquant._cli._parser import build_parser as _parser

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def _page(name: str) -> str:
    return (DOCS / name).read_text()


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


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


# The site ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built once as the documentation says: ``mkdocs build --strict``, offline
    (every proxy points at a closed port, so a download would fail the build)."""
    out = tmp_path_factory.mktemp("site")
    closed = "http://127.0.0.1:9"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        **{k: closed for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")},
        "no_proxy": "",
        "NO_PROXY": "",
    }
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    log = run.stdout + run.stderr
    assert run.returncode == 0, log
    assert "WARNING" not in log, log
    return out


def test_site_builds_in_strict_mode_offline(site):
    pages = {p.stem for p in DOCS.glob("*.md")}
    built = {p.parent.name for p in site.glob("*/index.html")} | {"index"}
    assert pages <= built, pages - built
    assert (site / "demo_preview.jpg").is_file()


def _documented(page: str) -> dict[str, str]:
    """The text of each ``id="daskquant.NAME"`` section of a built page, by NAME."""
    parts = re.split(r'id="daskquant\.([\w.]+)"', page)
    return {
        name: html.unescape(re.sub(r"<[^>]+>", "", text))
        for name, text in zip(parts[1::2], parts[2::2], strict=True)
    }


def test_api_reference_documents_every_public_name(site):
    """docs/api.md has one ``::: daskquant.NAME`` per public name and nothing else (no private
    module paths), and the built page shows each function with every parameter."""
    directives = re.findall(r"^::: (\S+)$", _page("api.md"), flags=re.MULTILINE)
    assert sorted(directives) == sorted(f"daskquant.{name}" for name in dq.__all__)
    sections = _documented((site / "api" / "index.html").read_text())
    for name in dq.__all__:
        assert name in sections, f"the built API reference has no section for {name}"
        obj = getattr(dq, name)
        if inspect.isfunction(obj):
            for parameter in inspect.signature(obj).parameters:
                assert re.search(rf"\b{parameter}\b", sections[name]), f"{name}({parameter})"


def test_api_reference_lists_result_fields():
    page = _page("api.md")
    for cls in (dq.FitResult, dq.Summary):
        for f in dataclasses.fields(cls):
            if f.repr:  # color_labels is an internal lookup table
                assert f"`{f.name}`" in page, f"{cls.__name__}.{f.name}"


def test_benchmark_plots_are_the_results():
    """docs/img holds copies of the benchmark plots (a page cannot show a file outside docs/);
    the benchmark scripts write both."""
    for name in ("peers.png", "scale.png"):
        copy, result = DOCS / "img" / name, ROOT / "benchmarks" / "results" / name
        assert copy.read_bytes() == result.read_bytes(), f"copy {result} to {copy}"


def test_readme_links_resolve():
    for target in re.findall(r"\]\(([^)#]+)[^)]*\)", README.read_text()):
        assert "://" not in target, target
        assert (ROOT / target).exists(), target


# The command line reference ---------------------------------------------------------------


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


def test_cli_reference_lists_every_command_and_option():
    section = _section(_page("cli.md"), "## Command line reference")
    for option in COMMON:
        assert f"`{option}`" in section, option
    for command, parser in _commands().items():
        heading = f"### `daskquant {command}`"
        assert heading in section, heading
        text = _section(section, heading)
        for option in _options(parser):
            assert f"`{option}" in text, f"docs/cli.md: {command} {option}"


def _command_lines(text: str) -> list[list[str]]:
    """Every ``daskquant ...`` command line in the bash blocks of a page."""
    found = []
    for block in _blocks(text, "bash"):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            words = shlex.split(line, comments=True)
            for i, word in enumerate(words):
                if word.endswith("daskquant") and i + 1 < len(words):
                    found.append(words[i + 1 :])
                    break
    return found


@pytest.mark.parametrize("page", ["README.md", *sorted(p.name for p in DOCS.glob("*.md"))])
def test_command_lines_parse(page):
    commands = _command_lines((README if page == "README.md" else DOCS / page).read_text())
    for words in commands:
        if words[0] in ("--help", "--version"):
            continue
        _parser().parse_args(words)  # raises SystemExit on a usage error
    if page in ("README.md", "cli.md"):
        assert len(commands) >= 6, page


# The README's examples --------------------------------------------------------------------


def test_python_quick_start_runs(tmp_path, monkeypatch):
    """The five-line example under "Get started" runs as written, in an empty folder."""
    blocks = _blocks(_section(README.read_text(), "## Get started"), "python")
    assert blocks, "no Python example"
    code = blocks[0]
    assert len([line for line in code.splitlines() if line.strip()]) == 5
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["quantized"].shape == (512, 512, 3)
    assert (tmp_path / "astronaut.png").stat().st_size > 0
    assert dq.open_store(tmp_path / "astronaut.zarr").attrs["complete"] is True


def test_readme_examples_run(tmp_path, monkeypatch, astronaut):
    """The Python examples of "What it does, in short" run in order, in a folder holding the
    files they name (scan.tif, a tiled TIFF; photo.jpg); the one that connects to a cluster's
    scheduler is only compiled."""
    blocks = _blocks(_section(README.read_text(), "## What it does, in short"), "python")
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)
    tifffile.imwrite("scan.tif", astronaut, tile=(256, 256), photometric="rgb")
    small = cv2.resize(astronaut, (128, 128), interpolation=cv2.INTER_AREA)
    cv2.imwrite("photo.jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
    namespace: dict[str, Any] = {}  # one after the other, as a reader goes on
    for code in blocks:
        compiled = compile(code, "README.md", "exec")
        if "Client(" not in code:
            exec(compiled, namespace)
    for store in ("scan.zarr", "web.zarr", "lab.zarr", "dither.zarr"):
        assert dq.open_store(store).attrs["complete"] is True, store
    for picture in ("scan-16.png", "scan-16.tif", "scan_preview.png"):
        assert Path(picture).stat().st_size > 0, picture


# What the pages say about the code --------------------------------------------------------


def test_zarr_reader_snippet_runs(tmp_path, monkeypatch, astronaut):
    """The zarr-python lines of docs/exports.md read a store without daskquant."""
    code = next(b for b in _blocks(_page("exports.md"), "python") if "zarr" in b)
    monkeypatch.chdir(tmp_path)
    summary = dq.quantize(astronaut, "scan.zarr", n_colors=4, seed=0)
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/exports.md", "exec"), namespace)
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
    """The attribute table of docs/store.md has a row for every attribute of real stores
    (fitted, fixed palette, OME-Zarr), and each row names the fields of its record."""
    rows = _table(_page("store.md"))
    stores = [
        dq.quantize(astronaut, tmp_path / "fit.zarr", n_colors=8, seed=0),
        dq.quantize(astronaut, tmp_path / "palette.zarr", palette="web216"),
        dq.quantize(astronaut, tmp_path / "ome.zarr", n_colors=8, seed=0, ome=True),
        dq.quantize(astronaut, tmp_path / "target.zarr", n_colors=8, seed=0, target_psnr=20),
    ]
    seen = set()
    for summary in stores:
        attrs = dq.open_store(summary.store).attrs.asdict()
        meta = attrs.pop("daskquant")
        names = [*attrs, *(f"daskquant.{key}" for key in meta)]
        for name in names:
            row = next((line for cell, line in rows.items() if f"`{name}`" in cell), None)
            assert row is not None, f"docs/store.md's store layout has no row for `{name}`"
            seen.add(name)
            if name == "daskquant.request":  # "the options as given": quantize's own
                options = set(meta["request"]) - {"input"}
                assert options <= set(inspect.signature(dq.quantize).parameters)
                continue
            record = meta.get(name.removeprefix("daskquant."))
            records = record if name == "daskquant.images" else [record]
            for field in (f for r in records if isinstance(r, dict) for f in r):
                assert f"`{field}`" in row, f"the row of `{name}` should name `{field}`"
    # What the pages rely on elsewhere, and what each kind of store adds.
    assert {"complete", "palette_saved", "ome", "daskquant.request"} <= seen
    assert {"daskquant.fit", "daskquant.palette_source", "daskquant.quality"} <= seen


def test_header_picture_is_what_the_demo_makes():
    """docs/demo_preview.jpg, the first picture of the README and of the site ("Made by `make
    demo`"), shows the demo as it runs now: its left half is the demo's mosaic, and its swatch
    has the colors of the demo's palette, in bands as wide as their shares. After a change to
    the fit or the demo, ``python benchmarks/quality.py --pictures`` draws it again."""
    assert "![before/after](docs/demo_preview.jpg)" in README.read_text()
    assert "![before/after](demo_preview.jpg)" in _page("index.md")
    args = _parser().parse_args(["demo"])
    image = _demo_image(args.size)

    # The internal names these checks need, in one place: update them here when the modules move.
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


if __name__ == "__main__":
    for command, parser in _commands().items():
        print(f"\n### `daskquant {command}`\n")
        for action in parser._actions:
            if action.help != argparse.SUPPRESS and _name(action) not in COMMON:
                print(f"- `{_name(action)}`: {action.help}")
