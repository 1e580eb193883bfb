"""Real clusters: `dask scheduler` and `dask worker` subprocesses, plain TCP and TLS.

The command line must give the same store on them as on its own local cluster, refuse
plain-TCP connections to a TLS scheduler, and clean up after itself on the scheduler.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import zarr

from daskquant._cli._cluster import connect, local_size, scheduler_address
from daskquant._cli._main import main
from daskquant._cli._samples import photo

# Should pytest itself be killed, the scheduler stops after 5 idle minutes and its workers
# 30 s after losing it: nothing outlives a test run for long.
DASK = [sys.executable, "-m", "distributed.cli.dask_scheduler", "--idle-timeout", "300"]
WORKER = [sys.executable, "-m", "distributed.cli.dask_worker", "--death-timeout", "30"]


# -- processes ----------------------------------------------------------------------------


class Processes:
    """Subprocesses started in their own session, all stopped (then killed) on close."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.folder / f"{name}.log", "wb")  # closed below, once Popen has it
        env = {**os.environ, "DASK_DISTRIBUTED__ADMIN__TICK__LIMIT": "10s"}
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )
        log.close()
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        """Stop the processes in reverse order of start (workers before their scheduler).

        Each gets SIGTERM, then SIGKILL if it is still running 5 s later.
        """
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self.folder.glob("*.log"))
        )


def _wait_for_file(path: Path, procs: Processes, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            try:
                return json.loads(path.read_text())
            except json.JSONDecodeError:
                pass  # being written
        if any(p.poll() is not None for p in procs.procs):
            break
        time.sleep(0.1)
    raise RuntimeError(f"the scheduler did not start:\n{procs.logs()}")


def _wait_for_workers(address: str, n: int, security: Any, procs: Processes) -> None:
    from distributed import Client

    with Client(address, security=security, timeout=20, set_as_default=False) as client:
        try:
            client.wait_for_workers(n, timeout=30)
        except TimeoutError:
            raise RuntimeError(f"workers did not join:\n{procs.logs()}") from None


def start_tcp_cluster(procs: Processes, *, nanny: bool = False) -> str:
    """Start ``dask scheduler`` and two single-threaded ``dask worker`` processes on
    127.0.0.1 (under nannies, which restart a worker that dies, if ``nanny``); the address."""
    file = procs.folder / "scheduler.json"
    common = ["--host", "127.0.0.1", "--dashboard-address", "127.0.0.1:0"]
    procs.start("scheduler", [*DASK, *common, "--port", "0", "--scheduler-file", str(file)])
    address = str(_wait_for_file(file, procs)["address"])
    for i in range(2):
        worker = ["--nthreads", "1", "--no-dashboard", "--name", f"w{i}"]
        if not nanny:
            worker.append("--no-nanny")
        procs.start(f"worker{i}", [*WORKER, address, "--host", "127.0.0.1", *worker])
    _wait_for_workers(address, 2, None, procs)
    return address


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``dask scheduler`` and two single-threaded ``dask worker`` processes on 127.0.0.1."""
    procs = Processes(tmp_path_factory.mktemp("tcp-cluster"))
    try:
        yield start_tcp_cluster(procs)
    finally:
        procs.close()


# -- TLS certificates ---------------------------------------------------------------------


def _certificates(folder: Path) -> dict[str, str]:
    """A throw-away CA and one certificate for 127.0.0.1 signed by it, as PEM files."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    valid = {"not_valid_before": now - datetime.timedelta(minutes=5)}
    valid["not_valid_after"] = now + datetime.timedelta(hours=1)

    def name(cn: str) -> Any:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder(subject_name=name("daskquant test CA"), **valid)
        .issuer_name(name("daskquant test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder(subject_name=name("dask"), **valid)
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = {"ca": folder / "ca.pem", "cert": folder / "cert.pem", "key": folder / "key.pem"}
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files["key"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return {k: str(v) for k, v in files.items()}


@pytest.fixture(scope="module")
def tls_scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict]]:
    """A TLS-only scheduler and one worker; yields its address and the PEM files."""
    folder = tmp_path_factory.mktemp("tls-cluster")
    pem = _certificates(folder)
    tls = ["--tls-ca-file", pem["ca"], "--tls-cert", pem["cert"], "--tls-key", pem["key"]]
    file = folder / "scheduler.json"
    procs = Processes(folder)
    try:
        common = ["--host", "127.0.0.1", "--dashboard-address", "127.0.0.1:0"]
        argv = [*DASK, *common, "--protocol", "tls", "--port", "0", *tls]
        procs.start("scheduler", [*argv, "--scheduler-file", str(file)])
        address = _wait_for_file(file, procs)["address"]
        assert address.startswith("tls://")
        worker = ["--nthreads", "1", "--no-nanny", "--no-dashboard", *tls]
        procs.start("worker", [*WORKER, address, "--host", "127.0.0.1", *worker])
        from distributed.security import Security

        security = Security(
            tls_ca_file=pem["ca"],
            tls_client_cert=pem["cert"],
            tls_client_key=pem["key"],
            require_encryption=True,
        )
        _wait_for_workers(address, 1, security, procs)
        yield address, pem
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
