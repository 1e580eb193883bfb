"""Per-block kernels on NumPy arrays: nearest center, partial sums, farthest point, histogram.

Every kernel here is a plain function of NumPy arrays, testable without dask. Distances are
float64, summed channel by channel in order, and ties go to the lowest center index; the
same ``_nearest`` serves the pixel path and the histogram path, which is what makes the two
bit-identical. The loops are fused (no N x K temporary) and release the GIL, so the threads
of one worker run them in parallel.
"""

from __future__ import annotations

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = [
    "INT_DTYPES",
    "assign_labels",
    "color_codes",
    "decode_colors",
    "farthest_member",
    "partial_sums",
    "sparse_histogram",
]

# Integer dtypes whose sums and squares are accumulated exactly in int64.
INT_DTYPES = (np.dtype(np.uint8), np.dtype(np.int8), np.dtype(np.uint16), np.dtype(np.int16))

_jit = numba.njit(nogil=True, cache=True)


@numba.njit(nogil=True, cache=True, inline="always")
def _nearest(px, i, centers):  # type: ignore[no-untyped-def]
    best = 0
    best_d = np.inf
    for k in range(centers.shape[0]):
        d = 0.0
        for j in range(centers.shape[1]):
            t = np.float64(px[i, j]) - centers[k, j]
            d += t * t
        if d < best_d:
            best_d = d
            best = k
    return best, best_d


@_jit
def _partials_kernel(px, weights, mask, labels, centers, sums, sq, counts, dist):  # type: ignore[no-untyped-def]
    # weights: (n,) or (0,) meaning 1; mask: (n,) uint8 or (0,), 0 = skip (transparent);
    # labels: (n,) or (0,) meaning "nearest center".
    n, c = px.shape
    for i in range(n):
        if mask.shape[0] and mask[i] == 0:
            continue
        if labels.shape[0]:
            k = labels[i]
            d = 0.0
            for j in range(c):
                t = np.float64(px[i, j]) - centers[k, j]
                d += t * t
        else:
            k, d = _nearest(px, i, centers)
        w = weights[i] if weights.shape[0] else 1
        counts[k] += w
        dist[k] += w * d
        for j in range(c):
            v = px[i, j]
            sums[k, j] += w * v
            sq[k, j] += w * v * v


@_jit
def _assign_kernel(px, centers, out):  # type: ignore[no-untyped-def]
    for i in range(px.shape[0]):
        out[i] = _nearest(px, i, centers)[0]


@_jit
def _farthest_kernel(px, mask, labels, centers, k, base, excluded):  # type: ignore[no-untyped-def]
    n, c = px.shape
    best_d = -1.0
    best_i = -1
    count = 0
    for i in range(n):
        if mask.shape[0] and mask[i] == 0:
            continue
        if labels.shape[0]:
            if labels[i] != k:
                continue
        elif _nearest(px, i, centers)[0] != k:
            continue
        skip = False
        for e in range(excluded.shape[0]):
            same = True
            for j in range(c):
                if px[i, j] != excluded[e, j]:
                    same = False
                    break
            if same:
                skip = True
                break
        if skip:
            continue
        d = 0.0
        for j in range(c):
            t = np.float64(px[i, j]) - base[j]
            d += t * t
        if d > best_d:
            best_d, best_i, count = d, i, 1
            continue
        if d < best_d:
            continue
        # Equal distance: the lexicographically larger color wins, equal colors are counted.
        order = 0
        for j in range(c):
            if px[i, j] != px[best_i, j]:
                order = 1 if px[i, j] > px[best_i, j] else -1
                break
        if order == 0:
            count += 1
        elif order > 0:
            best_i, count = i, 1
    return best_d, best_i, count


