"""Real clusters: `dask scheduler` and `dask worker` subprocesses, plain TCP and TLS.

The command line must give the same store on them as on its own local cluster, refuse
plain-TCP connections to a TLS scheduler, and clean up after itself on the scheduler.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import zarr
from _clusters import Processes, start_tcp_cluster

from daskquant._cli._cluster import connect, local_size, scheduler_address
from daskquant._cli._main import main
from daskquant._cli._samples import photo


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``dask scheduler`` and two single-threaded ``dask worker`` processes on 127.0.0.1."""
    procs = Processes(tmp_path_factory.mktemp("tcp-cluster"))
    try:
        yield start_tcp_cluster(procs)
    finally:
        procs.close()


# -- the image and the local reference run ------------------------------------------------


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real photo, 250 x 370, stored as PNG (several chunks at --chunks 96)."""
    path = tmp_path_factory.mktemp("image") / "moto.png"
    rgb = photo("motorcycle_left.png")[::2, ::2]
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


OPTIONS = ["-k", "7", "--seed", "3", "--chunks", "96", "--write-rgb", "--json", "-q"]


def _run(image: Path, out: Path, *where: str) -> Path:
    code = main(["quantize", str(image), str(out), *OPTIONS, *where])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def local_store(image: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run on the command line's own LocalCluster (no --scheduler)."""
    out = tmp_path_factory.mktemp("local") / "local.zarr"
    env = os.environ.pop("DASK_SCHEDULER_ADDRESS", None)
    try:
        return _run(image, out, "--workers", "1", "--threads-per-worker", "1")
    finally:
        if env is not None:
            os.environ["DASK_SCHEDULER_ADDRESS"] = env


def _assert_same_store(a: Path, b: Path) -> None:
    ga, gb = zarr.open_group(str(a), mode="r"), zarr.open_group(str(b), mode="r")
    assert ga.attrs["complete"] is True and gb.attrs["complete"] is True
    assert ga.attrs["daskquant"] == gb.attrs["daskquant"]
    names = sorted(ga.array_keys())
    assert names == sorted(gb.array_keys()) and {"labels", "image", "palette"} <= set(names)
    for name in names:
        xa, xb = np.asarray(ga[name]), np.asarray(gb[name])
        assert xa.dtype == xb.dtype, name
        np.testing.assert_array_equal(xa, xb, err_msg=name)


# -- tests --------------------------------------------------------------------------------


def test_separate_scheduler_gives_the_local_store(scheduler, image, local_store, tmp_path, capsys):
    capsys.readouterr()
    out = _run(image, tmp_path / "remote.zarr", "--scheduler", scheduler)
    summary = json.loads(capsys.readouterr().out)
    assert summary["cluster"] == {
        "kind": "scheduler",
        "address": scheduler,
        "workers": 2,
        "threads": 2,
        "memory": summary["cluster"]["memory"],
    }
    _assert_same_store(local_store, out)


def test_progress_plugin_is_removed_from_a_shared_scheduler(scheduler, image, tmp_path):
    from distributed import Client

    _run(image, tmp_path / "o.zarr", "--scheduler", scheduler)
    with Client(scheduler, set_as_default=False) as client:
        plugins = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.plugins))
    assert not [name for name in plugins if name.startswith("daskquant-progress")]


def test_tls_scheduler_with_the_tls_options(tls_scheduler, image, local_store, tmp_path, capsys):
    address, pem = tls_scheduler
    tls = ["--tls-ca-file", pem["ca"], "--tls-cert", pem["cert"], "--tls-key", pem["key"]]
    capsys.readouterr()
    out = _run(image, tmp_path / "tls.zarr", "--scheduler", address, *tls)
    assert json.loads(capsys.readouterr().out)["cluster"]["address"] == address
    _assert_same_store(local_store, out)


