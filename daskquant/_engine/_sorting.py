"""Linear-time orderings for the distinct-color path: the Z-order of points and the merge
of sorted sparse histograms.

Both replace NumPy code that was most of the preparation of a large histogram (measured
on a 6.3 MP photo mosaic, 847k distinct colors, CPU time on a loaded 2-core machine: the
Morton codes' 24 whole-array passes 0.3 s, ``unique(return_inverse=True)`` of the
concatenated codes 0.15 s). The Morton codes are now one fused pass (then the same stable
argsort), and sorted parts merge in one linear pass per pair.
"""

from __future__ import annotations

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = ["bounds", "merge_sorted_counts", "z_order"]

_jit = numba.njit(nogil=True, cache=True)


@_jit
def _morton(points, lo, scale, out):  # type: ignore[no-untyped-def]
    # Each channel scaled to 8 bits over its range (float64, as NumPy would: (p - lo) * s,
    # truncated), its bits interleaved, the first channel's bit highest.
    c = points.shape[1]
    spread = np.zeros(256, np.uint64)  # the 8 bits of q, c - 1 zero bits between them
    for v in range(256):
        for bit in range(8):
            spread[v] |= np.uint64((v >> bit) & 1) << np.uint64(c * bit)
    for i in range(points.shape[0]):
        code = np.uint64(0)
        for j in range(c):
            q = np.uint64((np.float64(points[i, j]) - lo[j]) * scale[j]) & np.uint64(255)
            code |= spread[q] << np.uint64(c - 1 - j)
        out[i] = code


@_jit
def _bounds(points, lo, hi):  # type: ignore[no-untyped-def]
    for j in range(points.shape[1]):
        lo[j], hi[j] = points[0, j], points[0, j]
    for i in range(points.shape[0]):
        for j in range(points.shape[1]):
            v = np.float64(points[i, j])
            if v < lo[j]:
                lo[j] = v
            if v > hi[j]:
                hi[j] = v


def bounds(points: NDArray) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-channel minimum and maximum of (M >= 1, C) points without NaN, as float64: the
    values of ``points.min(axis=0)`` and ``points.max(axis=0)``, in one pass (NumPy's
    reductions along the short axis are slow).

    >>> [b.tolist() for b in bounds(np.array([[3, 9], [5, 1]], np.uint8))]
    [[3.0, 1.0], [5.0, 9.0]]
    """
    lo = np.empty(points.shape[1], np.float64)
    hi = np.empty(points.shape[1], np.float64)
    _bounds(np.ascontiguousarray(points), lo, hi)
    return lo, hi


def z_order(points: NDArray) -> NDArray[np.int64]:
    """The order of the points (M, C<=8) along a Z-order (Morton) curve over their bounding
    box: each channel scaled to 8 bits over its range, bits interleaved, ties in input order.

    >>> z_order(np.array([[255, 255], [0, 0], [0, 255], [255, 0]], np.uint8)).tolist()
    [1, 2, 3, 0]
    """
    if points.shape[0] == 0:
        return np.zeros(0, np.int64)
    points = np.ascontiguousarray(points)
    lo, hi = bounds(points)
    scale = 255.0 / np.maximum(hi - lo, 1e-300)
    code = np.empty(points.shape[0], np.uint64)
    _morton(points, lo, scale, code)
    return np.argsort(code, kind="stable")


@_jit
def _merge_two(ca, na, cb, nb):  # type: ignore[no-untyped-def]
    out_c = np.empty(ca.shape[0] + cb.shape[0], ca.dtype)
    out_n = np.empty(ca.shape[0] + cb.shape[0], np.int64)
    i = j = m = 0
    while i < ca.shape[0] and j < cb.shape[0]:
        if ca[i] < cb[j]:
            out_c[m], out_n[m] = ca[i], na[i]
            i += 1
        elif cb[j] < ca[i]:
            out_c[m], out_n[m] = cb[j], nb[j]
            j += 1
        else:
            out_c[m], out_n[m] = ca[i], na[i] + nb[j]
            i += 1
            j += 1
        m += 1
    while i < ca.shape[0]:
        out_c[m], out_n[m] = ca[i], na[i]
        i += 1
        m += 1
    while j < cb.shape[0]:
        out_c[m], out_n[m] = cb[j], nb[j]
        j += 1
        m += 1
    return out_c[:m].copy(), out_n[:m].copy()


def merge_sorted_counts(
    parts: list[tuple[NDArray[np.uint32], NDArray[np.int64]]],
) -> tuple[NDArray[np.uint32], NDArray[np.int64]]:
    """Sum sparse histograms given as (strictly increasing codes, counts) into one, by
    pairwise merges (O(n log parts)).

    >>> a = (np.array([1, 5], np.uint32), np.array([2, 3]))
    >>> b = (np.array([5, 7], np.uint32), np.array([1, 1]))
    >>> [x.tolist() for x in merge_sorted_counts([a, b])]
    [[1, 5, 7], [2, 4, 1]]
    """
    level = [
        (np.ascontiguousarray(c, np.uint32), np.ascontiguousarray(n, np.int64)) for c, n in parts
    ]
    if not level:
        return np.zeros(0, np.uint32), np.zeros(0, np.int64)
    while len(level) > 1:
        nxt = [_merge_two(*level[i], *level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]
