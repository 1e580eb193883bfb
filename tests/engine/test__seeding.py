"""k-means|| seeding: the sources' sample and pick questions, and fit_palette(init="k-means||")."""

from __future__ import annotations

from typing import Any

import dask.array as da
import numpy as np
import pytest
import skimage.data
from _oracles import assert_same_fit, brute_compactness
from numpy.typing import NDArray

import daskquant as dq
from daskquant._cli._samples import photo_mosaic
from daskquant._engine import _seeding
from daskquant._engine._kernels import z_order
from daskquant._engine._points import HistogramSource
from daskquant._engine._seeding import in_z_order, kmeans_parallel, kmeans_plus_plus
from daskquant._engine._sources import Histogram, PixelSource

# Spatial chunks of the 200 x 200 test photo: square, ragged, strips, and a single chunk.
CHUNKINGS: list[Any] = [64, (100, 300), (50, 91), (200, 200)]


def pixel_source(image: NDArray, chunks: Any) -> PixelSource:
    chunks = (chunks, chunks) if isinstance(chunks, int) else chunks
    arr = da.from_array(image, chunks=(*chunks, image.shape[-1]))
    return PixelSource(arr, channels=min(image.shape[-1], 3), alpha=None)


def sorted_rows(a: NDArray) -> NDArray:
    return a[np.lexsort(a.T[::-1])] if a.shape[0] else a


# --- greedy k-means++ -------------------------------------------------------------------


def reference_kmeans_plus_plus(
    points: NDArray, weights: NDArray, k: int, rng: np.random.Generator, trials: int = 3
) -> NDArray:
    """Greedy k-means++ in plain NumPy: full distances every step, no blocks, no pruning."""
    n = points.shape[0]
    first = int(np.searchsorted(np.cumsum(weights), rng.random() * weights.sum()))
    chosen = [first]
    dist = ((points - points[first]) ** 2).sum(axis=1)
    cost = float((weights * dist).sum())
    for _ in range(1, k):
        cum = np.cumsum(weights * dist)
        picks = [min(int(np.searchsorted(cum, rng.random() * cost)), n - 1) for _ in range(trials)]
        new = [np.minimum(dist, ((points - points[p]) ** 2).sum(axis=1)) for p in picks]
        costs = [float((weights * d).sum()) for d in new]
        best = int(np.argmin(costs))
        chosen.append(picks[best])
        dist, cost = new[best], costs[best]
    return points[chosen]


@pytest.mark.parametrize("k", [16, 100])
def test_kmeans_plus_plus_matches_reference(k: int) -> None:
    # The block pruning (a candidate skips blocks it cannot reach) changes no choice; the
    # points are drawn from in Z-order, whatever order they came in.
    image = photo_mosaic(600, 600, seed=1)
    colors, counts = np.unique(image.reshape(-1, 3), axis=0, return_counts=True)
    points, weights = colors.astype(np.float64), counts.astype(np.float64)
    assert points.shape[0] > 100 * _seeding._BLOCK  # many blocks, most skipped late on
    shuffled = np.random.default_rng(0).permutation(points.shape[0])
    ordered = in_z_order(points[shuffled], weights[shuffled])
    got = kmeans_plus_plus(*ordered, k, np.random.default_rng(k))
    z = z_order(points)
    want = reference_kmeans_plus_plus(points[z], weights[z], k, np.random.default_rng(k))
    np.testing.assert_array_equal(got, want)


# --- the questions k-means|| asks -------------------------------------------------------


def test_pixel_sample_and_pick_do_not_depend_on_chunking(astronaut: NDArray) -> None:
    centers = astronaut.reshape(-1, 3)[[5, 5000, 20000]].astype(np.float64)
    samples, weighted, picks = [], [], []
    for chunks in CHUNKINGS:
        source = pixel_source(astronaut, chunks)
        samples.append(sorted_rows(source.sample(None, 0.05, 123)))
        weighted.append(sorted_rows(source.sample(centers, 1e-4, 456)))
        picks.append(source.pick(789))
    n = astronaut.shape[0] * astronaut.shape[1]
    assert abs(samples[0].shape[0] - 0.05 * n) < 5 * np.sqrt(0.05 * n)  # about 2000
    assert 50 < weighted[0].shape[0] < n
    for s, w, p in zip(samples[1:], weighted[1:], picks[1:], strict=True):
        np.testing.assert_array_equal(s, samples[0])
        np.testing.assert_array_equal(w, weighted[0])
        np.testing.assert_array_equal(p, picks[0])
    # Another key, another draw; pixels on a center are never drawn.
    source = pixel_source(astronaut, 64)
    assert not np.array_equal(sorted_rows(source.sample(None, 0.05, 124)), samples[0])
    assert not (weighted[0][:, None, :] == centers[None]).all(axis=2).any()


