"""``dq.kmeans``: the recipe's ``cv2.kmeans`` call, same arguments and results, any size."""

from __future__ import annotations

from typing import Any

import dask
import dask.array as da
import numpy as np
from numpy.typing import ArrayLike, NDArray

from daskquant._api._fit import _check_int, _rng
from daskquant._engine import _kernels as kernels
from daskquant._engine._lloyd import LloydRun, compactness, run_lloyd, update_centers
from daskquant._engine._seeding import in_z_order, kmeans_plus_plus, random_centers
from daskquant._engine._sources import HistogramSource, PixelSource, Source, histogram_capable
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
        histogram (same result, far faster).
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
        Replaces OpenCV's global RNG.

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
    arr = data if isinstance(data, da.Array) else da.asarray(np.asarray(data))
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.dtype.kind not in "uif":
        raise InputError(f"data must be a numeric (N, C) array, got {arr.dtype} {arr.shape}")
    n, c = arr.shape
    if n < k:
        raise InputError(f"there can't be more clusters (K={k}) than points (N={n})")
    arr = arr.rechunk((min(n, _ROWS_PER_CHUNK), c))
    max_updates, epsilon = opencv_criteria(criteria, k)
    _, rng = _rng(seed)
    pixels = PixelSource(arr, channels=c, alpha=None)
    source: Source = pixels
    labels0 = None
    if flags & KMEANS_USE_INITIAL_LABELS:
        labels0 = _initial_labels(bestLabels, arr, k)
    if histogram_capable(arr.dtype, c):
        hist = pixels.histogram()
        source = HistogramSource(hist)
        seed_set = (hist.colors.astype(np.float64), hist.counts.astype(np.float64))
        low, high = seed_set[0].min(axis=0), seed_set[0].max(axis=0)
    else:
        stats = pixels.stats()
        if stats.n_nonfinite:
            raise InputError(f"data has {stats.n_nonfinite} rows with NaN or inf values")
        low, high = stats.low, stats.high
        seed_set = None

    best: LloydRun | None = None
    best_score = np.inf
    ordered = None  # the k-means++ points in Z-order, made at the first draw
    for attempt in range(attempts):
        if attempt == 0 and labels0 is not None:
            zeros = np.zeros((k, c))
            raw = pixels.partials(zeros, labels=labels0)
            start, _ = update_centers(pixels, raw, zeros, labels=labels0)
        elif flags & KMEANS_PP_CENTERS:
            if ordered is None:
                if seed_set is None:
                    seed_set = pixels.seed_points(n, int(rng.integers(1 << 62)))
                done = source.order if isinstance(source, HistogramSource) else None
                ordered = in_z_order(*seed_set, order=done)
            start = kmeans_plus_plus(*ordered, k, rng)
        else:
            start = random_centers(low, high, k, rng)
        run = run_lloyd(source, start, max_iter=max_updates, epsilon=epsilon)
        score = compactness(run.partials, run.centers, exact=source.exact)
        if score < best_score:
            best, best_score = run, score
    assert best is not None
    labels = _labels(arr, best.previous, data)
    return best_score, labels, best.centers.astype(np.float32)


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
