"""Faults, against real processes and real files: workers killed mid-fit and mid-write, the
whole job killed (then resumed), Ctrl-C. The store either ends bit-identical to a run
without faults or says it is incomplete; the input is never modified.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import dask
import numpy as np
import pytest
import zarr
from _clusters import Processes, start_tcp_cluster
from _golden import tree_digest

import daskquant as dq
from daskquant._cli._main import main
from daskquant._cli._samples import photo_mosaic

# -- helpers ------------------------------------------------------------------------------


def store_contents(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Every attribute of a store's root, and every array in it (nested ones too)."""
    group = zarr.open_group(str(path), mode="r")
    arrays = {
        name: np.asarray(node)
        for name, node in group.members(max_depth=None)
        if isinstance(node, zarr.Array)
    }
    return dict(group.attrs), arrays


def array_files(store: Path, name: str) -> tuple[dict[str, Any], dict[str, bytes]]:
    """An array's ``zarr.json`` (codecs, chunk grid, fill value, ...) and the raw bytes of
    every other file in its folder (its chunks), by path."""
    folder = store / name
    meta = json.loads((folder / "zarr.json").read_text())
    files = {
        str(f.relative_to(folder)): f.read_bytes()
        for f in sorted(folder.rglob("*"))
        if f.is_file() and f.name != "zarr.json"
    }
    return meta, files


def assert_same_store(a: Path, b: Path, *, ignore: tuple[str, ...] = ()) -> None:
    """Bit-identical: the same arrays with the same dtypes and values, the same array
    metadata and chunk files byte for byte, the same attributes (but the ``daskquant``
    entries named in ``ignore``), both complete."""
    attrs_a, arrays_a = store_contents(a)
    attrs_b, arrays_b = store_contents(b)
    assert attrs_a["complete"] is True and attrs_b["complete"] is True
    meta_a = {k: v for k, v in attrs_a.pop("daskquant").items() if k not in ignore}
    meta_b = {k: v for k, v in attrs_b.pop("daskquant").items() if k not in ignore}
    assert meta_a == meta_b
    assert attrs_a == attrs_b
    assert sorted(arrays_a) == sorted(arrays_b)
    for name, x in arrays_a.items():
        assert x.dtype == arrays_b[name].dtype, name
        np.testing.assert_array_equal(x, arrays_b[name], err_msg=name)
        # Same metadata means the same chunk grid, so the chunk files must match literally.
        json_a, chunks_a = array_files(a, name)
        json_b, chunks_b = array_files(b, name)
        assert json_a == json_b, name
        assert sorted(chunks_a) == sorted(chunks_b), name
        assert [p for p in chunks_a if chunks_a[p] != chunks_b[p]] == [], name


def chunk_files(store: Path) -> dict[Path, tuple[int, int]]:
    """The chunk files of the large arrays (labels, image), with inode and mtime."""
    found = {}
    for name in ("labels", "image"):
        folder = store / name / "c"
        if folder.is_dir():
            for f in folder.rglob("*"):
                if f.is_file() and not f.name.endswith(".partial"):
                    st = f.stat()
                    found[f] = (st.st_ino, st.st_mtime_ns)
    return found


# ``python -m daskquant``, answering Ctrl-C even where this test runs with SIGINT ignored
# (a background job of a non-interactive shell), which the child would inherit.
_WITH_CTRL_C = (
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('daskquant', run_name='__main__', alter_sys=True)"
)