def test_pixel_sample_keeps_everything_at_scale_one(astronaut: NDArray) -> None:
    source = pixel_source(astronaut, (50, 91))
    got = source.sample(None, 1.0, 7)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(
        sorted_rows(got), sorted_rows(astronaut.reshape(-1, 3).astype(np.float64))
    )


def test_pixel_sample_and_pick_skip_transparent_pixels() -> None:
    photo = skimage.data.coffee()[100:228, 200:328]
    rng = np.random.default_rng(0)
    alpha = np.where(rng.random(photo.shape[:2]) < 0.5, 0, 255).astype(np.uint8)
    rgb = photo.copy()
    rgb[alpha == 0] = (255, 0, 255)
    rgba = np.concatenate([rgb, alpha[..., None]], axis=-1)
    source = PixelSource(da.from_array(rgba, chunks=(40, 50, 4)), channels=3, alpha=3)
    got = source.sample(None, 1.0, 3)
    assert got.shape[0] == np.count_nonzero(alpha)
    assert not (got == (255, 0, 255)).all(axis=1).any()
    for key in range(20):
        assert tuple(source.pick(key)) != (255.0, 0.0, 255.0)


def test_histogram_sample_and_pick(astronaut: NDArray) -> None:
    pixels = pixel_source(astronaut, 64)
    source = HistogramSource(pixels.histogram())
    colors = source.points.astype(np.float64)
    # Seeded: the same key gives the same draw.
    np.testing.assert_array_equal(source.sample(None, 0.01, 5), source.sample(None, 0.01, 5))
    np.testing.assert_array_equal(source.pick(5), source.pick(5))
    # Scale 1 keeps every color; a color on a center is never kept.
    np.testing.assert_array_equal(source.sample(None, 1.0, 5), colors)
    centers = colors[[0, 100, 1000]]
    kept = source.sample(centers, 1e6, 5)
    assert kept.shape[0] == colors.shape[0] - 3
    assert not (kept[:, None, :] == centers[None]).all(axis=2).any()
    # pick draws a color with probability proportional to its pixel count.
    hist = HistogramSource(
        Histogram(np.array([1, 2, 3], np.uint32), np.array([1, 10, 989], np.int64), 3)
    )
    draws = np.array([hist.pick(key)[2] for key in range(3000)])
    freq = [np.mean(draws == v) for v in (1, 2, 3)]
    assert freq[0] < 0.005 and 0.003 < freq[1] < 0.02 and freq[2] > 0.97


@pytest.mark.parametrize("kind", ["pixels", "histogram"])
def test_kmeans_parallel_centers_are_distinct_image_colors(astronaut: NDArray, kind: str) -> None:
    pixels = pixel_source(astronaut, 64)
    source: Any = pixels if kind == "pixels" else HistogramSource(pixels.histogram())
    centers = kmeans_parallel(source, 16, np.random.default_rng(0))
    assert centers.shape == (16, 3) and centers.dtype == np.float64
    assert np.unique(centers, axis=0).shape[0] == 16
    colors = np.unique(astronaut.reshape(-1, 3), axis=0).astype(np.float64)
    assert (centers[:, None, :] == colors[None]).all(axis=2).any(axis=1).all()
    again = kmeans_parallel(source, 16, np.random.default_rng(0))
    np.testing.assert_array_equal(again, centers)


def test_kmeans_parallel_computes_once_per_question(
    astronaut: NDArray, counting_scheduler: Any
) -> None:
    # One pick, then per round one cost pass (partials) and one sample, then one weighting
    # pass: 2 + 2 x rounds computes on the pixel path, whatever the number of chunks.
    source = pixel_source(astronaut, 50)
    with counting_scheduler() as counter:
        kmeans_parallel(source, 8, np.random.default_rng(1), rounds=5)
    assert counter.calls == 2 + 2 * 5


def test_kmeans_parallel_too_few_colors() -> None:
    image = np.repeat(np.array([10, 200, 90], np.uint16), 60).reshape(45, 4, 1)
    source = PixelSource(da.from_array(image, chunks=(20, 4, 1)), channels=1, alpha=None)
    with pytest.raises(dq.TooFewColorsError, match="n_colors=5"):
        kmeans_parallel(source, 5, np.random.default_rng(0))
    centers = kmeans_parallel(source, 3, np.random.default_rng(0))
    np.testing.assert_array_equal(np.sort(centers[:, 0]), [10, 90, 200])


# --- fit_palette(init="k-means||") ------------------------------------------------------


