"""The error contract of the command, run as a user runs it (a subprocess): on failure,
stderr ends with exactly one ``daskquant: error: <file or argument>: <cause>`` line, and
with ``--quiet`` holds nothing else; other libraries' log lines only with ``--debug``;
inputs and the output are checked before a cluster starts; a closed pipe ends quietly."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import tifffile

ERROR = "daskquant: error: "


def daskquant(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "100"}
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    return subprocess.run(
        [sys.executable, "-m", "daskquant", *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def two_colors(path: Path) -> Path:
    img = np.zeros((32, 32, 3), np.uint8)
    img[16:] = (200, 100, 50)
    cv2.imwrite(str(path), img)
    return path


def damaged_tag_tiff(path: Path) -> Path:
    """A good image whose Software tag points past the end of the file: tifffile logs an
    error for the tag and reads the image."""
    img = np.zeros((32, 32, 3), np.uint8)
    img[16:] = 200
    tifffile.imwrite(path, img, software="s" * 40)
    with tifffile.TiffFile(path) as tif:
        entry = tif.pages[0].tags["Software"].offset
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, entry + 8, 10**8)  # the tag's value offset
    path.write_bytes(bytes(data))
    return path


def _cases(tmp: Path) -> list[tuple[list[str], str, int]]:
    """(arguments, what the error line must name, exit code): failures found before any
    cluster is started."""
    two_colors(tmp / "ok.png")
    (tmp / "taken.zarr").mkdir()
    (tmp / "taken.zarr" / "zarr.json").write_text('{"zarr_format": 3, "node_type": "group"}')
    (tmp / "empty.png").write_bytes(b"")
    (tmp / "notes.txt").write_text("not an image")
    (tmp / "nothing").mkdir()
    return [
        (["quantize", "missing.png", "a.zarr", "-k", "2"], "missing.png", 1),
        (["quantize", "ok.png", "taken.zarr", "-k", "2"], "taken.zarr", 1),
        (["quantize", "empty.png", "a.zarr", "-k", "2"], "empty.png", 1),
        (["quantize", "notes.txt", "a.zarr", "-k", "2"], "notes.txt", 1),
        (["quantize", "nothing", "a.zarr", "-k", "2"], "nothing", 1),
        (["quantize", "ok.png", "missing.png", "a.zarr", "-k", "2"], "missing.png", 1),
        (["quantize", "ok.png", "a.zarr", "-k", "0"], "--colors", 2),
        (["info", "missing.zarr"], "missing.zarr", 1),
    ]


@pytest.mark.slow  # 8 command-line processes, each importing dask (~40 s on 2 cores)
def test_failures_before_the_cluster_starts_are_one_line(tmp_path: Path) -> None:
    for i, (argv, named, code) in enumerate(_cases(tmp_path)):
        for quiet in ([], ["--quiet"]) if i < 2 else ([],):
            done = daskquant(*argv, *quiet, cwd=tmp_path)
            lines = done.stderr.splitlines()
            assert done.returncode == code, (argv, done.stderr)
            assert len(lines) == 1, (argv, quiet, done.stderr)  # no cluster, no dashboard
            assert lines[0].startswith(ERROR) and named in lines[0], (argv, lines)
            assert not (tmp_path / "a.zarr").exists()


@pytest.fixture
def on(local_cluster: Any) -> list[str]:
    """The options that send a run to the session's cluster (no cluster to start)."""
    return ["--scheduler", local_cluster.scheduler.address]


@pytest.mark.slow  # command-line processes against a cluster (~15 s)
def test_fit_errors_name_the_file_and_quiet_prints_only_that(
    tmp_path: Path, on: list[str]
) -> None:
    transparent = tmp_path / "clear.png"
    cv2.imwrite(str(transparent), np.zeros((16, 16, 4), np.uint8))
    two = two_colors(tmp_path / "two.png")
    # Two colors for K = 4 are refused only with --strict (else they are kept exactly).
    cases = ((transparent, "fully transparent", []), (two, "only 2 distinct colors", ["--strict"]))
    for path, cause, strict in cases:
        done = daskquant("quantize", path.name, "out.zarr", "-k", "4", *strict, *on, cwd=tmp_path)
        assert done.returncode == 1
        last = done.stderr.splitlines()[-1]
        assert last.startswith(f"{ERROR}{path.name}: ") and cause in last, done.stderr
        quiet = daskquant(
            "quantize", path.name, "out.zarr", "-k", "4", "-q", *strict, *on, cwd=tmp_path
        )
        assert quiet.returncode == 1 and quiet.stderr.splitlines() == [last]
        assert quiet.stdout == ""
        assert not (tmp_path / "out.zarr").exists()


def test_a_collection_member_with_nan_is_named(tmp_path: Path, on: list[str]) -> None:
    folder = tmp_path / "scans"
    folder.mkdir()
    good = np.random.default_rng(0).random((16, 16, 3)).astype(np.float32)
    bad = good.copy()
    bad[3, 4, 1] = np.nan
    tifffile.imwrite(folder / "a.tif", good, photometric="rgb")
    tifffile.imwrite(folder / "b.tif", bad, photometric="rgb")
    done = daskquant("quantize", "scans", "out.zarr", "-k", "4", "-q", *on, cwd=tmp_path)
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith(ERROR) and "b.tif" in line and "a.tif" not in line
    assert "NaN" in line


@pytest.mark.slow  # command-line processes with their own local clusters (~20 s)
def test_other_libraries_log_only_with_debug(tmp_path: Path) -> None:
    # tifffile logs the damaged tag in the client (reading the header) and in the workers
    # of the command's own local cluster (reading the tiles).
    damaged_tag_tiff(tmp_path / "scan.tif")
    small = ["--workers", "1", "--threads-per-worker", "1"]
    done = daskquant("quantize", "scan.tif", "out.zarr", "-k", "2", "-q", *small, cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    debug = daskquant(
        "quantize", "scan.tif", "dbg.zarr", "-k", "2", "--debug", *small, cwd=tmp_path
    )
    assert debug.returncode == 0 and "tifffile" in debug.stderr


def test_output_to_a_closed_pipe_ends_quietly(tmp_path: Path, on: list[str]) -> None:
    # The reader closes the pipe before the command writes its first line (`| head -0`).
    two_colors(tmp_path / "ok.png")
    env = {**os.environ}
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    made = daskquant("quantize", "ok.png", "s.zarr", "-k", "2", "-q", *on, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "daskquant", "info", "s.zarr"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0 and err == "", err


@pytest.mark.parametrize("quiet", [False, True])
def test_library_warnings_are_lines_of_their_own(quiet: bool) -> None:
    import logging

    from daskquant._cli._logs import configure_logging

    ours = logging.getLogger("daskquant")
    try:
        configure_logging(debug=False, quiet=quiet)
        assert ours.isEnabledFor(logging.WARNING) is (not quiet)
        assert not logging.getLogger("tifffile").isEnabledFor(logging.ERROR)
    finally:
        ours.handlers.clear()
        ours.propagate = True
        ours.setLevel(logging.NOTSET)
        logging.lastResort = logging.StreamHandler()
        logging.getLogger().setLevel(logging.WARNING)
        for name in ("distributed", "asyncio", "tornado", "bokeh", "tifffile"):
            logging.getLogger(name).setLevel(logging.NOTSET)
            logging.getLogger(name).propagate = True
