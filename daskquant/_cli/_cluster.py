"""Where the work runs: a given Dask scheduler, an embedded LocalCluster, or (a small job
with neither asked for) dask's threaded scheduler in this process."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daskquant._errors import DaskQuantError, InvalidParameterError

if TYPE_CHECKING:
    from distributed import Client
    from distributed.security import Security

__all__ = [
    "ClusterInfo",
    "check_timeout",
    "cluster_info",
    "connect",
    "in_this_process",
    "local_size",
    "runs_here",
    "scheduler_address",
]

log = logging.getLogger("daskquant")

ENV_ADDRESS = "DASK_SCHEDULER_ADDRESS"


@dataclass(frozen=True)
class ClusterInfo:
    """What a client is connected to, for the user: kind, address, workers, threads, memory."""

    kind: str  # "local", "scheduler" or "threads" (this process, no workers)
    address: str
    workers: int
    threads: int
    memory: int  # bytes, summed over the workers (0 for "threads": no limit)
    dashboard: str | None

    def __str__(self) -> str:
        from dask.utils import format_bytes

        if self.kind == "threads":
            threads = f"{self.threads} thread{'s' if self.threads != 1 else ''}"
            return f"this process: threaded scheduler, {threads} (a small job: no cluster)"
        where = "local cluster" if self.kind == "local" else f"scheduler {self.address}"
        per = f", {format_bytes(self.memory // self.workers)} per worker" if self.workers else ""
        workers = f"{self.workers} worker{'s' if self.workers != 1 else ''}"
        threads = f"{self.threads} thread{'s' if self.threads != 1 else ''}"
        return f"{where}: {workers}, {threads}{per}"


def local_size(
    workers: int | None, threads_per_worker: int | None, *, cores: int | None = None
) -> tuple[int, int]:
    """Worker processes and threads per worker for a LocalCluster on ``cores`` cores.

    Neither given: Dask's default split (one single-threaded process per core up to 4 cores,
    about sqrt(cores) processes beyond). One given: the other fills the machine.
    """
    from distributed.deploy.utils import nprocesses_nthreads

    cores = cores or os.cpu_count() or 1
    for name, value in (("workers", workers), ("threads_per_worker", threads_per_worker)):
        if value is not None and (isinstance(value, bool) or value < 1):
            raise InvalidParameterError(f"{name} must be a positive integer, got {value!r}")
    if workers is None and threads_per_worker is None:
        return nprocesses_nthreads(cores)
    if workers is None:
        assert threads_per_worker is not None
        return max(1, cores // threads_per_worker), threads_per_worker
    return workers, threads_per_worker or max(1, cores // workers)


def scheduler_address(scheduler: str | None, *, tls: bool = False) -> str | None:
    """The scheduler to use: ``scheduler``, else ``$DASK_SCHEDULER_ADDRESS``, else None.

    An address without a protocol gets ``tls://`` when ``tls`` and ``tcp://`` otherwise.
    """
    address = scheduler or os.environ.get(ENV_ADDRESS) or None
    if address is None:
        return None
    address = address.strip()
    if "://" not in address:
        address = ("tls://" if tls else "tcp://") + address
    return address


def _security(
    address: str, ca_file: str | None, cert: str | None, key: str | None
) -> Security | None:
    given = {"--tls-ca-file": ca_file, "--tls-cert": cert, "--tls-key": key}
    if not any(given.values()):
        if address.startswith("tls://") and not _tls_configured():
            raise InvalidParameterError(
                f"the scheduler {address} uses TLS: give --tls-ca-file, --tls-cert and "
                "--tls-key (or distributed.comm.tls.* in the Dask configuration)"
            )
        return None  # distributed's own configuration (distributed.comm.tls.*) applies
    missing = [name for name, value in given.items() if not value]
    if missing:
        raise InvalidParameterError(
            "TLS needs all of --tls-ca-file, --tls-cert and --tls-key; "
            f"missing {', '.join(missing)}"
        )
    if not address.startswith("tls://"):
        raise InvalidParameterError(
            f"the TLS options need a tls:// scheduler address, got {address}"
        )
    for name, value in given.items():
        if not Path(str(value)).is_file():
            raise InvalidParameterError(f"{name}: no such file: {value}")
    from distributed.security import Security

    return Security(
        tls_ca_file=ca_file,
        tls_client_cert=cert,
        tls_client_key=key,
        require_encryption=True,
    )


@contextmanager
def connect(
    scheduler: str | None = None,
    *,
    workers: int | None = None,
    threads_per_worker: int | None = None,
    memory_limit: str | None = None,
    tls_ca_file: str | None = None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    timeout: float = 10.0,
) -> Iterator[Client]:
    """A ``distributed.Client`` for the duration of the block.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler (``tcp://HOST:PORT``, ``tls://HOST:PORT``); defaults to
        ``$DASK_SCHEDULER_ADDRESS``. Without either, a LocalCluster of worker processes runs
        for the duration of the block.
    workers, threads_per_worker : int, optional
        Size of the local cluster (see :func:`local_size`); refused with a scheduler.
    memory_limit : str, optional
        Memory limit of each local worker (``"4GiB"``); default ``"auto"``, an equal share of
        the machine's memory.
    tls_ca_file, tls_cert, tls_key : str, optional
        Certificate authority, client certificate and key for a ``tls://`` scheduler.
    timeout : float
        Seconds to wait for the scheduler, and for it to have at least one worker.

    Raises
    ------
    InvalidParameterError
        Options that contradict each other, or a TLS file that does not exist.
    DaskQuantError
        The scheduler cannot be reached, refuses the connection, or has no workers, within
        ``timeout`` seconds; or the TLS handshake fails (the message names the certificate
        that is not trusted).
    """
    check_timeout(timeout)
    tls = bool(tls_ca_file or tls_cert or tls_key)
    address = scheduler_address(scheduler, tls=tls)
    if address is None:
        if tls:
            raise InvalidParameterError(
                "the TLS options are for a remote scheduler: give --scheduler tls://HOST:PORT "
                f"(or set {ENV_ADDRESS})"
            )
        chosen = _local_client(workers, threads_per_worker, memory_limit)
    else:
        _refuse_local_sizing(scheduler, address, workers, threads_per_worker, memory_limit)
        security = _security(address, tls_ca_file, tls_cert, tls_key)
        chosen = _scheduler_client(address, security, timeout)
    with chosen as client:
        yield client


def check_timeout(timeout: float) -> None:
    """Refuse a timeout that is not a positive number (wherever the job runs)."""
    if not timeout > 0:
        raise InvalidParameterError(f"timeout must be a positive number, got {timeout!r}")


def runs_here(scheduler: str | None, **local: Any) -> bool:
    """Whether nothing asks for a cluster: no scheduler (nor ``$DASK_SCHEDULER_ADDRESS``),
    and none of ``local`` (:func:`connect`'s local-cluster sizes and TLS options) given.
    The command line then runs a small job in this process (:func:`in_this_process`)."""
    return scheduler_address(scheduler) is None and all(v is None for v in local.values())


@contextmanager
def in_this_process() -> Iterator[ClusterInfo]:
    """Dask's threaded scheduler in this process for the block (one thread per core), and
    what it is. The results are those of a cluster: the engine's sums are exact and
    combined in a fixed order whatever runs them."""
    import dask

    threads = os.cpu_count() or 1
    with dask.config.set(scheduler="threads", num_workers=threads):
        log.info("this process: threaded scheduler, %d threads", threads)
        yield ClusterInfo("threads", "", 0, threads, 0, None)


@contextmanager
def _scheduler_client(address: str, security: Security | None, timeout: float) -> Iterator[Client]:
    """A client of the scheduler at ``address`` once it has a worker, closed at the end."""
    client = _remote_client(address, security, timeout)
    try:
        _wait_for_workers(client, address, timeout)
        yield client
    finally:
        client.close()


@contextmanager
def _local_client(
    workers: int | None, threads_per_worker: int | None, memory_limit: str | None
) -> Iterator[Client]:
    """A client of a LocalCluster of worker processes, sized by :func:`local_size`."""
    from distributed import Client, LocalCluster

    n_workers, threads = local_size(workers, threads_per_worker)
    with _sigint_ignored():
        cluster = LocalCluster(
            n_workers=n_workers,
            threads_per_worker=threads,
            processes=True,
            memory_limit=_memory_limit(memory_limit),
            dashboard_address=":0",
            # The workers' own logs (a heartbeat lost as the cluster closes on Ctrl-C)
            # would come after the one line that says what happened; --debug shows them.
            silence_logs=logging.WARNING if log.isEnabledFor(logging.DEBUG) else logging.CRITICAL,
        )
    with cluster, Client(cluster) as client:
        # Workers the nannies start again later (after a crash) ignore Ctrl-C too.
        client.register_plugin(_sigint_plugin())
        log.info("local cluster: %d workers x %d threads", n_workers, threads)
        yield client


def _refuse_local_sizing(
    scheduler: str | None,
    address: str,
    workers: int | None,
    threads_per_worker: int | None,
    memory_limit: str | None,
) -> None:
    """Refuse the options that size a local cluster when the work goes to a scheduler."""
    sizing = {
        "--workers": workers,
        "--threads-per-worker": threads_per_worker,
        "--memory-limit": memory_limit,
    }
    local_only = [name for name, value in sizing.items() if value is not None]
    if local_only:
        source = "--scheduler" if scheduler else f"${ENV_ADDRESS}"
        raise InvalidParameterError(
            f"{', '.join(local_only)} size the local cluster and cannot be used with a "
            f"scheduler ({source} {address}); size the workers where they are started"
        )


def _remote_client(address: str, security: Security | None, timeout: float) -> Client:
    """A client of the scheduler at ``address``; a failure says what to check."""
    from distributed import Client

    try:
        return Client(address, timeout=timeout, security=security, set_as_default=True)
    except (OSError, TimeoutError) as exc:
        refused = _tls_failure(exc)
        if refused is not None:
            # Not an address or a scheduler that is down: the hint for those would mislead.
            raise DaskQuantError(
                f"cannot connect to the Dask scheduler at {address}: {refused}"
            ) from exc
        hint = (
            " (a TLS scheduler needs a tls:// address and --tls-ca-file/--tls-cert/--tls-key)"
            if address.startswith("tcp://")
            else ""
        )
        raise DaskQuantError(
            f"cannot reach the Dask scheduler at {address} within {timeout:g} s: "
            f"{_reason(exc)}; check the address and that the scheduler is running{hint}"
        ) from exc
    except Exception as exc:  # e.g. an SSL error raised by a malformed certificate
        raise DaskQuantError(f"cannot connect to the Dask scheduler at {address}: {exc}") from exc


def _wait_for_workers(client: Client, address: str, timeout: float) -> None:
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise DaskQuantError(
            f"the Dask scheduler at {address} has no workers after {timeout:g} s; "
            "start workers with `dask worker ADDRESS`"
        ) from exc


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Start worker processes that ignore Ctrl-C: a terminal sends SIGINT to the whole
    process group, and only this process should answer it (by closing the cluster), not
    every worker with its own traceback. An ignored signal stays ignored in a child."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _sigint_plugin() -> Any:
    """A worker plugin, applied to every worker, including those started after a crash,
    that makes it ignore Ctrl-C. Self-contained (built here, pickled by value, no daskquant
    import on the worker), so it never fails where the job itself would not."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class IgnoreSigint(WorkerPlugin):
        name = "daskquant-ignore-sigint"

        def setup(self, worker: Any) -> None:
            import signal
            import threading

            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, signal.SIG_IGN)

    return IgnoreSigint()


def _tls_configured() -> bool:
    import dask.config

    keys = ("ca-file", "client.cert", "client.key")
    return all(dask.config.get(f"distributed.comm.tls.{key}", None) for key in keys)


def _memory_limit(value: str | None) -> str | int | None:
    if value is None or value == "auto":
        return "auto"
    from dask.utils import parse_bytes

    try:
        n = parse_bytes(value)
    except (ValueError, TypeError) as exc:
        raise InvalidParameterError(
            f"memory_limit must be a size such as '4GiB' or 'auto', got {value!r}"
        ) from exc
    return n or None  # 0: no limit


def _tls_failure(exc: BaseException) -> str | None:
    """What went wrong in a TLS handshake behind ``exc`` (distributed wraps the SSL error),
    as the cause and what to check; None if no TLS handshake failed."""
    import ssl

    seen: BaseException | None = exc
    for _ in range(8):  # the chain is short; a bound keeps a cyclic one from looping
        if seen is None or isinstance(seen, ssl.SSLError):
            break
        seen = seen.__cause__ or seen.__context__
    if not isinstance(seen, ssl.SSLError):
        return None
    if isinstance(seen, ssl.SSLCertVerificationError):
        return (
            f"the scheduler's TLS certificate is not trusted ({seen.verify_message}); "
            "--tls-ca-file must be the certificate authority that signed it"
        )
    return (
        f"the TLS handshake failed ({_reason(seen)}); the scheduler may not trust the "
        "client certificate: --tls-cert must be signed by the certificate authority it trusts"
    )


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def cluster_info(client: Client) -> ClusterInfo:
    """Workers, threads and memory of the cluster behind ``client``."""
    info = client.scheduler_info(n_workers=-1)
    workers = info.get("workers", {})
    local = client.cluster is not None
    return ClusterInfo(
        kind="local" if local else "scheduler",
        address=str(info.get("address", "")),
        workers=len(workers),
        threads=sum(int(w.get("nthreads", 0)) for w in workers.values()),
        memory=sum(int(w.get("memory_limit") or 0) for w in workers.values()),
        dashboard=client.dashboard_link if info.get("services", {}).get("dashboard") else None,
    )
