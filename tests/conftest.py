"""Shared fixtures: real photographs, a real worker cluster, a compute-counting scheduler."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import dask
import dask.threaded
import numpy as np
import pytest
import skimage.data
from numpy.typing import NDArray

# Real photographs bundled with scikit-image, and crops of them small enough for fast tests
# (128 x 128 keeps every float32 cluster sum below 2**24, so cv2's float32 sums are exact).
PHOTOS: dict[str, Callable[[], NDArray[np.uint8]]] = {
    "astronaut": lambda: skimage.data.astronaut()[100:228, 200:328],
    "coffee": lambda: skimage.data.coffee()[100:228, 200:328],
    "chelsea": lambda: skimage.data.chelsea()[50:178, 150:278],
}


@pytest.fixture(params=sorted(PHOTOS))
def photo(request: pytest.FixtureRequest) -> NDArray[np.uint8]:
    """A 128 x 128 RGB uint8 crop of a real photograph (one test per photo)."""
    return PHOTOS[request.param]().copy()


@pytest.fixture
def astronaut() -> NDArray[np.uint8]:
    """A 200 x 200 RGB uint8 crop of ``skimage.data.astronaut()`` (face and suit)."""
    return skimage.data.astronaut()[60:260, 150:350].copy()


@pytest.fixture
def uint16_photo(astronaut: NDArray[np.uint8]) -> NDArray[np.uint16]:
    # Full 16-bit range with low bits that are not a copy of the high ones.
    ramp = (np.arange(astronaut.shape[0]) % 251).astype(np.uint16)[:, None, None]
    return astronaut.astype(np.uint16) * 257 - ramp


@pytest.fixture
def float32_photo(astronaut: NDArray[np.uint8]) -> NDArray[np.float32]:
    # photo / 255 in float32: values >= 2**-9 with 24-bit mantissas, so the float64 sums of a
    # few hundred thousand of them are exact and the centers cannot depend on the sum order.
    return (astronaut / np.float32(255)).astype(np.float32)


@pytest.fixture(scope="session")
def local_cluster() -> Iterator[Any]:
    """A ``distributed.Client`` on a LocalCluster of 2 single-threaded worker processes.

    The client is not made the default scheduler, so other tests keep the threaded one; use
    ``dask.config.set(scheduler=client.get)`` to run on it.
    """
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    client = Client(cluster, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


class TooManyComputes(AssertionError):
    """Raised by the counting scheduler when a graph is computed past its limit."""


class ComputeCounter:
    """A dask scheduler function: ``dask.threaded.get`` that counts calls and has a limit."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.calls = 0

    def __call__(self, dsk: Mapping, keys: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.limit is not None and self.calls > self.limit:
            raise TooManyComputes(f"compute #{self.calls}, limit is {self.limit}")
        return dask.threaded.get(dsk, keys, **kwargs)


class CountingScheduler:
    """``with counting_scheduler(limit=n) as counter:`` counts computes, raises past ``n``.

    ``counter.calls`` is the number of graphs computed inside the block; a compute past the
    limit raises ``counting_scheduler.TooManyComputes``.
    """

    TooManyComputes = TooManyComputes

    @contextmanager
    def __call__(self, limit: int | None = None) -> Iterator[ComputeCounter]:
        counter = ComputeCounter(limit)
        with dask.config.set(scheduler=counter):
            yield counter


@pytest.fixture
def counting_scheduler() -> CountingScheduler:
    """The compute-counting scheduler helper (see :class:`CountingScheduler`)."""
    return CountingScheduler()


@pytest.fixture(scope="module")
def tls_scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict]]:
    """A TLS-only ``dask scheduler`` and one worker on 127.0.0.1 (see ``_clusters``);
    yields its address and the PEM files."""
    from _clusters import tls_cluster

    with tls_cluster(tmp_path_factory.mktemp("tls-cluster")) as running:
        yield running
