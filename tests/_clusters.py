"""Real Dask clusters for the tests: `dask scheduler` and `dask worker` subprocesses on
127.0.0.1, plain TCP and TLS (with throw-away certificates)."""

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
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

__all__ = ["DASK", "WORKER", "Processes", "certificates", "start_tcp_cluster", "tls_cluster"]

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


# -- TLS certificates ---------------------------------------------------------------------


def certificates(folder: Path) -> dict[str, str]:
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


@contextmanager
def tls_cluster(folder: Path) -> Iterator[tuple[str, dict]]:
    """A TLS-only scheduler and one worker in ``folder``; yields its address and the PEM files."""
    pem = certificates(folder)
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