def start_cli(argv: list[str]) -> subprocess.Popen[bytes]:
    """``python -m daskquant ARGV`` in its own process group, as a shell would start it."""
    return subprocess.Popen(
        [sys.executable, "-c", _WITH_CTRL_C, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def wait_for_chunks(store: Path, proc: subprocess.Popen[bytes], n: int, timeout: float = 120):
    """Block until ``store`` has at least ``n`` chunk files (the write has begun); a
    temporary ``*.partial`` file, a chunk still being written, does not count."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(chunk_files(store)) >= n:
            return
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise AssertionError(f"the job ended before writing:\n{err.decode()[-3000:]}")
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError("the job did not start writing in time")


def wait_for_group_exit(pid: int, timeout: float = 20) -> None:
    """Block until no process of the group ``pid`` is left (workers included)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.killpg(pid, signal.SIGKILL)
    raise AssertionError(f"processes of group {pid} outlived the job")


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 256 x 256 mosaic of real photos as PNG: 256 chunks of 16 x 16 per array."""
    path = tmp_path_factory.mktemp("scan") / "scan.png"
    rgb = photo_mosaic(256, 256, seed=4)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


# Small chunks make many tasks, so a write lasts long enough to be interrupted.
JOB = ["-k", "6", "--seed", "5", "--max-iter", "4", "--attempts", "1", "--chunks", "16"]
JOB_KW: dict[str, Any] = {
    "n_colors": 6,
    "seed": 5,
    "max_iter": 4,
    "attempts": 1,
    "chunks": 16,
    "write_image": True,
}


@pytest.fixture(scope="module")
def reference(scan: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The store of an uninterrupted run of ``JOB`` (threads, no faults)."""
    out = tmp_path_factory.mktemp("reference") / "ref.zarr"
    with dask.config.set(scheduler="threads"):
        dq.quantize(scan, out, **JOB_KW)
    return out


# -- resume, in-process ---------------------------------------------------------------------


def _interrupted_copy(reference: Path, out: Path, *, every: int) -> int:
    """``reference`` copied to ``out`` as a killed job leaves it: every ``every``-th chunk
    file missing, a half-written temporary chunk, ``complete`` false. Returns the missing."""
    shutil.copytree(reference, out)
    files = sorted(chunk_files(out))
    for f in files[::every]:
        f.unlink()
    (files[1].parent / f"{files[1].name}.0123abcd.partial").write_bytes(b"half a chunk")
    zarr.open_group(str(out), mode="r+").attrs["complete"] = False
    return len(files[::every])


def test_resume_writes_only_missing_chunks_and_does_not_fit(
    scan, reference, tmp_path, counting_scheduler
):
    out = tmp_path / "out.zarr"
    missing = _interrupted_copy(reference, out, every=3)
    before = chunk_files(out)
    iterations: list[Any] = []
    digest = tree_digest(scan)
    with counting_scheduler() as counter:
        s = dq.quantize(
            scan, out, resume=True, on_iteration=lambda *a: iterations.append(a), **JOB_KW
        )
    assert iterations == []  # the saved palette was used: no fit
    assert counter.calls <= 3  # the missing chunks, then the quality pass
    assert s.extra["resumed"] is True and s.extra["chunks_written"] == missing
    after = chunk_files(out)
    assert {f: after[f] for f in before} == before  # finished chunks were not rewritten
    assert len(after) == len(before) + missing
    assert not list(out.rglob("*.partial"))  # what a killed writer left is cleared
    assert_same_store(reference, out)
    assert tree_digest(scan) == digest
    ref = zarr.open_group(str(reference), mode="r").attrs["daskquant"]["fit"]
    assert (s.n_iter, s.compactness, s.method) == (
        ref["n_iter"],
        ref["compactness"],
        ref["method"],
    )


def test_resume_of_a_complete_store_writes_nothing(scan, reference, tmp_path):
    out = tmp_path / "out.zarr"
    shutil.copytree(reference, out)
    before = chunk_files(out)
    s = dq.quantize(scan, out, resume=True, **JOB_KW)
    assert s.extra["chunks_written"] == 0 and chunk_files(out) == before
    assert_same_store(reference, out)


def test_resume_without_a_store_runs_the_whole_job(scan, reference, tmp_path):
    s = dq.quantize(scan, tmp_path / "new.zarr", resume=True, **JOB_KW)
    assert "resumed" not in s.extra
    assert_same_store(reference, tmp_path / "new.zarr")


def test_resume_of_a_store_stopped_before_its_palette_starts_again(scan, reference, tmp_path):
    out = tmp_path / "out.zarr"
    _interrupted_copy(reference, out, every=2)
    for name in ("palette", "centers", "counts", "labels", "image"):
        shutil.rmtree(out / name)
    dq.quantize(scan, out, resume=True, **JOB_KW)
    assert_same_store(reference, out)


def test_resume_of_a_store_killed_while_saving_its_palette_fits_again(scan, reference, tmp_path):
    # Killed after the arrays' zarr.json but before their data: they read as zeros. The
    # store's palette_saved mark is missing, so the job fits again rather than use them.
    out = tmp_path / "out.zarr"
    _interrupted_copy(reference, out, every=2)
    for name in ("palette", "centers", "counts"):
        shutil.rmtree(out / name / "c")
    group = zarr.open_group(str(out), mode="r+")
    del group.attrs["palette_saved"]
    assert not np.asarray(group["centers"]).any()  # what the arrays now hold
    iterations: list[Any] = []
    dq.quantize(scan, out, resume=True, on_iteration=lambda *a: iterations.append(a), **JOB_KW)
    assert iterations  # fitted again
    assert_same_store(reference, out)


def test_resume_refuses_a_rewritten_zarr_input(tmp_path):
    source = tmp_path / "scan.zarr"
    zarr.create_array(str(source), data=photo_mosaic(64, 64, seed=8), chunks=(16, 16, 3))
    out = tmp_path / "out.zarr"
    dq.quantize(source, out, n_colors=4, seed=1, chunks=16)
    zarr.open_group(str(out), mode="r+").attrs["complete"] = False
    arr = zarr.open_array(str(source), mode="r+")
    arr[:16, :16] = 255 - arr[:16, :16]  # one chunk rewritten, same path
    with pytest.raises(dq.StoreError, match="cannot be resumed: input"):
        dq.quantize(source, out, n_colors=4, seed=1, chunks=16, resume=True)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"n_colors": 7}, "n_colors \\(store: 6, now: 7\\)"),
        ({"seed": 6}, "seed \\(store: 5, now: 6\\)"),
        ({"chunks": 32}, "chunks"),
        ({"write_image": False}, "write_image"),
    ],
)
def test_resume_refuses_other_options(scan, reference, tmp_path, change, message):
    out = tmp_path / "out.zarr"
    _interrupted_copy(reference, out, every=2)
    before = tree_digest(out)
    with pytest.raises(dq.StoreError, match=f"cannot be resumed: {message}"):
        dq.quantize(scan, out, resume=True, **{**JOB_KW, **change})
    assert tree_digest(out) == before


