"""``dq.kmeans``: the recipe's ``cv2.kmeans`` call, same arguments and results, any size."""

from __future__ import annotations

from typing import Any

import dask
import dask.array as da
import numpy as np
from numpy.typing import ArrayLike, NDArray

from daskquant._api._fit import _check_int, _rng
from daskquant._engine import _kernels as kernels
from daskquant._engine._attempts import Seeds, best_of, plan
from daskquant._engine._lloyd import repair_opencv
from daskquant._engine._points import HistogramSource
from daskquant._engine._sources import PixelSource, histogram_capable, integer_colors
from daskquant._errors import InputError, InvalidParameterError

__all__ = [
    "KMEANS_PP_CENTERS",
    "KMEANS_RANDOM_CENTERS",
    "KMEANS_USE_INITIAL_LABELS",
    "TERM_CRITERIA_COUNT",
    "TERM_CRITERIA_EPS",
    "TERM_CRITERIA_MAX_ITER",
    "kmeans",
]

# Same integer values as cv2's constants.
KMEANS_RANDOM_CENTERS = 0
KMEANS_USE_INITIAL_LABELS = 1
KMEANS_PP_CENTERS = 2
TERM_CRITERIA_COUNT = 1
TERM_CRITERIA_MAX_ITER = 1
TERM_CRITERIA_EPS = 2

_FLT_EPSILON = float(np.finfo(np.float32).eps)
_ROWS_PER_CHUNK = 1 << 22


def opencv_criteria(criteria: tuple[int, int, float], n_colors: int) -> tuple[int, float]:
    """OpenCV's reading of ``(type, maxCount, epsilon)``: (Lloyd updates, epsilon).

    maxCount is clamped to [2, 100] and counts the seeding, so it allows maxCount - 1
    updates; without MAX_ITER, 100; without EPS, epsilon is FLT_EPSILON; K = 1 stops after
    one update.
    """
    try:
        kind, max_count, epsilon = criteria
    except (TypeError, ValueError):
        raise InvalidParameterError(
            f"criteria must be a (type, max_iter, epsilon) tuple, got {criteria!r}"
        ) from None
    eps = max(float(epsilon), 0.0) if int(kind) & TERM_CRITERIA_EPS else _FLT_EPSILON
    count = min(max(int(max_count), 2), 100) if int(kind) & TERM_CRITERIA_COUNT else 100
    if n_colors == 1:
        count = 2
    return count - 1, eps


def kmeans(
    data: ArrayLike | da.Array,
    K: int,
    bestLabels: ArrayLike | da.Array | None,
    criteria: tuple[int, int, float],
    attempts: int,
    flags: int,
    centers: Any = None,
    *,
    seed: int | np.random.Generator | None = None,
) -> tuple[float, NDArray[np.int32] | da.Array, NDArray[np.float32]]:
    """Drop-in for ``cv2.kmeans`` on NumPy or Dask data of any size and numeric dtype.

    Parameters
    ----------
    data : (N, C) or (N,) array
        uint8, uint16, int, float32 or float64. 8-bit data with C <= 3 runs on its exact color
        histogram (same result, far faster), and so does float data whose values are all
        integers in 0..255 (the recipe's ``np.float32(img)``; one stats pass finds it).
    K : int
        Number of clusters.
    bestLabels : (N, 1) int32 array or None
        Start memberships when ``flags`` has ``KMEANS_USE_INITIAL_LABELS``.
    criteria : (type, max_iter, epsilon)
        As OpenCV, including its clamp of max_iter to [2, 100].
    attempts : int
        Runs; the lowest compactness is kept.
    flags : int
        ``KMEANS_RANDOM_CENTERS``, ``KMEANS_PP_CENTERS``, optionally
        ``| KMEANS_USE_INITIAL_LABELS``.
    seed : int, Generator or None
        Replaces OpenCV's global RNG: attempt ``i`` draws from child ``i`` of
        ``numpy.random.SeedSequence(seed)``.

    Returns
    -------
    compactness : float
        OpenCV's: squared distances of the points to the final centers of the clusters they
        were in at the last assignment.
    labels : (N, 1) int32 ndarray, or dask array when ``data`` is one
        OpenCV's: the memberships of the last assignment, which precede the last update.
    centers : (K, C) float32 ndarray
    """
    k = _check_int("K", K, 1)
    attempts = max(_check_int("attempts", attempts, -(1 << 31)), 1)
    arr = _points(data, k)
    max_updates, epsilon = opencv_criteria(criteria, k)
    seed_value, _ = _rng(seed)
    use_labels = bool(flags & KMEANS_USE_INITIAL_LABELS)
    labels0 = _initial_labels(bestLabels, arr, k) if use_labels else None
    seeds = _seeds(arr)
    init = "k-means++" if flags & KMEANS_PP_CENTERS else "random"
    names = [init] * attempts
    if labels0 is not None:
        zeros = np.zeros((k, arr.shape[1]))
        pixels = seeds.pixels
        assert pixels is not None  # _seeds keeps the rows' source
        seeds.given, _ = repair_opencv(
            pixels, pixels.partials(zeros, labels=labels0), zeros, labels=labels0
        )
        names[0] = "given"
    planned, seeds.sample_key = plan(names, seed_value)
    best, score = best_of(
        seeds,
        k,
        planned,
        max_iter=max_updates,
        epsilon=epsilon,
        repair=repair_opencv,
    )
    labels = _labels(arr, best.previous, data)
    return score, labels, best.centers.astype(np.float32)


