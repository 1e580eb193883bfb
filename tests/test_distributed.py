"""On real worker processes, fits and whole stores are bit-identical to the threaded
scheduler's, whatever the chunking, the number of workers, threads or processes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import pytest
import skimage.data
import zarr
from distributed import get_task_stream
from numpy.typing import NDArray

import daskquant as dq


@pytest.fixture(scope="module")
def image() -> NDArray[np.uint8]:
    return skimage.data.chelsea()[60:252, 100:292].copy()  # 192 x 192


def _fit_both(local_cluster: Any, image: Any, **kw: Any) -> tuple[dq.FitResult, dq.FitResult]:
    with dask.config.set(scheduler="threads"):
        local = dq.fit_palette(image, 8, **kw)
    with dask.config.set(scheduler=local_cluster.get), get_task_stream(local_cluster) as ts:
        remote = dq.fit_palette(image, 8, **kw)
    assert len(ts.data) > 0, "nothing ran on the cluster"
    return local, remote


def _assert_same(a: dq.FitResult, b: dq.FitResult) -> None:
    np.testing.assert_array_equal(a.centers, b.centers)
    np.testing.assert_array_equal(a.palette, b.palette)
    assert a.compactness == b.compactness
    assert a.n_iter == b.n_iter
    assert a.converged == b.converged
    assert a.n_pixels == b.n_pixels


@pytest.mark.parametrize("init", ["k-means++", "random"])
@pytest.mark.parametrize("method", ["pixels", "histogram"])
def test_fit_same_on_cluster(local_cluster: Any, image: NDArray, method: str, init: str) -> None:
    local, remote = _fit_both(local_cluster, image, seed=1, method=method, init=init, chunks=64)
    assert local.n_iter > 1
    _assert_same(local, remote)


@pytest.mark.parametrize("method", ["summary", "pixels"])
@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_fit_same_on_cluster_wide_dtypes(
    local_cluster: Any, image: NDArray, dtype: type, method: str
) -> None:
    data = image.astype(dtype) * (257 if dtype is np.uint16 else 1 / 255)
    data = da.from_array(data.astype(dtype), chunks=(50, 70, 3))
    eps = 1.0 if dtype is np.uint16 else 1e-3
    local, remote = _fit_both(local_cluster, data, seed=2, epsilon=eps, method=method)
    assert local.method == method
    _assert_same(local, remote)


def test_apply_palette_same_on_cluster(local_cluster: Any, image: NDArray) -> None:
    rng = np.random.default_rng(0)
    palette = rng.integers(0, 256, (300, 3)).astype(np.uint8)  # uint16 labels
    labels = dq.apply_palette(image, palette, chunks=(64, 50))
    with dask.config.set(scheduler="threads"):
        local = labels.compute()
    with dask.config.set(scheduler=local_cluster.get), get_task_stream(local_cluster) as ts:
        remote = labels.compute()
    assert len(ts.data) > 0
    assert remote.dtype == local.dtype == np.uint16
    np.testing.assert_array_equal(local, remote)


# -- the whole store, wherever and however it is computed -----------------------------------
# (A separately started `dask scheduler` against the command line's own local cluster:
# test_cluster.py::test_separate_scheduler_gives_the_local_store.)

STORE_OPTIONS: dict[str, Any] = {"n_colors": 8, "seed": 3, "write_image": True}


@contextmanager
def _client(**cluster: Any) -> Iterator[None]:
    """A LocalCluster and a default client (as the command line makes them) for the block."""
    from distributed import Client, LocalCluster

    with LocalCluster(dashboard_address=":0", **cluster) as lc, Client(lc):
        yield


@contextmanager
def _current(client: Any) -> Iterator[None]:
    """The session's client as the default one for the block (tables are scattered)."""
    with dask.config.set(scheduler=client.get), client.as_current():
        yield


def _without_chunks(meta: dict[str, Any]) -> dict[str, Any]:
    meta = json.loads(json.dumps(meta))
    meta["input"].pop("chunks")
    meta["request"].pop("chunks")
    return meta


@pytest.fixture(scope="module")
def reference_store(image: NDArray, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("determinism") / "threads.zarr"
    with dask.config.set(scheduler="threads"):
        dq.quantize(image, out, chunks=64, **STORE_OPTIONS)
    return out


@pytest.mark.parametrize(
    ("where", "chunks"),
    [
        ("threads", (50, 70)),
        ("threads", 192),  # one chunk
        ("synchronous", 64),
        ("2 worker processes", 64),
        ("2 worker processes", (96, 40)),
        ("1 worker process", 64),
        ("1 worker, 2 threads, no processes", 64),
    ],
)
def test_store_is_bit_identical_everywhere(
    where, chunks, image, reference_store, local_cluster, tmp_path
):
    out = tmp_path / "out.zarr"
    run: Any
    if where in ("threads", "synchronous"):
        run = dask.config.set(scheduler=where)
    elif where == "2 worker processes":
        run = _current(local_cluster)
    elif where == "1 worker process":
        run = _client(n_workers=1, threads_per_worker=1, processes=True)
    else:
        run = _client(n_workers=1, threads_per_worker=2, processes=False)
    with run:
        dq.quantize(image, out, chunks=chunks, **STORE_OPTIONS)
    ga = zarr.open_group(str(reference_store), mode="r")
    gb = zarr.open_group(str(out), mode="r")
    assert ga.attrs["complete"] is gb.attrs["complete"] is True
    assert _without_chunks(ga.attrs["daskquant"]) == _without_chunks(gb.attrs["daskquant"])
    assert sorted(ga.array_keys()) == sorted(gb.array_keys())
    for name in ga.array_keys():
        a, b = np.asarray(ga[name]), np.asarray(gb[name])
        assert a.dtype == b.dtype, name
        np.testing.assert_array_equal(a, b, err_msg=name)
