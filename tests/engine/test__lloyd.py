"""The two empty-cluster repairs: OpenCV's one at a time (repair_opencv) and the image API's
batch of distinct colors (repair_distinct)."""

from __future__ import annotations

import warnings
from typing import Any

import dask.array as da
import numpy as np
import pytest
from numpy.typing import NDArray

import daskquant as dq
from daskquant._engine import _kernels as K
from daskquant._engine._lloyd import repair_distinct, repair_opencv
from daskquant._engine._points import HistogramSource
from daskquant._engine._sources import Partials, PixelSource

# Start centers for a 3-channel 8-bit image: two inside the data, six that no pixel is
# nearest to (far out, or a copy of center 0, which wins the tie), so six clusters are empty.
FAR = np.array(
    [
        [1000.0, 1000.0, 1000.0],
        [-500.0, 0.0, 0.0],
        [0.0, 900.0, -900.0],
        [300.0, -700.0, 300.0],
        [2000.0, 0.0, 2000.0],
    ]
)


def start_centers(image: NDArray) -> NDArray[np.float64]:
    colors = np.unique(image.reshape(-1, 3), axis=0).astype(np.float64)
    inside = colors[[colors.shape[0] // 3, 2 * colors.shape[0] // 3]]
    return np.concatenate([inside, FAR[:3], inside[:1], FAR[3:]])  # (8, 3)


def sources(image: NDArray, chunks: Any = (50, 64, 3)) -> tuple[PixelSource, HistogramSource]:
    pixels = PixelSource(da.from_array(image, chunks=chunks), channels=3, alpha=None)
    return pixels, HistogramSource(pixels.histogram())


def assert_same_partials(a: Partials, b: Partials) -> None:
    for x, y in zip((a.sums, a.sq, a.counts), (b.sums, b.sq, b.counts), strict=True):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)


def ref_distinct_fill(
    image: NDArray, centers: NDArray[np.float64], empty: list[int]
) -> NDArray[np.float64]:
    """The colors the distinct repair gives the empty clusters, in their order.

    One query: the largest cluster's distinct colors sorted by squared distance to its
    mean, then by color, both descending; the first len(empty) of them.
    """
    px = image.reshape(-1, 3)
    lab = K.assign_labels(px, centers, np.dtype(np.int32))
    largest = int(np.argmax(np.bincount(lab, minlength=centers.shape[0])))
    members = px[lab == largest]
    base = members.astype(np.int64).sum(axis=0) / members.shape[0]
    colors = np.unique(members, axis=0)
    d = ((colors.astype(np.float64) - base) ** 2).sum(axis=1)
    rows = sorted(zip(d.tolist(), map(tuple, colors.tolist()), strict=True), reverse=True)
    return np.array([r[1] for r in rows[: len(empty)]], np.float64)


@pytest.mark.parametrize("chunks", [(50, 64, 3), (128, 128, 3)])
def test_distinct_repair_fills_every_empty_cluster(photo: NDArray, chunks: Any) -> None:
    centers = start_centers(photo)
    pixels, hist = sources(photo, chunks)
    raw = pixels.partials(centers)
    empty = [int(k) for k in np.flatnonzero(raw.counts == 0)]
    assert len(empty) == 6
    assert_same_partials(raw, hist.partials(centers))

    new, after = repair_distinct(pixels, raw, centers)
    new_h, after_h = repair_distinct(hist, hist.partials(centers), centers)
    # The two sources give bit-identical centers and sums.
    np.testing.assert_array_equal(new, new_h)
    assert_same_partials(after, after_h)

    assert np.isfinite(new).all()
    assert np.unique(new, axis=0).shape[0] == new.shape[0], "duplicate centers"
    has_black = bool((photo.reshape(-1, 3) == 0).all(axis=1).any())
    assert has_black or not (new == 0).all(axis=1).any(), "a center fell to the origin"
    # Each empty cluster took one pixel; no pixel was lost or created.
    assert (after.counts[empty] == 1).all()
    assert after.counts.sum() == raw.counts.sum() == photo.shape[0] * photo.shape[1]
    np.testing.assert_array_equal(new[empty], ref_distinct_fill(photo, centers, empty))
    # The sums still describe the memberships: means of integer sums, exactly.
    np.testing.assert_array_equal(new, after.sums / after.counts[:, None])


def test_sequential_repair_same_on_both_sources(photo: NDArray) -> None:
    # OpenCV's repair (dq.kmeans) asks one question per empty cluster: same answers too.
    centers = start_centers(photo)
    pixels, hist = sources(photo)
    new, after = repair_opencv(pixels, pixels.partials(centers), centers)
    new_h, after_h = repair_opencv(hist, hist.partials(centers), centers)
    np.testing.assert_array_equal(new, new_h)
    assert_same_partials(after, after_h)
    assert np.isfinite(new).all() and (after.counts > 0).all()


def test_distinct_repair_uint16_pixels(astronaut: NDArray[np.uint8]) -> None:
    image = astronaut.astype(np.uint16) * 257
    centers = start_centers(astronaut) * 257
    pixels = PixelSource(da.from_array(image, chunks=64), channels=3, alpha=None)
    raw = pixels.partials(centers)
    assert (raw.counts == 0).sum() == 6
    new, after = repair_distinct(pixels, raw, centers)
    assert np.isfinite(new).all() and (after.counts > 0).all()
    assert np.unique(new, axis=0).shape[0] == 8
    # The same repair as on the 8-bit image, scaled: uint16 x 257 keeps every order.
    pixels8, _ = sources(astronaut)
    centers8 = start_centers(astronaut)
    new8, _ = repair_distinct(pixels8, pixels8.partials(centers8), centers8)
    empty = np.flatnonzero(raw.counts == 0)
    np.testing.assert_array_equal(new[empty], new8[empty] * 257)  # the colors moved
    np.testing.assert_allclose(new, new8 * 257, rtol=1e-15)  # means: 257 S / n vs S / n


def test_distinct_repair_takes_more_than_one_cluster() -> None:
    # The largest cluster has 3 distinct colors, fewer than the 4 empty clusters: the
    # repair goes on with the next largest cluster, and every center stays distinct.
    rng = np.random.default_rng(0)
    big = np.array([[10, 10, 10], [20, 10, 10], [30, 10, 10]], np.uint8)
    small = np.array([[200, 0, 0], [210, 0, 0], [220, 0, 0], [230, 0, 0]], np.uint8)
    px = np.concatenate([np.repeat(big, 40, axis=0), np.repeat(small, 5, axis=0)])
    image = px[rng.permutation(px.shape[0])].reshape(10, 14, 3)
    centers = np.concatenate([[[20.0, 10.0, 10.0], [215.0, 0.0, 0.0]], FAR[:4]])
    for source in sources(image, (5, 7, 3)):
        raw = source.partials(centers)
        assert raw.counts.tolist() == [120, 20, 0, 0, 0, 0]
        new, after = repair_distinct(source, raw, centers)
        assert np.isfinite(new).all() and (after.counts > 0).all()
        assert np.unique(new, axis=0).shape[0] == 6
        assert after.counts.sum() == 140


def test_distinct_repair_never_empties_the_largest_cluster() -> None:
    # Two clusters of 2 pixels (2 colors each) and 2 empty clusters: taking both colors of
    # cluster 0 fills the empty ones but empties cluster 0.
    image = np.array([[[0, 0, 0], [10, 0, 0], [200, 200, 200], [210, 200, 200]]], np.uint8)
    centers = np.array([[5.0, 0, 0], [205, 200, 200], [1000, 1000, 1000], [-1000, 0, 0]])
    for source in sources(image, (1, 2, 3)):
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # 0 / 0
            new, after = repair_distinct(source, source.partials(centers), centers)
        assert np.isfinite(new).all() and (after.counts > 0).all()
        assert np.unique(new, axis=0).shape[0] == 4


# --- too few colors ---------------------------------------------------------------------


def few_values(dtype: type) -> NDArray:
    """A (180, 1, 3) gray image with 3 distinct values."""
    values = np.array([0.125, 0.5, 0.875]) if np.dtype(dtype).kind == "f" else np.array([1, 5, 9])
    column = np.repeat(values, [100, 50, 30]).astype(dtype)
    return np.repeat(column[:, None, None], 3, axis=2)


@pytest.mark.parametrize(
    "init",
    [
        "k-means++",
        "random",
        "k-means||",
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint16])
def test_fewer_distinct_values_than_colors(dtype: type, init: str) -> None:
    image = few_values(dtype)
    with pytest.raises(dq.TooFewColorsError):
        dq.fit_palette(image, 5, seed=0, init=init, attempts=1, strict=True)
    # Three colors are fine, and each value is its own center.
    fit = dq.fit_palette(image, 3, seed=0, init=init, attempts=1, epsilon=0)
    np.testing.assert_array_equal(np.sort(fit.palette[:, 0]), np.unique(image))


def test_distinct_repair_single_color_clusters_raise() -> None:
    # Three pure clusters and two duplicated start centers: nothing can be given without
    # making a duplicate center, so the distinct repair must raise.
    image = few_values(np.float32)
    centers = np.array([[0.125] * 3, [0.5] * 3, [0.875] * 3, [0.125] * 3, [0.5] * 3])
    pixels = PixelSource(da.from_array(image, chunks=(40, 1, 3)), channels=3, alpha=None)
    raw = pixels.partials(centers)
    assert raw.counts.tolist() == [100, 50, 30, 0, 0]
    with pytest.raises(dq.TooFewColorsError):
        repair_distinct(pixels, raw, centers)


# --- through the public API -------------------------------------------------------------


def test_fit_palette_never_returns_nan_centers() -> None:
    image = np.array([[[0, 0, 0], [10, 0, 0], [200, 200, 200], [210, 200, 200]]], np.uint8)
    init = [[5, 0, 0], [205, 200, 200], [1000, 1000, 1000], [-1000, -1000, -1000]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fit = dq.fit_palette(image, 4, init=init, max_iter=1, attempts=1)
    assert np.isfinite(fit.centers).all()
    assert (fit.counts > 0).all()


def test_fit_palette_no_duplicate_centers_with_enough_colors() -> None:
    # 7 distinct colors, 6 clusters: the fit ends with two equal centers and an unused
    # palette entry (count 0) although every entry could have its own colors.
    big = np.array([[10, 10, 10], [20, 10, 10], [30, 10, 10]], np.uint8)
    small = np.array([[200, 0, 0], [210, 0, 0], [220, 0, 0], [230, 0, 0]], np.uint8)
    image = np.concatenate([np.repeat(big, 40, axis=0), np.repeat(small, 5, axis=0)])
    init = np.concatenate([[[20.0, 10.0, 10.0], [215.0, 0.0, 0.0]], FAR[:4]])
    fit = dq.fit_palette(image[:, None, :], 6, init=init, max_iter=20, attempts=1)
    assert np.unique(fit.centers, axis=0).shape[0] == 6
    assert (fit.counts > 0).all()
