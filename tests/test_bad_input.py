"""Bad input, one table for the command line and the library, on real files.

Every row gives exit code 1 (runtime) or 2 (usage), one line on stderr that names the cause
and no traceback (without ``--debug``); the library raises the matching ``DaskQuantError``.
Nothing that looks complete is written, and the input is left as it was.

Two rows are for the command line only: an unreachable scheduler and a TLS scheduler with
wrong certificates. The library has no function that connects to a scheduler: it runs on
the caller's own ``distributed.Client`` (or any Dask scheduler), so connecting is the
caller's, and so are its errors. A few rows also run as ``python -m daskquant`` on its own
local cluster, to see the whole of stderr as a shell shows it.
"""

from __future__ import annotations

import inspect
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import tifffile
import zarr
from _clusters import certificates
from _corpus import build
from _golden import tree_digest

import daskquant as dq
from daskquant._cli._main import main
from daskquant._cli._samples import photo


@dataclass
class Case:
    """One row: the inputs and output, the CLI options and library arguments (None: the
    row is about the command line only), and what must come out."""

    inputs: list[Path]
    output: Path
    code: int
    message: str
    error: type[Exception]
    cli: list[str] = field(default_factory=list)
    api: dict[str, Any] | None = field(default_factory=dict)
    cluster: bool = True  # run on the session's cluster (else the row names its own)
    nobody: Path | None = None  # run as user nobody (root writes anywhere), in this folder
    ends: str = ""  # how the error line ends (no hint added after the cause)
    # The command line's message where it differs: it names flags where the library names
    # parameters ("--colors 16" for "n_colors=16", "--overwrite" for "overwrite=True").
    flags: str | None = None

    @property
    def cli_message(self) -> str:
        return self.message if self.flags is None else self.flags