def test_resume_refuses_another_input(scan, reference, tmp_path):
    out = tmp_path / "out.zarr"
    _interrupted_copy(reference, out, every=2)
    other = tmp_path / "scan.png"
    shutil.copy(scan, other)
    with pytest.raises(dq.StoreError, match="cannot be resumed: input"):
        dq.quantize(other, out, resume=True, **JOB_KW)
    rgb = cv2.cvtColor(cv2.imread(str(scan)), cv2.COLOR_BGR2RGB)
    with pytest.raises(dq.StoreError, match="cannot be resumed: input"):
        dq.quantize(rgb[:-1], out, resume=True, **JOB_KW)


def test_resume_and_overwrite_exclude_each_other(scan, tmp_path):
    with pytest.raises(dq.InvalidParameterError, match="resume and overwrite"):
        dq.quantize(scan, tmp_path / "o.zarr", resume=True, overwrite=True)
    assert main(["quantize", str(scan), str(tmp_path / "o.zarr"), "--resume", "--overwrite"]) == 2


def test_resume_refuses_what_is_not_a_daskquant_store(scan, tmp_path):
    folder = tmp_path / "thesis"
    folder.mkdir()
    (folder / "chapter1.tex").write_text("keep me")
    with pytest.raises(dq.StoreError, match="not a Zarr group|not a daskquant store"):
        dq.quantize(scan, folder, resume=True)
    assert (folder / "chapter1.tex").read_text() == "keep me"


def test_resumed_array_input_is_identical(tmp_path):
    rgb = photo_mosaic(96, 128, seed=1)
    kw: dict[str, Any] = {"n_colors": 5, "seed": 0, "chunks": (32, 48), "write_image": True}
    dq.quantize(rgb, tmp_path / "a.zarr", **kw)
    _interrupted_copy(tmp_path / "a.zarr", tmp_path / "b.zarr", every=2)
    s = dq.quantize(rgb.copy(), tmp_path / "b.zarr", resume=True, **kw)
    assert s.extra["chunks_written"] > 0
    assert_same_store(tmp_path / "a.zarr", tmp_path / "b.zarr")


# -- the whole job killed, then resumed -----------------------------------------------------