def _points(data: Any, k: int) -> da.Array:
    """``data`` as an (N, C) dask array of numeric rows, in chunks of rows."""
    arr = data if isinstance(data, da.Array) else da.asarray(np.asarray(data))
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.dtype.kind not in "uif":
        raise InputError(f"data must be a numeric (N, C) array, got {arr.dtype} {arr.shape}")
    n, c = arr.shape
    if n < k:
        raise InputError(f"there can't be more clusters (K={k}) than points (N={n})")
    return arr.rechunk((min(n, _ROWS_PER_CHUNK), c))


def _seeds(arr: da.Array) -> Seeds:
    """The source (the exact histogram of 8-bit data with C <= 3, and of float data holding
    only integers in 0..255, such as the recipe's ``np.float32(img)``; else the rows) and
    what the seeders draw from."""
    n, c = arr.shape
    pixels = PixelSource(arr, channels=c, alpha=None)
    stats = None
    if arr.dtype.kind == "f" and histogram_capable(np.dtype(np.uint8), c):
        stats = pixels.stats()
        if stats.holds_uint8():
            stats, arr = None, integer_colors(arr, channels=c, alpha=None)
            pixels = PixelSource(arr, channels=c, alpha=None)
    if histogram_capable(arr.dtype, c):
        hist = HistogramSource(pixels.histogram())
        points = (hist.points.astype(np.float64), hist.counts.astype(np.float64))
        low, high = points[0].min(axis=0), points[0].max(axis=0)
        return Seeds(hist, low, high, points=points, pixels=pixels, order=hist.order)
    if stats is None:
        stats = pixels.stats()
    if stats.n_nonfinite:
        raise InputError(f"data has {stats.n_nonfinite} rows with NaN or inf values")
    return Seeds(pixels, stats.low, stats.high, pixels=pixels, n_valid=n)


def _initial_labels(best_labels: Any, arr: da.Array, k: int) -> da.Array:
    if best_labels is None:
        raise InvalidParameterError("KMEANS_USE_INITIAL_LABELS needs bestLabels")
    lab = best_labels if isinstance(best_labels, da.Array) else da.asarray(np.asarray(best_labels))
    if lab.size != arr.shape[0]:
        raise InvalidParameterError(
            f"bestLabels has {lab.size} entries; it needs one per point ({arr.shape[0]})"
        )
    lab = lab.reshape(-1).astype(np.int32)
    if isinstance(best_labels, np.ndarray) and not ((best_labels >= 0) & (best_labels < k)).all():
        raise InvalidParameterError(f"bestLabels must hold values in [0, {k})")
    # Dask labels are checked as they are read: the kernels index sums by label.
    lab = lab.map_blocks(_check_labels, k, dtype=np.int32)
    return lab.rechunk((arr.chunks[0],)).reshape(-1, 1).rechunk((arr.chunks[0], 1))


def _block_labels(block: NDArray, centers: NDArray[np.float64]) -> NDArray[np.int32]:
    return kernels.assign_labels(block, centers, np.dtype(np.int32)).reshape(-1, 1)


def _check_labels(block: NDArray, k: int) -> NDArray:
    if block.size and (block.min() < 0 or block.max() >= k):
        raise InvalidParameterError(f"bestLabels must hold values in [0, {k})")
    return block


def _labels(arr: da.Array, centers: NDArray[np.float64], data: Any) -> Any:
    c = dask.delayed(np.asarray(centers, np.float64), pure=True)
    lab = da.map_blocks(_block_labels, arr, c, dtype=np.int32, chunks=(arr.chunks[0], (1,)))
    return lab if isinstance(data, da.Array) else lab.compute()
