"""Two jobs, one output (issue 16): a job claims its output while it runs. Two real
processes started at the same moment on one output, on a local disk and on a real S3 server
(moto's, on 127.0.0.1): exactly one writes, the other is refused and touches nothing; stale
claims of jobs that died are taken over."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import s3fs
import skimage.data
import tifffile
import zarr
from _servers import SECRET, s3_server
from zarr.storage import FsspecStore

import daskquant as dq
from daskquant._cli import main
from daskquant._io._storage import location
from daskquant._store._claim import Claim, claim_of, claimed

BUCKET = "dq-claims"
JOB: dict[str, Any] = {"n_colors": 6, "seed": 3, "max_iter": 10, "chunks": 64}

# One job, started when the file argv[1] appears (so that two processes start together);
# exit 3 when it is refused.
_JOB = """
import json, sys, time, pathlib
import daskquant as dq
go, ready = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
ready.touch()
while not go.exists():
    time.sleep(0.002)
try:
    dq.quantize(sys.argv[3], sys.argv[4], overwrite=True, storage_options=json.loads(sys.argv[5]),
                **json.loads(sys.argv[6]))
except dq.StoreError as exc:
    print(exc, file=sys.stderr)
    sys.exit(3)
"""


@pytest.fixture(scope="module")
def s3() -> Any:
    with s3_server() as options:
        s3fs.S3FileSystem(**options).mkdir(BUCKET)
        yield options


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("claims") / "in.tif"
    tifffile.imwrite(path, skimage.data.astronaut()[:256, :256], tile=(64, 64))
    return path


def _arrays(group: zarr.Group) -> dict[str, np.ndarray]:
    members = group.members(max_depth=None)
    return {n: np.asarray(a) for n, a in members if isinstance(a, zarr.Array)}


def _race(tmp_path: Path, scan: Path, out: str, options: dict[str, Any] | None) -> list[Any]:
    """Two jobs on ``out``, let go at the same moment; their (returncode, stderr)."""
    go = tmp_path / "go"
    ready = [tmp_path / f"ready{i}" for i in range(2)]
    args = [str(scan), out, json.dumps(options), json.dumps(JOB)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _JOB, str(go), str(r), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for r in ready
    ]
    deadline = time.monotonic() + 120
    while not all(r.exists() for r in ready) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    return [(p.wait(120), p.stderr.read().decode()) for p in procs if p.stderr]


def _one_wins(results: list[Any], out: str) -> None:
    codes = sorted(code for code, _ in results)
    assert codes == [0, 3], results
    refused = next(err for code, err in results if code == 3)
    assert f"{out} is being written by another job (process " in refused
    assert SECRET not in refused


def test_two_jobs_started_together_on_a_local_output(scan, tmp_path):
    reference = tmp_path / "alone.zarr"
    dq.quantize(scan, reference, **JOB)
    out = tmp_path / "out.zarr"
    _one_wins(_race(tmp_path, scan, str(out), None), str(out))
    group = zarr.open_group(out, mode="r")
    assert group.attrs["complete"] is True
    want = _arrays(zarr.open_group(reference, mode="r"))
    got = _arrays(group)
    assert sorted(got) == sorted(want)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    assert not claim_of(location(out)).exists()


def test_two_jobs_started_together_on_an_s3_output(s3, scan, tmp_path):
    reference = tmp_path / "alone.zarr"
    dq.quantize(scan, reference, **JOB)
    out = f"s3://{BUCKET}/out.zarr"
    _one_wins(_race(tmp_path, scan, out, s3), out)
    group = zarr.open_group(FsspecStore.from_url(out, storage_options=s3), mode="r")
    assert group.attrs["complete"] is True
    want = _arrays(zarr.open_group(reference, mode="r"))
    for name, got in _arrays(group).items():
        np.testing.assert_array_equal(got, want[name], err_msg=name)
    assert not s3fs.S3FileSystem(**s3).exists(f"{BUCKET}/out.zarr.claim")


def test_a_claimed_output_is_refused_before_anything_is_touched(scan, tmp_path, capsys):
    out = tmp_path / "held.zarr"
    dq.quantize(scan, out, **JOB)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    with claimed(location(out)):
        held = Claim.parse(claim_of(location(out)).read_bytes())
        assert held is not None and held.pid == os.getpid()
        with pytest.raises(dq.StoreError, match=f"process {os.getpid()} on "):
            dq.quantize(scan, out, overwrite=True, **JOB)
        # The command line refuses it before it starts a cluster.
        assert main(["quantize", str(scan), str(out), "--overwrite", "-q"]) == 1
        assert "is being written by another job" in capsys.readouterr().err
        # An image output is claimed too.
        with claimed(location(tmp_path / "held.png")):
            with pytest.raises(dq.StoreError, match="being written by another job"):
                dq.quantize(scan, tmp_path / "held.png", **JOB)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert not claim_of(location(out)).exists()
    dq.quantize(scan, out, overwrite=True, **JOB)  # free again
    # A job that fails still gives its claim back.
    with pytest.raises(dq.InputError):
        dq.quantize(tmp_path / "missing.tif", tmp_path / "failed.zarr", **JOB)
    assert not (tmp_path / "failed.zarr.claim").exists()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize(
    ("host", "pid", "age", "taken_over"),
    [
        ("this", "dead", 0.0, True),  # killed on this machine
        ("other", "alive", 3600.0, True),  # another machine, not renewed for an hour
        ("other", "alive", 5.0, False),  # another machine, renewed a moment ago
        ("this", "alive", 3600.0, False),  # this machine, its process still running
    ],
)
def test_stale_claims_are_taken_over(scan, tmp_path, caplog, host, pid, age, taken_over):
    out = tmp_path / "out.zarr"
    now = time.time()
    claim = Claim(
        socket.gethostname() if host == "this" else "elsewhere.example",
        _dead_pid() if pid == "dead" else os.getpid(),
        "earlier",
        now - age - 60,
        now - age,
    )
    (tmp_path / "out.zarr.claim").write_bytes(claim.to_bytes())
    with _warnings(caplog):
        if taken_over:
            dq.quantize(scan, out, **JOB)
            assert "taking over the claim of a job that ended" in caplog.text
            assert not (tmp_path / "out.zarr.claim").exists()
        else:
            with pytest.raises(dq.StoreError, match=f"process {claim.pid} on {claim.host}"):
                dq.quantize(scan, out, **JOB)
            assert not out.exists()


@contextmanager
def _warnings(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """daskquant's warnings in ``caplog`` (the command line's logging does not propagate)."""
    ours = logging.getLogger("daskquant")
    ours.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.WARNING, logger="daskquant"):
            yield
    finally:
        ours.removeHandler(caplog.handler)


def test_a_running_job_renews_its_claim(tmp_path):
    where = location(tmp_path / "out.zarr")
    with claimed(where, renew=0.05):
        first = Claim.parse(claim_of(where).read_bytes())
        time.sleep(0.4)
        later = Claim.parse(claim_of(where).read_bytes())
    assert first is not None and later is not None
    assert later.job == first.job and later.started == first.started
    assert later.renewed > first.renewed
    assert not claim_of(where).exists()