def test_tls_scheduler_refuses_plain_tcp(tls_scheduler, image, tmp_path, capsys):
    from distributed import Client

    address, _ = tls_scheduler
    plain = "tcp://" + address.split("://")[1]
    with pytest.raises(OSError):
        Client(plain, timeout=3, set_as_default=False)
    t0 = time.monotonic()
    code = main(["quantize", str(image), str(tmp_path / "o.zarr"), "--scheduler", plain])
    assert code == 1 and time.monotonic() - t0 < 15
    err = capsys.readouterr().err
    assert f"cannot reach the Dask scheduler at {plain}" in err
    assert "a TLS scheduler needs a tls:// address" in err
    assert not (tmp_path / "o.zarr").exists()


def test_tls_address_without_certificates_is_a_usage_error(tls_scheduler, image, tmp_path, capsys):
    address, _ = tls_scheduler
    assert main(["quantize", str(image), str(tmp_path / "o.zarr"), "--scheduler", address]) == 2
    assert "uses TLS: give --tls-ca-file, --tls-cert and --tls-key" in capsys.readouterr().err


def test_missing_certificate_file_is_a_usage_error(tls_scheduler, image, tmp_path, capsys):
    address, pem = tls_scheduler
    tls = ["--tls-ca-file", pem["ca"], "--tls-cert", str(tmp_path / "no.pem")]
    argv = ["quantize", str(image), str(tmp_path / "o.zarr"), "--scheduler", address]
    assert main([*argv, *tls, "--tls-key", pem["key"]]) == 2
    assert "--tls-cert: no such file" in capsys.readouterr().err


def test_scheduler_without_workers_fails_within_the_timeout(tmp_path, image, capsys):
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, dashboard_address=":0", processes=False) as cluster:
        t0 = time.monotonic()
        argv = ["quantize", str(image), str(tmp_path / "o.zarr"), "--timeout", "1"]
        assert main([*argv, "--scheduler", cluster.scheduler_address]) == 1
        assert time.monotonic() - t0 < 10
    assert "has no workers after 1 s" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("workers", "threads", "cores", "expected"),
    [
        (None, None, 2, (2, 1)),
        (None, None, 16, (4, 4)),
        (3, None, 12, (3, 4)),
        (None, 2, 8, (4, 2)),
        (5, 3, 2, (5, 3)),
    ],
)
def test_local_size(workers, threads, cores, expected):
    assert local_size(workers, threads, cores=cores) == expected


def test_scheduler_address(monkeypatch):
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    assert scheduler_address(None) is None
    assert scheduler_address("host:8786") == "tcp://host:8786"
    assert scheduler_address("host:8786", tls=True) == "tls://host:8786"
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tls://h:1")
    assert scheduler_address(None) == "tls://h:1"
    assert scheduler_address("tcp://other:2") == "tcp://other:2"


def _sigint_disposition() -> bool:
    return signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def test_local_workers_ignore_ctrl_c_also_after_a_restart() -> None:
    # A terminal's Ctrl-C reaches the whole process group; only the client answers it,
    # including through workers the nannies start again after a crash. Ctrl-C is answered
    # here as in a terminal, even if the tests run where it is ignored (a background job),
    # so that the workers cannot just inherit an ignored SIGINT.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with connect(workers=1, threads_per_worker=1) as client:
            assert all(client.run(_sigint_disposition).values())
            client.restart()
            assert all(client.run(_sigint_disposition).values())
    finally:
        signal.signal(signal.SIGINT, previous)


def test_local_cluster_dashboard_is_served_out_of_the_box() -> None:
    # bokeh is a dependency: the link the command prints answers (the status page).
    import urllib.request

    from daskquant._cli._cluster import cluster_info

    with connect(workers=1, threads_per_worker=1) as client:
        link = cluster_info(client).dashboard
        assert link is not None and link.startswith("http://")
        with urllib.request.urlopen(link, timeout=30) as reply:
            assert reply.status == 200
            assert b"Dask" in reply.read()