@pytest.mark.parametrize("method", ["pixels", "histogram"])
def test_fit_kmeans_parallel_uint8(astronaut: NDArray, method: str) -> None:
    fit = dq.fit_palette(astronaut, 12, init="k-means||", seed=2, method=method, attempts=1)
    assert (fit.method, fit.init) == (method, "k-means||")
    assert fit.centers.shape == (12, 3) and np.isfinite(fit.centers).all()
    assert np.unique(fit.centers, axis=0).shape[0] == 12
    assert (fit.counts > 0).all() and fit.counts.sum() == 200 * 200
    assert fit.n_iter >= 1
    assert fit.compactness == pytest.approx(
        brute_compactness(astronaut, fit.palette.astype(np.float64)), rel=1e-10
    )
    again = dq.fit_palette(astronaut, 12, init="k-means||", seed=2, method=method, attempts=1)
    assert_same_fit(fit, again)
    other = dq.fit_palette(astronaut, 12, init="k-means||", seed=3, method=method, attempts=1)
    assert not np.array_equal(other.centers, fit.centers)


@pytest.mark.parametrize("method", ["summary", "pixels"])
@pytest.mark.parametrize("dtype", ["uint16", "float32"])
def test_fit_kmeans_parallel_wide_dtypes(
    uint16_photo: NDArray, float32_photo: NDArray, dtype: str, method: str
) -> None:
    image = uint16_photo if dtype == "uint16" else float32_photo
    kw: dict[str, Any] = {
        "init": "k-means||",
        "seed": 4,
        "epsilon": 1e-3 if dtype == "float32" else 1.0,
        "method": method,
    }
    fit = dq.fit_palette(image, 8, **kw)
    assert fit.method == method and fit.palette.dtype == image.dtype
    assert np.isfinite(fit.centers).all() and np.unique(fit.centers, axis=0).shape[0] == 8
    assert (fit.counts > 0).all()
    assert fit.compactness == pytest.approx(
        brute_compactness(image, fit.palette.astype(np.float64)), rel=1e-9
    )
    assert_same_fit(fit, dq.fit_palette(image, 8, **kw))


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
def test_fit_kmeans_parallel_does_not_depend_on_chunking(
    astronaut: NDArray, uint16_photo: NDArray, float32_photo: NDArray, dtype: str
) -> None:
    image = {"uint8": astronaut, "uint16": uint16_photo, "float32": float32_photo}[dtype]
    kw: dict[str, Any] = {"init": "k-means||", "seed": 3, "method": "pixels", "attempts": 1}
    if dtype == "float32":
        kw["epsilon"] = 1e-3
    fits = [dq.fit_palette(image, 8, chunks=c, **kw) for c in CHUNKINGS]
    assert fits[0].n_iter > 1
    for fit in fits[1:]:
        np.testing.assert_array_equal(fit.centers, fits[0].centers)
        assert (fit.n_iter, fit.converged) == (fits[0].n_iter, fits[0].converged)
        # Float distance sums are combined in a chunk-shaped tree: equal to rounding.
        assert fit.compactness == pytest.approx(fits[0].compactness, rel=1e-12)


def test_fit_kmeans_parallel_stack_chunking() -> None:
    # The hash is of the global pixel index, stack axis included.
    stack = np.stack([skimage.data.astronaut()[:96, :128], skimage.data.coffee()[:96, :128]])
    kw: dict[str, Any] = {"init": "k-means||", "seed": 6, "method": "pixels", "attempts": 1}
    a = dq.fit_palette(stack, 6, chunks=(1, 48, 64), **kw)
    b = dq.fit_palette(stack, 6, chunks=(2, 96, 128), **kw)
    c = dq.fit_palette(da.from_array(stack, chunks=(1, 30, 50, 3)), 6, **kw)
    assert_same_fit(a, b)
    assert_same_fit(a, c)


@pytest.mark.parametrize("method", ["pixels", "histogram"])
def test_fit_kmeans_parallel_skips_transparent_pixels(method: str) -> None:
    photo = skimage.data.coffee()[100:228, 200:328]
    alpha = np.where(np.random.default_rng(2).random(photo.shape[:2]) < 0.4, 0, 255)
    rgb = photo.copy()
    rgb[alpha == 0] = (255, 0, 255)  # loud: a center near it would mean it was counted
    rgba = np.concatenate([rgb, alpha[..., None].astype(np.uint8)], axis=-1)
    fit = dq.fit_palette(rgba, 6, init="k-means||", seed=1, method=method, attempts=1)
    assert fit.n_pixels == np.count_nonzero(alpha)
    assert np.sqrt(((fit.centers - (255, 0, 255)) ** 2).sum(axis=1)).min() > 60


@pytest.mark.parametrize("method", ["pixels", "histogram"])
def test_kmeans_parallel_as_good_as_kmeans_plus_plus(astronaut: NDArray, method: str) -> None:
    # Mean final compactness over a few seeds on a real photo, K = 16.
    def mean_compactness(init: str) -> float:
        return float(
            np.mean(
                [
                    dq.fit_palette(
                        astronaut, 16, init=init, seed=s, method=method, attempts=1
                    ).compactness
                    for s in range(4)
                ]
            )
        )

    assert mean_compactness("k-means||") <= 1.1 * mean_compactness("k-means++")
