"""Where the work runs: an embedded LocalCluster by default, or a given Dask scheduler."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from daskquant._errors import DaskQuantError

__all__ = ["connect"]

log = logging.getLogger("daskquant")


@contextmanager
def connect(
    scheduler: str | None = None,
    *,
    workers: int | None = None,
    threads_per_worker: int | None = None,
    timeout: float = 10.0,
) -> Iterator[object]:
    """A ``distributed.Client`` for the duration of the block.

    With ``scheduler`` (or ``DASK_SCHEDULER_ADDRESS``), connect to it and fail with a clear
    error after ``timeout`` seconds; otherwise start a LocalCluster of worker processes sized
    to the machine, each with an equal share of its memory as limit.
    """
    from distributed import Client, LocalCluster

    address = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
    if address:
        try:
            client = Client(address, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            raise DaskQuantError(
                f"cannot reach the Dask scheduler at {address} within {timeout:g} s ({exc}); "
                "check the address and that the scheduler is running"
            ) from exc
        try:
            yield client
        finally:
            client.close()
        return
    n_cpu = os.cpu_count() or 1
    workers = workers or n_cpu
    threads = threads_per_worker or max(1, n_cpu // workers)
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=threads,
            processes=True,
            dashboard_address=":0",
        ) as cluster,
        Client(cluster) as client,
    ):
        log.info("local cluster: %d workers x %d threads", workers, threads)
        yield client
