"""On real worker processes the results are bit-identical to the threaded scheduler's."""

from __future__ import annotations

from typing import Any

import dask
import dask.array as da
import numpy as np
import pytest
import skimage.data
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


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_fit_same_on_cluster_wide_dtypes(local_cluster: Any, image: NDArray, dtype: type) -> None:
    data = image.astype(dtype) * (257 if dtype is np.uint16 else 1 / 255)
    data = da.from_array(data.astype(dtype), chunks=(50, 70, 3))
    eps = 1.0 if dtype is np.uint16 else 1e-3
    local, remote = _fit_both(local_cluster, data, seed=2, epsilon=eps)
    assert local.method == "pixels"
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