def _png(path: Path, rgb: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    bgr = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    assert cv2.imwrite(str(path), bgr)
    return path


def _rgb() -> np.ndarray:
    return photo("coffee.png")[100:164, 200:264].copy()


def _zarr(path: Path, data: np.ndarray) -> Path:
    arr = zarr.create_array(str(path), shape=data.shape, dtype=data.dtype, chunks=(8, 8, 3))
    arr[...] = data
    return path


def _damaged(path: Path, good: Path, cut: slice | None = None, at: int = 0) -> Path:
    """``good`` truncated to ``cut``, or with 40 bytes overwritten at byte ``at``."""
    data = bytearray(good.read_bytes())
    if cut is not None:
        data = data[cut]
    else:
        data[at : at + 40] = b"\xff" * 40
    path.write_bytes(bytes(data))
    return path


def _tiff(tmp: Path) -> tuple[Path, int]:
    path = tmp / "ok.tif"
    tifffile.imwrite(path, photo("coffee.png")[:128, :128], tile=(64, 64), compression="zlib")
    with tifffile.TiffFile(path) as tf:
        return path, int(tf.pages[0].dataoffsets[3])


def nonexistent(tmp: Path) -> Case:
    return Case([tmp / "nope.png"], tmp / "o.zarr", 1, "nope.png: no such file", dq.InputError)


def empty_folder(tmp: Path) -> Case:
    (tmp / "scans").mkdir()
    (tmp / "scans" / "notes.txt").write_text("no images here")
    return Case(
        [tmp / "scans"], tmp / "o.zarr", 1, "scans: the folder holds no images", dq.InputError
    )


def corrupt_png(tmp: Path) -> Case:
    bad = _damaged(tmp / "bad.png", _png(tmp / "ok" / "ok.png", _rgb()), at=100)
    return Case([bad], tmp / "o.zarr", 1, "bad.png: corrupt PNG file", dq.InputError)


def truncated_png(tmp: Path) -> Case:
    good = _png(tmp / "ok" / "ok.png", _rgb())
    bad = _damaged(tmp / "cut.png", good, cut=slice(0, good.stat().st_size // 2))
    return Case([bad], tmp / "o.zarr", 1, "cut.png: truncated PNG file", dq.InputError)


def not_a_png(tmp: Path) -> Case:
    (tmp / "fake.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return Case([tmp / "fake.png"], tmp / "o.zarr", 1, "fake.png: truncated PNG", dq.InputError)


def corrupt_tiff(tmp: Path) -> Case:
    good, offset = _tiff(tmp)
    bad = _damaged(tmp / "bad.tif", good, at=offset)
    return Case([bad], tmp / "o.zarr", 1, "bad.tif: cannot decode", dq.InputError)


def corrupt_tiff_fixed_palette(tmp: Path) -> Case:
    case = corrupt_tiff(tmp)
    case.cli, case.api = ["--palette", "#000000,#ffffff"], {"palette": "#000000,#ffffff"}
    return case


def truncated_tiff(tmp: Path) -> Case:
    good, _ = _tiff(tmp)
    bad = _damaged(tmp / "cut.tif", good, cut=slice(0, good.stat().st_size // 2))
    return Case([bad], tmp / "o.zarr", 1, "cut.tif: truncated TIFF file", dq.InputError)


def from_corpus(name: str, message: str) -> Callable[[Path], Case]:
    """A refused file of the decoder corpus (``tests/_corpus.py``)."""

    def make(tmp: Path) -> Case:
        case = build(name, tmp)
        return Case([case.path], tmp / "o.zarr", 1, f"{case.path.name}: {message}", dq.InputError)

    return make


def unknown_format(tmp: Path) -> Case:
    (tmp / "notes.xyz").write_text("hello")
    return Case([tmp / "notes.xyz"], tmp / "o.zarr", 1, "unknown image format", dq.InputError)


def zero_byte_file(tmp: Path) -> Case:
    (tmp / "empty.png").touch()
    return Case(
        [tmp / "empty.png"], tmp / "o.zarr", 1, "empty.png: the file is empty", dq.InputError
    )


def zero_size_image(tmp: Path) -> Case:
    src = _zarr(tmp / "none.zarr", np.zeros((0, 16, 3), np.uint8))
    return Case([src], tmp / "o.zarr", 1, "none.zarr: image is empty", dq.InputError)


def one_pixel(tmp: Path) -> Case:
    src = _png(tmp / "dot.png", _rgb()[:1, :1])
    case = Case(
        [src], tmp / "o.zarr", 1, "image has 1 pixel, fewer than n_colors=16", dq.InputError
    )
    case.flags = "image has 1 pixel, fewer than --colors 16"
    case.cli, case.api = ["--strict"], {"strict": True}  # else its one color is kept
    return case


def k(value: int, code: int, message: str, error: type[Exception]) -> Callable[[Path], Case]:
    # The command line names the flag first: "--colors: must be ..." for "n_colors must be".
    said = message.replace("n_colors must", "--colors: must")

    def make(tmp: Path) -> Case:
        src = _png(tmp / "in.png", _rgb())
        cli = ["-k", str(value)]
        return Case(
            [src], tmp / "o.zarr", code, message, error, cli, {"n_colors": value}, flags=said
        )

    return make


def few_colors(tmp: Path) -> Case:
    four = np.zeros((32, 32, 3), np.uint8)
    four[:16, :16], four[16:, :16], four[:16, 16:] = (255, 0, 0), (0, 255, 0), (0, 0, 255)
    src = _png(tmp / "four.png", four)
    case = Case(
        [src],
        tmp / "o.zarr",
        1,
        "only 4 distinct colors, fewer than n_colors=8",
        dq.TooFewColorsError,
    )
    case.cli, case.api = ["-k", "8", "--strict"], {"n_colors": 8, "strict": True}
    case.flags = "only 4 distinct colors, fewer than --colors 8"
    return case


def non_finite(value: float) -> Callable[[Path], Case]:
    def make(tmp: Path) -> Case:
        data = _rgb().astype(np.float32) / 255
        data[5, 7, 1] = value
        src = _zarr(tmp / "float.zarr", data)
        return Case([src], tmp / "o.zarr", 1, "1 pixel with NaN or inf values", dq.InputError)

    return make


def too_many_channels(tmp: Path) -> Case:
    src = _zarr(tmp / "many.zarr", np.zeros((16, 16, 65), np.uint8))
    return Case([src], tmp / "o.zarr", 1, "65 channels", dq.InputError)


def mixed_channels(tmp: Path) -> Case:
    _png(tmp / "scans" / "a.png", _rgb())
    _png(tmp / "scans" / "b.png", _rgb()[..., 0])
    return Case([tmp / "scans"], tmp / "o.zarr", 1, "b.png: has 1 channel(s) but", dq.InputError)


def output_is_a_file(tmp: Path) -> Case:
    (tmp / "out.zarr").write_text("not a store")
    return Case(
        [_png(tmp / "in.png", _rgb())],
        tmp / "out.zarr",
        1,
        "out.zarr already exists",
        dq.StoreError,
    )


def output_is_a_file_overwrite(tmp: Path) -> Case:
    case = output_is_a_file(tmp)
    case.message = "out.zarr exists and is not a Zarr store; daskquant will not delete it"
    case.cli, case.api = ["--overwrite"], {"overwrite": True}
    return case


def existing_output(tmp: Path) -> Case:
    src = _png(tmp / "in.png", _rgb())
    dq.quantize(src, tmp / "done.zarr", n_colors=3, seed=0)
    case = Case([src], tmp / "done.zarr", 1, "done.zarr already exists", dq.StoreError)
    hint = "choose another output path, pass {} to replace it, or {} to finish it"
    case.message += "; " + hint.format("overwrite=True", "resume=True")
    case.flags = "done.zarr already exists; " + hint.format("--overwrite", "--resume")
    return case


def unreachable_scheduler(tmp: Path) -> Case:
    src = _png(tmp / "in.png", _rgb())
    where = ["--scheduler", "tcp://127.0.0.1:9", "--timeout", "1"]
    message = "cannot reach the Dask scheduler at tcp://127.0.0.1:9 within 1 s"
    return Case([src], tmp / "o.zarr", 1, message, dq.DaskQuantError, where, None, cluster=False)


def wrong_certificates(tmp: Path, tls_scheduler: tuple[str, dict]) -> Case:
    address, _ = tls_scheduler
    (tmp / "other-ca").mkdir()
    pem = certificates(tmp / "other-ca")  # valid, from a CA the scheduler does not trust
    where = ["--scheduler", address, "--timeout", "3"]
    tls = ["--tls-ca-file", pem["ca"], "--tls-cert", pem["cert"], "--tls-key", pem["key"]]
    message = f"the Dask scheduler at {address}: the scheduler's TLS certificate is not trusted"
    src = _png(tmp / "in.png", _rgb())
    case = Case([src], tmp / "o.zarr", 1, message, dq.DaskQuantError, [*where, *tls], None)
    case.cluster = False
    case.ends = "--tls-ca-file must be the certificate authority that signed it"
    return case


def locked_output(tmp: Path, locked_folder: tuple[Path, Path, Path]) -> Case:
    folder, src, locked = locked_folder
    out = locked / "o.zarr"
    message = f"{out}: cannot create the output store (Permission denied: no write access to "
    cli = ["--workers", "1"]  # its own workers, as nobody too
    return Case(
        [src], out, 1, f"{message}{locked})", dq.StoreError, cli, cluster=False, nobody=folder
    )


def damaged_since_interrupted(tmp: Path) -> Case:
    # An interrupted job whose input is then damaged in place (same size and modification
    # time, as a failing disk leaves it): only the write of the resumed job reads the bad
    # tile. The store must be kept as it was: incomplete, for another --resume.
    tif, offset = _tiff(tmp)  # offset: the last of 4 tiles, the last chunk at --chunks 64
    out = tmp / "o.zarr"
    kw: dict[str, Any] = {"n_colors": 4, "seed": 0, "chunks": 64}
    dq.quantize(tif, out, **kw)
    (out / "labels" / "c" / "1" / "1").unlink()
    zarr.open_group(str(out), mode="r+").attrs["complete"] = False
    st = tif.stat()
    _damaged(tif, tif, at=offset)
    os.utime(tif, ns=(st.st_atime_ns, st.st_mtime_ns))
    cli = ["-k", "4", "--seed", "0", "--chunks", "64", "--resume"]
    return Case([tif], out, 1, "ok.tif: cannot decode", dq.InputError, cli, {**kw, "resume": True})


def malformed_palette(tmp: Path) -> Case:
    (tmp / "bad.gpl").write_text("GIMP Palette\n12 oops 7\n")
    src = _png(tmp / "in.png", _rgb())
    message = "bad.gpl': line 2: expected three integers 0-255"
    case = Case([src, tmp / "bad.gpl"], tmp / "o.zarr", 2, message, dq.InvalidParameterError)
    case.cli, case.api = ["--palette", str(tmp / "bad.gpl")], {"palette": tmp / "bad.gpl"}
    return case


ROWS: dict[str, Callable[..., Case]] = {
    "nonexistent-path": nonexistent,
    "folder-without-images": empty_folder,
    "corrupt-png": corrupt_png,
    "truncated-png": truncated_png,
    "not-a-png": not_a_png,
    "corrupt-tiff": corrupt_tiff,
    "corrupt-tiff-fixed-palette": corrupt_tiff_fixed_palette,
    "truncated-tiff": truncated_tiff,
    "truncated-jpeg": from_corpus("jpeg-truncated", "truncated or corrupt JPEG file"),
    "unsupported-color-model": from_corpus(
        "tiff-refused-mask", "TIFF photometric interpretation MASK (4) is not supported"
    ),
    "over-the-pixel-limit": from_corpus("limit-png", "the image is 40000 x 40000 pixels, over"),
    "unknown-format": unknown_format,
    "zero-byte-file": zero_byte_file,
    "zero-size-image": zero_size_image,
    "1x1-image": one_pixel,
    "k-zero": k(0, 2, "n_colors must be between 1 and 65535, got 0", dq.InvalidParameterError),
    "k-negative": k(
        -3, 2, "n_colors must be between 1 and 65535, got -3", dq.InvalidParameterError
    ),
    "k-above-65535": k(
        65536, 2, "n_colors must be between 1 and 65535, got 65536", dq.InvalidParameterError
    ),
    "k-above-distinct-colors": few_colors,
    "nan-in-float-zarr": non_finite(np.nan),
    "inf-in-float-zarr": non_finite(np.inf),
    "too-many-channels": too_many_channels,
    "mixed-channel-counts": mixed_channels,
    "output-is-a-file": output_is_a_file,
    "output-is-a-file-overwrite": output_is_a_file_overwrite,
    "existing-output-without-overwrite": existing_output,
    "output-folder-without-write-permission": locked_output,
    "unreachable-scheduler": unreachable_scheduler,
    "tls-scheduler-with-wrong-certificates": wrong_certificates,
    "malformed-palette-file": malformed_palette,
    "corrupt-tiff-found-while-resuming": damaged_since_interrupted,
}
# Connecting to a scheduler is the caller's in the library (see the module docstring).
CLI_ONLY = ("unreachable-scheduler", "tls-scheduler-with-wrong-certificates")


def _case(row: str, tmp_path: Path, request: pytest.FixtureRequest) -> Case:
    """Row ``row``, built in ``tmp_path``. A row that needs a fixture (a TLS scheduler, a
    folder that user nobody can read) names it after ``tmp``, as a test names fixtures."""
    make = ROWS[row]
    fixtures = list(inspect.signature(make).parameters)[1:]
    return make(tmp_path, *(request.getfixturevalue(name) for name in fixtures))


def _snapshot(case: Case) -> dict[Path, dict[str, str] | None]:
    paths = [*case.inputs, case.output]
    return {p: tree_digest(p) if p.exists() else None for p in paths}


def _assert_nothing_changed(case: Case, before: dict[Path, dict[str, str] | None]) -> None:
    for path, digest in before.items():
        if path == case.output and digest is None and path.exists():
            # Something was left behind: it must not look like a finished store.
            group = zarr.open_group(str(path), mode="r")
            assert group.attrs.get("complete") is not True
        else:
            assert (tree_digest(path) if path.exists() else None) == digest, path


def _assert_one_error_line(err: str, code: int, case: Case) -> None:
    assert code == case.code, err
    assert "Traceback" not in err
    # Progress lines (the cluster, phases done; none with --quiet) may come first; then one
    # line, the error, and nothing else from daskquant, Dask or a decoder.
    lines = err.strip().splitlines()
    assert lines[-1].startswith("daskquant: error: ") and case.cli_message in lines[-1], err
    assert lines[-1].endswith(case.ends), err
    assert not [line for line in lines[:-1] if "error" in line.lower() or "warn" in line.lower()]
    assert [line for line in lines if line.startswith("daskquant:")] == lines[-1:]


def _command_line(
    case: Case, argv: list[str], capfd: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    """Exit code and stderr of ``daskquant ARGV``: in this process, or as user nobody."""
    if case.nobody is None:
        capfd.readouterr()
        code = main(argv)
        return code, capfd.readouterr().err
    cli = f"import sys\nfrom daskquant._cli._main import main\nsys.exit(main({argv!r}))"
    done = _run_unprivileged(cli, case.nobody)
    return done.returncode, done.stderr


def _library_as_nobody(case: Case) -> tuple[list[str], str]:
    """The class names (with their bases) and the message of what ``dq.quantize`` raises
    for ``case``, run as user nobody."""
    assert case.nobody is not None
    api = (
        "import daskquant as dq\n"
        "try:\n"
        f"    dq.quantize({str(case.inputs[0])!r}, {str(case.output)!r}, **{case.api!r})\n"
        "except Exception as exc:\n"
        "    print(*[c.__name__ for c in type(exc).__mro__])\n"
        "    print(exc)\n"
    )
    names, message = _run_unprivileged(api, case.nobody).stdout.strip().split("\n", 1)
    return names.split(), message


@pytest.mark.parametrize("row", ROWS)
def test_bad_input_on_the_command_line(row, tmp_path, local_cluster, capfd, request):
    case = _case(row, tmp_path, request)
    assert (case.api is None) == (row in CLI_ONLY)
    before = _snapshot(case)
    on = ["--scheduler", local_cluster.scheduler.address] if case.cluster else []
    argv = ["quantize", *map(str, case.inputs[:1]), str(case.output), *case.cli, *on]
    code, err = _command_line(case, argv, capfd)
    _assert_one_error_line(err, code, case)
    _assert_nothing_changed(case, before)


@pytest.mark.parametrize("row", [r for r in ROWS if r not in CLI_ONLY])
def test_bad_input_to_the_library(row, tmp_path, request):
    case = _case(row, tmp_path, request)
    assert case.api is not None
    before = _snapshot(case)
    if case.nobody is None:
        with pytest.raises(case.error, match=re.escape(case.message)) as info:
            dq.quantize(case.inputs[0], case.output, **case.api)
        assert isinstance(info.value, dq.DaskQuantError)
    else:
        classes, message = _library_as_nobody(case)
        assert case.error.__name__ in classes and "DaskQuantError" in classes, classes
        assert case.message in message
    _assert_nothing_changed(case, before)


# -- K at the limit ------------------------------------------------------------------------


def _ramp(n: int) -> np.ndarray:
    """``n`` distinct colors: color i is (i >> 8, i & 255, 0)."""
    i = np.arange(n)
    return np.stack([i >> 8, i & 255, np.zeros_like(i)], axis=1).astype(np.uint8)


def test_k_at_the_limit_on_the_command_line_and_in_the_library(tmp_path, local_cluster, capfd):
    # 65535 colors, the most: a palette file of them is applied; 65536 are refused. Color
    # (r, g, 0) is the nearest to a pixel (r, g, b), so each pixel's label is r * 256 + g
    # (the crop has no pixel with r = g = 255, the color left out).
    rgb = _rgb()
    assert not ((rgb[..., 0] == 255) & (rgb[..., 1] == 255)).any()
    expected = rgb[..., 0].astype(np.uint16) * 256 + rgb[..., 1]
    src = _png(tmp_path / "in.png", rgb)
    files = {}
    for n in (65535, 65536):
        files[n] = tmp_path / f"ramp{n}.txt"
        files[n].write_text("".join(f"#{r:02x}{g:02x}{b:02x}\n" for r, g, b in _ramp(n)))
    on = ["--scheduler", local_cluster.scheduler.address, "--json", "-q"]

    argv = ["quantize", str(src), str(tmp_path / "cli.zarr"), "--palette", str(files[65535])]
    assert main([*argv, *on]) == 0
    store = zarr.open_group(str(tmp_path / "cli.zarr"), mode="r")
    assert store.attrs["complete"] is True
    np.testing.assert_array_equal(store["palette"], _ramp(65535))
    labels = np.asarray(store["labels"])
    assert labels.dtype == np.uint16
    np.testing.assert_array_equal(labels, expected)

    capfd.readouterr()
    argv = ["quantize", str(src), str(tmp_path / "no.zarr"), "--palette", str(files[65536])]
    assert main([*argv, *on]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    refused = f"palette '{files[65536]}' has 65536 colors; at most 65535 are supported"
    assert err == [f"daskquant: error: {refused}"]
    assert not (tmp_path / "no.zarr").exists()

    # The library: the same file loads; one more color is refused wherever a palette is
    # taken; K = 65535 passes the check (this image is then too small for it).
    np.testing.assert_array_equal(dq.load_palette(files[65535]), _ramp(65535))
    with pytest.raises(dq.InvalidParameterError, match="has 65536 colors; at most 65535"):
        dq.load_palette(files[65536])
    with pytest.raises(dq.InvalidParameterError, match="between 1 and 65535, got 65536"):
        dq.apply_palette(rgb, _ramp(65536))
    with pytest.raises(dq.InputError, match="fewer than n_colors=65535"):
        dq.fit_palette(rgb, 65535, strict=True)
    with pytest.raises(dq.InvalidParameterError, match="between 1 and 65535, got 65536"):
        dq.fit_palette(rgb, 65536)


# One usage error, one input error found before writing, one found while writing.
FROM_A_SHELL = ["k-above-65535", "corrupt-png", "corrupt-tiff-found-while-resuming"]
# What may come before the error line on stderr: the progress lines of the command line.
PROGRESS = re.compile(
    r"local cluster: 1 worker, 1 thread, .+ per worker"
    r"|dashboard: http://\S+"
    r"|[a-z][a-z ]* +\[[#.]+\] +\d+%  [\d,]+/[\d,]+ tasks  [\d.]+ s"
    r"|attempt \d+  iteration .*"
)


@pytest.mark.parametrize("row", FROM_A_SHELL)
def test_bad_input_from_a_shell(row, tmp_path, request):
    # The real command on its own local cluster: nothing on stderr but progress and then
    # the one error line, also while the cluster and the interpreter shut down.
    case = _case(row, tmp_path, request)
    before = _snapshot(case)
    argv = ["quantize", str(case.inputs[0]), str(case.output), *case.cli]
    env = {k: v for k, v in os.environ.items() if k != "DASK_SCHEDULER_ADDRESS"}
    done = subprocess.run(
        [sys.executable, "-m", "daskquant", *argv, "--workers", "1", "--threads-per-worker", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == case.code, done.stderr
    assert done.stdout == ""
    *progress, last = done.stderr.splitlines()
    assert last.startswith("daskquant: error: ") and case.cli_message in last, done.stderr
    assert [line for line in progress if not PROGRESS.fullmatch(line)] == [], done.stderr
    _assert_nothing_changed(case, before)


# -- as user nobody (the row output-folder-without-write-permission) ----------------------

_AS_NOBODY = os.geteuid() == 0  # root writes anywhere: the run drops to user "nobody"


def _python_for_nobody(env: dict[str, str], folder: Path) -> list[str]:
    """A command that starts this Python with this environment's packages, runnable by
    ``nobody`` (whose account cannot enter root's home, where a pyenv Python may live)."""
    purelib = sysconfig.get_paths()["purelib"]
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for exe in (sys.executable, f"/usr/bin/{version}", f"/usr/local/bin/{version}"):
        argv = [exe, "-S", "-c", f"import site; site.addsitedir({purelib!r}); import daskquant"]
        try:
            done = subprocess.run(
                argv,
                user=65534,
                group=65534,
                capture_output=True,
                env=env,
                cwd=folder,
                timeout=120,
            )
        except OSError:
            continue
        if done.returncode == 0:
            return [
                exe,
                "-S",
                "-c",
                f"import site; site.addsitedir({purelib!r}); exec(eval(input()))",
            ]
    pytest.skip(f"no {version} that user nobody can run")


def _run_unprivileged(code: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """Run Python ``code`` as ``nobody`` if this is root, else as this user."""
    env = {**os.environ, "HOME": str(folder), "NUMBA_CACHE_DIR": str(folder / "numba")}
    python = (
        _python_for_nobody(env, folder)
        if _AS_NOBODY
        else [sys.executable, "-c", "exec(eval(input()))"]
    )
    return subprocess.run(
        python,
        input=repr(code),
        capture_output=True,
        text=True,
        env=env,
        cwd=folder,
        user=65534 if _AS_NOBODY else None,
        group=65534 if _AS_NOBODY else None,
        timeout=240,
    )


@pytest.fixture
def locked_folder() -> Any:
    """A world-readable folder with an input, and a sub-folder nobody may write to."""
    folder = Path(tempfile.mkdtemp(prefix="daskquant-locked-"))
    folder.chmod(0o777)
    src = _png(folder / "in.png", _rgb())
    src.chmod(0o644)
    (folder / "numba").mkdir(mode=0o777)
    (folder / "numba").chmod(0o777)
    locked = folder / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        yield folder, src, locked
    finally:
        shutil.rmtree(folder, ignore_errors=True)