def partial_sums(
    pixels: NDArray,
    centers: NDArray[np.float64],
    *,
    weights: NDArray[np.int64] | None = None,
    mask: NDArray[np.uint8] | None = None,
    labels: NDArray[np.int32] | None = None,
) -> tuple[NDArray, NDArray, NDArray[np.int64], NDArray[np.float64]]:
    """Sums, sums of squares and counts of the points per nearest center.

    Parameters
    ----------
    pixels : (N, C) ndarray
        Points; uint8/int8/uint16/int16 are summed exactly in int64, others in float64.
    centers : (K, C) float64 ndarray
    weights : (N,) int64 ndarray, optional
        Multiplicity of each point (the histogram path); 1 when omitted.
    mask : (N,) uint8 ndarray, optional
        Points where it is 0 are left out (fully transparent pixels).
    labels : (N,) int32 ndarray, optional
        Use these memberships instead of the nearest center.

    Returns
    -------
    sums, sq : (K, C) int64 or float64 ndarray
    counts : (K,) int64 ndarray
    dist : (K,) float64 ndarray
        Sum of squared distances of the members to their center.
    """
    k, c = centers.shape
    acc = np.int64 if pixels.dtype in INT_DTYPES else np.float64
    sums = np.zeros((k, c), acc)
    sq = np.zeros((k, c), acc)
    counts = np.zeros(k, np.int64)
    dist = np.zeros(k, np.float64)
    if acc is np.float64 and pixels.dtype.kind != "f":
        pixels = pixels.astype(np.float64)
    _partials_kernel(
        pixels,
        _or_empty(weights, np.int64),
        _or_empty(mask, np.uint8),
        _or_empty(labels, np.int32),
        np.ascontiguousarray(centers, np.float64),
        sums,
        sq,
        counts,
        dist,
    )
    return sums, sq, counts, dist


def assign_labels(pixels: NDArray, centers: NDArray[np.float64], dtype: np.dtype) -> NDArray:
    """Index of the nearest center of each point, (N, C) -> (N,) of ``dtype``."""
    out = np.empty(pixels.shape[0], dtype)
    _assign_kernel(pixels, np.ascontiguousarray(centers, np.float64), out)
    return out


def farthest_member(
    pixels: NDArray,
    centers: NDArray[np.float64],
    k: int,
    base: NDArray[np.float64],
    excluded: NDArray,
    *,
    mask: NDArray[np.uint8] | None = None,
    labels: NDArray[np.int32] | None = None,
) -> tuple[float, NDArray | None, int]:
    """Member of cluster ``k`` farthest from ``base``, skipping the colors in ``excluded``.

    Ties go to the lexicographically larger color, so the answer does not depend on the order
    of the points. Returns ``(distance, color, how many members have that color)``, or
    ``(-1.0, None, 0)`` when the cluster has no eligible member.
    """
    d, i, count = _farthest_kernel(
        pixels,
        _or_empty(mask, np.uint8),
        _or_empty(labels, np.int32),
        np.ascontiguousarray(centers, np.float64),
        k,
        np.ascontiguousarray(base, np.float64),
        np.ascontiguousarray(excluded, pixels.dtype).reshape(-1, pixels.shape[1]),
    )
    if i < 0:
        return -1.0, None, 0
    return float(d), pixels[i].copy(), int(count)


def color_codes(pixels: NDArray[np.uint8]) -> NDArray[np.uint32]:
    """Pack (N, C<=3) uint8 colors into one integer each: r << 16 | g << 8 | b."""
    codes = np.zeros(pixels.shape[0], np.uint32)
    for j in range(pixels.shape[1]):
        codes <<= np.uint32(8)
        codes |= pixels[:, j]
    return codes


def decode_colors(codes: NDArray[np.uint32], channels: int) -> NDArray[np.uint8]:
    """Inverse of :func:`color_codes`."""
    out = np.empty((codes.shape[0], channels), np.uint8)
    for j in range(channels):
        out[:, j] = (codes >> np.uint32(8 * (channels - 1 - j))) & np.uint32(0xFF)
    return out


def sparse_histogram(
    pixels: NDArray[np.uint8], mask: NDArray[np.uint8] | None = None
) -> tuple[NDArray[np.uint32], NDArray[np.int64]]:
    """Distinct colors of (N, C<=3) uint8 pixels as (sorted codes, counts)."""
    codes = color_codes(pixels)
    if mask is not None:
        codes = codes[mask != 0]
    dense = np.bincount(codes, minlength=1 << (8 * pixels.shape[1]))
    nz = np.flatnonzero(dense)
    return nz.astype(np.uint32), dense[nz].astype(np.int64)


def _or_empty(a: NDArray | None, dtype: type) -> NDArray:
    return np.empty(0, dtype) if a is None else np.ascontiguousarray(a, dtype)