@pytest.mark.slow  # kills a whole command-line job, then resumes it (~30 s)
def test_killed_job_is_incomplete_then_resume_finishes_it(
    scan, reference, tmp_path, local_cluster, capsys
):
    digest = tree_digest(scan)
    out = tmp_path / "killed.zarr"
    argv = ["quantize", str(scan), str(out), *JOB, "--write-rgb"]  # progress shown
    proc = start_cli([*argv, "--workers", "1", "--threads-per-worker", "1"])
    wait_for_chunks(out, proc, 3)
    os.killpg(proc.pid, signal.SIGSTOP)  # freeze the client and its workers, then count
    time.sleep(0.3)  # (a process running on another core stops a moment later)
    done = chunk_files(out)
    os.killpg(proc.pid, signal.SIGKILL)
    _, killed_err = proc.communicate()
    wait_for_group_exit(proc.pid)
    total = len(chunk_files(reference))
    assert 3 <= len(done) < total, "the write was not interrupted"
    assert chunk_files(out) == done  # nothing wrote after the kill
    assert " iteration " in killed_err.decode()  # the killed job fitted, and said so
    claim = tmp_path / "killed.zarr.claim"  # the killed job's claim stays, stale
    assert json.loads(claim.read_text())["pid"] == proc.pid
    # The fitted palette was saved, whole, before the first chunk was written.
    group, ref = zarr.open_group(str(out), mode="r"), zarr.open_group(str(reference), mode="r")
    assert group.attrs["palette_saved"] is True
    for name in ("palette", "centers", "counts"):
        np.testing.assert_array_equal(group[name], ref[name], err_msg=name)

    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "complete  NO (incomplete: its job was interrupted or failed;" in text
    assert "finish it with quantize --resume" in text
    assert main(["export", str(out), str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err
    assert "the store is incomplete" in err and "--resume" in err
    assert not (tmp_path / "x.png").exists()

    on = ["--scheduler", local_cluster.scheduler.address, "--json"]
    assert main([*argv, "--resume", *on]) == 0
    resumed = capsys.readouterr()
    summary = json.loads(resumed.out)
    assert summary["extra"]["chunks_written"] == total - len(done)
    assert summary["extra"]["resumed"] is True
    # Progress was shown (the cluster line), but no iteration: the resume did not fit.
    assert resumed.err.startswith(f"scheduler {local_cluster.scheduler.address}: 2 workers")
    assert " iteration " not in resumed.err
    assert "taking over the claim of a job that ended" in resumed.err and not claim.exists()
    after = chunk_files(out)
    assert {f: after[f] for f in done} == done  # finished chunks untouched
    assert_same_store(reference, out)
    assert tree_digest(scan) == digest


# -- Ctrl-C -------------------------------------------------------------------------------


def every_chunk_file(store: Path) -> list[Path]:
    """The chunk files of every array of a store (the small ones too), as ``info`` counts."""
    return [
        f
        for f in store.rglob("*")
        if f.is_file() and "c" in f.relative_to(store).parts[:-1] and ".partial" not in f.name
    ]


@pytest.mark.slow  # a command-line job interrupted while writing (~30 s)
def test_ctrl_c_stops_cleanly_and_says_what_state_the_store_is_in(
    scan, tmp_path, local_cluster, capsys
):
    digest = tree_digest(scan)
    out = tmp_path / "stopped.zarr"
    argv = ["quantize", str(scan), str(out), "--palette", "web216", "--chunks", "16"]
    argv.append("--no-metrics")  # (not what this test is about; saves a pass per run)
    proc = start_cli([*argv, "--workers", "1", "--threads-per-worker", "1"])
    wait_for_chunks(out, proc, 3)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C: the whole group
    _, err = proc.communicate(timeout=60)
    wait_for_group_exit(proc.pid)
    assert proc.returncode == 130
    lines = err.decode().strip().splitlines()
    assert "Traceback" not in err.decode()
    said = re.fullmatch(
        rf"daskquant: error: interrupted: {re.escape(str(out))} is incomplete \((\d+) of "
        r"(\d+) chunks written\); rerun it with --resume to finish it",
        lines[-1],
    )
    assert said, lines[-1]
    assert zarr.open_group(str(out), mode="r").attrs["complete"] is False
    # What the line says is what is on disk, and what info says.
    capsys.readouterr()
    assert main(["info", str(out), "--json"]) == 0
    chunks = json.loads(capsys.readouterr().out)["chunks"]
    written, total = int(said[1]), int(said[2])
    assert written == len(every_chunk_file(out)) == chunks["written"] < total
    assert total == chunks["total"]

    # --resume finishes it as if it had never stopped.
    expected = tmp_path / "expected.zarr"
    with dask.config.set(scheduler="threads"):
        dq.quantize(scan, expected, palette="web216", chunks=16, metrics=False)
    on = ["--scheduler", local_cluster.scheduler.address, "-q"]
    assert main([*argv, "--resume", *on]) == 0
    assert_same_store(expected, out)
    assert tree_digest(scan) == digest


def test_ctrl_c_during_the_fit(scan, tmp_path):
    # A fit that takes a while (pixel path, many small chunks, no early stop); Ctrl-C comes
    # after its first iteration. The store is created after the fit: nothing is written.
    out = tmp_path / "fitting.zarr"
    slow = ["--method", "pixels", "--chunks", "16", "--max-iter", "50", "--epsilon", "0"]
    one = ["--workers", "1", "--threads-per-worker", "1"]
    proc = start_cli(["quantize", str(scan), str(out), "-k", "6", "--attempts", "1", *slow, *one])
    assert proc.stderr is not None
    lines: list[str] = []
    fitting = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            lines.append(raw.decode())
            if " iteration " in lines[-1]:
                fitting.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if not fitting.wait(120):
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError("the fit did not start:\n" + "".join(lines))
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(60) == 130
    reader.join(10)
    wait_for_group_exit(proc.pid)
    assert "Traceback" not in "".join(lines)
    assert lines[-1].strip() == f"daskquant: error: interrupted: nothing was written to {out}"
    assert not out.exists()


def test_ctrl_c_before_anything_is_written(scan, tmp_path):
    # A "scheduler" that accepts the connection and never answers: the job waits to connect.
    out = tmp_path / "never.zarr"
    with socket.create_server(("127.0.0.1", 0)) as mute:
        address = f"tcp://127.0.0.1:{mute.getsockname()[1]}"
        proc = start_cli(["quantize", str(scan), str(out), "--scheduler", address])
        mute.settimeout(120)
        connection, _ = mute.accept()  # the job is waiting for the scheduler now
        assert proc.poll() is None
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        connection.close()
    assert proc.returncode == 130
    assert err.decode().strip().splitlines() == [
        f"daskquant: error: interrupted: nothing was written to {out}"
    ]


# -- workers killed -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nanny_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``dask scheduler`` and two ``dask worker`` processes under nannies, which restart a
    worker that dies (as on a real cluster)."""
    procs = Processes(tmp_path_factory.mktemp("nanny-cluster"))
    try:
        address = start_tcp_cluster(procs, nanny=True)
        yield address
    finally:
        procs.close()


@contextmanager
def killing_a_worker(
    client: Any, choose: Callable[[list[str]], str | None]
) -> Iterator[list[str]]:
    """While the block runs, a thread asks ``choose(workers)`` every few milliseconds which
    of the workers to kill, and SIGKILLs that worker's process once (its nanny starts
    another). Yields the list of killed addresses, filled in when that happens."""
    pids = client.run(os.getpid)
    workers = sorted(pids)
    killed: list[str] = []
    done = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + 120
        while not done.is_set() and time.monotonic() < deadline:
            worker = choose(workers)
            if worker is not None:
                os.kill(pids[worker], signal.SIGKILL)
                killed.append(worker)
                return
            time.sleep(0.002)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield killed
    finally:
        done.set()
        watcher.join(5)


def _processing(
    client: Any, prefix: str, seen: list[list[str]]
) -> Callable[[list[str]], str | None]:
    """A ``choose`` for :func:`killing_a_worker`: a worker the scheduler shows processing
    tasks named ``prefix``; their keys go to ``seen``."""

    def choose(workers: list[str]) -> str | None:
        for worker, keys in client.processing(workers).items():
            running = [str(k) for k in keys if str(k).startswith(f"{prefix}-")]
            if running:
                seen.append(running)
                return str(worker)
        return None

    return choose


def _on_cluster(address: str, run: Any) -> Any:
    from distributed import Client

    with Client(address, timeout=20) as client:
        client.wait_for_workers(2, timeout=60)  # the last test's lost worker is back
        return run(client)


@pytest.mark.parametrize(
    ("method", "tasks"),
    [
        pytest.param(  # every Lloyd iteration, over the pixels (~10 s)
            "pixels", "_block_partials", marks=pytest.mark.slow
        ),
        ("auto", "_block_histogram"),  # the default path's one pass over the pixels
    ],
)
def test_worker_killed_during_the_fit(nanny_cluster, scan, reference, tmp_path, method, tasks):
    # The input lives on the workers (persisted, not scattered): what a worker held is made
    # again, and the tasks it was running run again elsewhere.
    if method == "auto":
        kw, expected = JOB_KW, reference
    else:  # fewer, larger chunks: a Lloyd update of 256 tiny tasks costs much more here
        kw, expected = {**JOB_KW, "method": method, "chunks": 48}, tmp_path / "ref.zarr"
        with dask.config.set(scheduler="threads"):
            dq.quantize(scan, expected, **kw)
    digest = tree_digest(scan)
    running: list[list[str]] = []
    iterations: list[int] = []

    def run(client: Any) -> Any:
        with killing_a_worker(client, _processing(client, tasks, running)) as killed:
            s = dq.quantize(
                scan,
                tmp_path / "out.zarr",
                on_iteration=lambda i, shift: iterations.append(len(killed)),
                **kw,
            )
        assert killed, f"no {tasks} task was seen running"
        return s

    s = _on_cluster(nanny_cluster, run)
    assert running and s.n_iter > 1
    # ``iterations``: for each Lloyd update reported, whether the worker was dead when it
    # ended (on the histogram, the attempts' updates; the finalists' continuation to a
    # fixed point reports none, though s.n_iter counts it).
    if method == "pixels":  # killed in an update's reduction, which then ended
        assert 1 in iterations
    else:  # killed before the first update (on the distinct colors, in the client)
        assert iterations and iterations == [1] * len(iterations)
        assert len(iterations) <= s.n_iter
    assert_same_store(expected, tmp_path / "out.zarr")
    assert tree_digest(scan) == digest


@pytest.mark.slow  # a nanny cluster, a worker killed and replaced (~13 s)
def test_worker_killed_during_the_write(nanny_cluster, scan, reference, tmp_path):
    # The default path: histogram fit, then labels from a lookup table scattered to the
    # workers (share_once), which must survive the loss of one of them.
    digest = tree_digest(scan)
    out = tmp_path / "out.zarr"
    seen: list[int] = []

    def writing(workers: list[str]) -> str | None:
        n = len(chunk_files(out))
        if n < 3:
            return None
        seen.append(n)
        return workers[0]

    def run(client: Any) -> Any:
        with killing_a_worker(client, writing) as killed:
            s = dq.quantize(scan, out, **JOB_KW)
        assert killed, "no worker was killed"
        return s

    _on_cluster(nanny_cluster, run)
    assert seen and seen[0] < len(chunk_files(reference)), "the write was not interrupted"
    assert_same_store(reference, out)
    assert tree_digest(scan) == digest


def test_a_shared_table_survives_the_loss_of_a_worker(nanny_cluster):
    # share_once scatters lookup tables, which no task can make again: they go to every
    # worker, so losing the one that got it first loses nothing.
    import dask.array as da

    from daskquant._engine._dask import share_once

    def run(client: Any) -> np.ndarray:
        table = np.arange(256, dtype=np.uint8)[::-1].copy()
        shared = share_once(table)
        holders = client.who_has([shared])[shared.key]
        pids = client.run(os.getpid)
        os.kill(pids[holders[0]], signal.SIGKILL)
        values = da.arange(256, chunks=32, dtype=np.uint8)
        looked_up = da.map_blocks(lambda b, t: t[b], values, shared, dtype=np.uint8)
        return np.asarray(looked_up.compute())

    np.testing.assert_array_equal(_on_cluster(nanny_cluster, run), np.arange(256)[::-1])


@pytest.mark.parametrize("layout", ["ome", "collection", "lab"])
def test_resume_in_every_layout(layout, tmp_path):
    # "lab": labels come from the fit's own table on the first run, from the saved centers
    # on resume; both must agree.
    a, b = tmp_path / "in" / "a.png", tmp_path / "in" / "b.png"
    a.parent.mkdir()
    for path, seed in ((a, 1), (b, 2)):
        cv2.imwrite(str(path), cv2.cvtColor(photo_mosaic(96, 112, seed=seed), cv2.COLOR_BGR2RGB))
    source: Any = a.parent if layout == "collection" else a
    kw: dict[str, Any] = {"n_colors": 12, "seed": 0, "chunks": 32, "ome": layout == "ome"}
    if layout == "lab":
        kw["colorspace"] = "lab"
    dq.quantize(source, tmp_path / "ref.zarr", **kw)
    out = tmp_path / "out.zarr"
    shutil.copytree(tmp_path / "ref.zarr", out)
    small = ("palette", "centers", "counts")
    parts = {p: p.relative_to(out).parts for p in out.rglob("*") if p.is_file()}
    chunks = sorted(p for p, q in parts.items() if "c" in q[:-1] and q[0] not in small)
    assert len(chunks) > 8
    for f in chunks[::3]:
        f.unlink()
    zarr.open_group(str(out), mode="r+").attrs["complete"] = False
    s = dq.quantize(source, out, resume=True, **kw)
    assert s.extra["chunks_written"] == len(chunks[::3])
    assert_same_store(tmp_path / "ref.zarr", out)
