"""Per-block kernels on NumPy arrays: nearest center, partial sums, farthest point, histogram.

Every kernel here is a plain function of NumPy arrays, testable without dask. Distances are
float64, summed channel by channel in order (``_dist_to``), and ties go to the lowest center
index. Every search (the pruned one of the pixel path, the boxed one of the distinct colors)
finds exactly the brute-force nearest center, and integer sums are exact, which is what
makes the pixel and histogram paths bit-identical. The loops are fused (no N x K
temporary) and release the GIL, so the threads of one worker run them in parallel.
"""

from __future__ import annotations

import threading

import numba
import numpy as np
from numpy.typing import NDArray

from daskquant._engine._sorting import merge_sorted_counts, z_order

__all__ = [
    "CODE_BITS",
    "INT_DTYPES",
    "Boxes",
    "assign_labels",
    "band_stats",
    "box_bounds",
    "box_gap",
    "box_size",
    "boxed_partial_sums",
    "code_bins",
    "color_codes",
    "decode_colors",
    "farthest_members",
    "lookup_labels",
    "merge_farthest",
    "merge_histograms",
    "min_distances",
    "partial_sums",
    "scratch_table",
    "search_tables",
    "sparse_histogram",
    "z_order",
]

# Integer dtypes whose sums and squares are accumulated exactly in int64.
INT_DTYPES = (np.dtype(np.uint8), np.dtype(np.int8), np.dtype(np.uint16), np.dtype(np.int16))

_jit = numba.njit(nogil=True, cache=True)


@numba.njit(nogil=True, cache=True)
def band_stats(px):  # type: ignore[no-untyped-def]
    """One pass over (P, C) ``px``: per-band min and max of the rows whose every value is
    finite (float64), the number of the other rows, and whether every finite row's values
    are integers. (NumPy's ``min(axis=0)`` on a narrow (P, C) array is many times slower.)"""
    n, c = px.shape
    low = np.full(c, np.inf)
    high = np.full(c, -np.inf)
    bad = 0
    integral = True
    for i in range(n):
        ok = True
        for j in range(c):
            if not np.isfinite(np.float64(px[i, j])):
                ok = False
        if not ok:
            bad += 1
            continue
        for j in range(c):
            v = np.float64(px[i, j])
            low[j] = min(low[j], v)
            high[j] = max(high[j], v)
            if integral and v != np.floor(v):
                integral = False
    return low, high, bad, integral


@numba.njit(nogil=True, cache=True, inline="always")
def _dist_to(px, i, centers, k):  # type: ignore[no-untyped-def]
    d = 0.0
    for j in range(centers.shape[1]):
        t = np.float64(px[i, j]) - centers[k, j]
        d += t * t
    return d


@numba.njit(nogil=True, cache=True, inline="always")
def box_gap(lo, hi, b, centers, q):  # type: ignore[no-untyped-def]
    # Squared distance from center q to box b (0 inside it), rounded as _dist_to rounds:
    # x - c is monotone in x, so no point of the box is nearer, even after rounding.
    g = 0.0
    for j in range(centers.shape[1]):
        x = centers[q, j]
        t = lo[b, j] - x if x < lo[b, j] else (hi[b, j] - x if x > hi[b, j] else 0.0)
        g += t * t
    return g


@numba.njit(nogil=True, cache=True, inline="always")
def _accumulate(px, i, w, a, d, sums, sq, counts, dist):  # type: ignore[no-untyped-def]
    # Point i, of weight w and squared distance d, joins cluster a.
    counts[a] += w
    dist[a] += w * d
    for j in range(px.shape[1]):
        v = px[i, j]
        sums[a, j] += w * v
        sq[a, j] += w * v * v


# The pruned search only skips a center with this much room, so rounding never changes a label.
_REL, _ABS = 1e-9, 1e-9
_GROUP = 16  # boxes whose union is tested against every center first (_boxed_kernel)


@numba.njit(nogil=True, cache=True, inline="always")
def _nearest(px, i, centers):  # type: ignore[no-untyped-def]
    best = 0
    best_d = np.inf
    for k in range(centers.shape[0]):
        d = _dist_to(px, i, centers, k)
        if d < best_d:
            best_d = d
            best = k
    return best, best_d


@numba.njit(nogil=True, cache=True, inline="always")
def _nearest_from(px, i, centers, gap, order, guess):  # type: ignore[no-untyped-def]
    # The same answer as _nearest (exact float64 distances, ties to the lowest index), found
    # from a guess: a center k can only be nearer than the guess a if its gap to a is below
    # 2 d(x, a) (triangle inequality). Centers are scanned by increasing gap to a, so with a
    # good guess (the previous pixel's center) only a few distances are computed.
    if gap.shape[0] == 0:
        return _nearest(px, i, centers)
    a = guess
    best = a
    best_d = _dist_to(px, i, centers, a)
    reach = 2.0 * np.sqrt(best_d) * (1.0 + _REL) + _ABS
    row = order[a]
    for q in range(row.shape[0]):
        k = row[q]
        if gap[a, k] > reach:
            break
        d = _dist_to(px, i, centers, k)
        if d < best_d or (d == best_d and k < best):
            best_d = d
            best = k
    return best, best_d


@numba.njit(nogil=True, cache=True, inline="always")
def _box_reach(lo, hi, b, centers, among, m):  # type: ignore[no-untyped-def]
    # The smallest distance, over centers among[:m], to the farthest corner of box b: every
    # point of the box is at most this far from one of them.
    reach = np.inf
    for t in range(m):
        q = among[t]
        far = 0.0
        for j in range(centers.shape[1]):
            u = max(abs(lo[b, j] - centers[q, j]), abs(hi[b, j] - centers[q, j]))
            far += u * u
        reach = min(reach, far)
    return reach


@numba.njit(nogil=True, cache=True, inline="always")
def _box_candidates(lo, hi, b, centers, among, m, cand, gaps):  # type: ignore[no-untyped-def]
    # The centers of among[:m] that can be nearest to a point of box b, into cand[:count]
    # by increasing gap to the box (stable), their gaps into gaps; returns count.
    reach = _box_reach(lo, hi, b, centers, among, m)
    count = 0
    for s in range(m):
        q = among[s]
        g = box_gap(lo, hi, b, centers, q)
        if g <= reach:
            t = count
            while t > 0 and gaps[t - 1] > g:
                cand[t] = cand[t - 1]
                gaps[t] = gaps[t - 1]
                t -= 1
            cand[t] = q
            gaps[t] = g
            count += 1
    if count == 0:  # only with NaN centers, which the callers refuse: search them all
        cand[:m] = among[:m]
        gaps[:m] = 0.0
        count = m
    return count


@_jit
def _boxed_kernel(  # type: ignore[no-untyped-def]
    px, weights, centers, lo, hi, box, b0, b1, near, cand, gaps, labels, sums, sq, counts, dist
):
    # For each box of points, the centers that can be nearest to one of its points: those
    # whose nearest corner of the box is no farther than the nearest farthest corner of
    # any center. The distances to a corner are rounded the way _dist_to rounds (x - c per
    # channel, squared, summed in order), and rounding is monotone, so a skipped center is
    # strictly farther than another for every point of the box: never nearest, never tied.
    # The same test on a group of _GROUP boxes first narrows the centers each box tests.
    # A box's candidates are sorted by their gap to it, which no point of the box beats;
    # each point starts from its last label and stops at the first gap beyond its best.
    n = px.shape[0]
    k = centers.shape[0]
    every = np.arange(k)
    glo = np.empty((1, lo.shape[1]))
    ghi = np.empty((1, lo.shape[1]))
    for g0 in range(b0, b1, _GROUP):
        g1 = min(b1, g0 + _GROUP)
        for j in range(lo.shape[1]):
            glo[0, j] = lo[g0:g1, j].min()
            ghi[0, j] = hi[g0:g1, j].max()
        n_near = _box_candidates(glo, ghi, 0, centers, every, k, near, gaps)
        for b in range(g0, g1):
            m = _box_candidates(lo, hi, b, centers, near, n_near, cand, gaps)
            for i in range(b * box, min(n, (b + 1) * box)):
                a = labels[i] if labels[i] < k else cand[0]
                d = _dist_to(px, i, centers, a)
                for t in range(m):
                    if gaps[t] > d:  # no later candidate is as near as a
                        break
                    q = cand[t]
                    if q == a:
                        continue
                    e = _dist_to(px, i, centers, q)
                    if e < d or (e == d and q < a):  # ties go to the lowest index
                        a, d = q, e
                labels[i] = a
                _accumulate(px, i, weights[i], a, d, sums, sq, counts, dist)


@_jit
def _partials_kernel(px, weights, mask, labels, centers, gap, order, sums, sq, counts, dist):  # type: ignore[no-untyped-def]
    # weights: (n,) or (0,) meaning 1; mask: (n,) uint8 or (0,), 0 = skip (transparent);
    # labels: (n,) or (0,) meaning "nearest center".
    n = px.shape[0]
    guess = 0
    for i in range(n):
        if mask.shape[0] and mask[i] == 0:
            continue
        if labels.shape[0]:
            k = labels[i]
            d = _dist_to(px, i, centers, k)
        else:
            k, d = _nearest_from(px, i, centers, gap, order, guess)
            guess = k
        _accumulate(px, i, weights[i] if weights.shape[0] else 1, k, d, sums, sq, counts, dist)


@_jit
def _assign_kernel(px, centers, gap, order, out):  # type: ignore[no-untyped-def]
    guess = 0
    for i in range(px.shape[0]):
        guess = _nearest_from(px, i, centers, gap, order, guess)[0]
        out[i] = guess


@_jit
def _min_dist_kernel(px, centers, gap, order, out):  # type: ignore[no-untyped-def]
    guess = 0
    for i in range(px.shape[0]):
        guess, out[i] = _nearest_from(px, i, centers, gap, order, guess)


@numba.njit(nogil=True, cache=True, inline="always")
def _color_order(px, i, other):  # type: ignore[no-untyped-def]
    # -1, 0, 1 as row i of px is lexicographically below, equal to, above the row `other`.
    for j in range(px.shape[1]):
        if px[i, j] != px[other, j]:
            return 1 if px[i, j] > px[other, j] else -1
    return 0


@_jit
def _farthest_kernel(px, mask, labels, centers, gap, order, k, base, top_d, top_i, top_n):  # type: ignore[no-untyped-def]
    # Keeps the len(top_d) farthest distinct colors among the members of cluster k, sorted
    # by distance, then color, both descending; top_n counts the members of each color.
    n, c = px.shape
    size = 0
    cap = top_d.shape[0]
    guess = 0
    for i in range(n):
        if mask.shape[0] and mask[i] == 0:
            continue
        if labels.shape[0]:
            if labels[i] != k:
                continue
        else:
            guess = _nearest_from(px, i, centers, gap, order, guess)[0]
            if guess != k:
                continue
        d = 0.0
        for j in range(c):
            t = np.float64(px[i, j]) - base[j]
            d += t * t
        if size == cap and d < top_d[size - 1]:
            continue
        # Find the place of (d, color); equal colors have equal distances.
        pos = 0
        same = -1
        while pos < size:
            if d > top_d[pos]:
                break
            if d == top_d[pos]:
                rel = _color_order(px, i, top_i[pos])
                if rel == 0:
                    same = pos
                    break
                if rel > 0:
                    break
            pos += 1
        if same >= 0:
            top_n[same] += 1
            continue
        if pos == cap:
            continue
        last = min(size, cap - 1)
        for q in range(last, pos, -1):
            top_d[q] = top_d[q - 1]
            top_i[q] = top_i[q - 1]
            top_n[q] = top_n[q - 1]
        top_d[pos], top_i[pos], top_n[pos] = d, i, 1
        size = min(size + 1, cap)
    return size


_SEARCH_MAX_K = 4096  # above this the K x K tables cost more than they save


def search_tables(
    centers: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.int32]]:
    """Gaps between centers (K, K) and, per center, the others by increasing gap (K, K-1).

    Used by the nearest-center search to skip centers that cannot be nearer than a guess.
    Empty tables (brute force) for K above ``_SEARCH_MAX_K``.
    """
    k = centers.shape[0]
    if k > _SEARCH_MAX_K:
        return np.empty((0, 0)), np.empty((0, 0), np.int32)
    gap = np.sqrt(((centers[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2))
    order = np.argsort(gap, axis=1, kind="stable").astype(np.int32)
    # Drop each row's own center (gap 0, first unless duplicated: then drop that index).
    own = order != np.arange(k, dtype=np.int32)[:, None]
    order = order[own].reshape(k, k - 1)
    return gap, np.ascontiguousarray(order)


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
    centers = np.ascontiguousarray(centers, np.float64)
    _partials_kernel(
        pixels,
        _or_empty(weights, np.int64),
        _or_empty(mask, np.uint8),
        _or_empty(labels, np.int32),
        centers,
        *search_tables(centers),
        sums,
        sq,
        counts,
        dist,
    )
    return sums, sq, counts, dist


class Boxes:
    """Weighted points (M, C) in Z-order, cut into runs with bounding boxes.

    Points close along the Z-order curve are close in space, so each box is small and only
    a few centers can be nearest to any of its points (:func:`boxed_partial_sums`).
    ``labels`` holds the memberships found by the last call, in box order.
    """

    def __init__(
        self,
        points: NDArray,
        weights: NDArray[np.int64],
        *,
        box: int,
        order: NDArray[np.int64] | None = None,
    ) -> None:
        self.box = box
        self.order = z_order(points) if order is None else order  # given: already computed
        self.points = np.ascontiguousarray(points[self.order])
        self.weights = np.ascontiguousarray(weights[self.order])
        self.lo, self.hi = box_bounds(self.points, box)
        self.labels = np.zeros(points.shape[0], np.int32)

    @property
    def n_boxes(self) -> int:
        return int(self.lo.shape[0])

    def labels_in_input_order(self) -> NDArray[np.int32]:
        out = np.empty_like(self.labels)
        out[self.order] = self.labels
        return out


def box_bounds(points: NDArray, box: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-channel minimum and maximum of each run of ``box`` points: (B, C) float64 each."""
    starts = np.arange(0, points.shape[0], box)
    lo = np.minimum.reduceat(points, starts, axis=0).astype(np.float64)
    hi = np.maximum.reduceat(points, starts, axis=0).astype(np.float64)
    return lo, hi


def box_size(n_centers: int) -> int:
    """Points per box: at least 256, and about K, so the per-box scan of the centers stays
    a small cost per point for any K."""
    return max(256, 1 << int(np.ceil(np.log2(max(n_centers, 1)))))


def boxed_partial_sums(
    boxes: Boxes, centers: NDArray[np.float64], first: int, stop: int
) -> tuple[NDArray, NDArray, NDArray[np.int64], NDArray[np.float64]]:
    """:func:`partial_sums` of boxes ``first`` to ``stop - 1`` of ``boxes``, weighted.

    Exactly the memberships of the brute-force search (stored in ``boxes.labels``), with a
    few distance computations per point instead of K. Sums are int64 for integer points
    and float64 for float points; several threads may work on disjoint box ranges.
    """
    k, c = centers.shape
    kind = np.int64 if boxes.points.dtype.kind in "iub" else np.float64
    sums = np.zeros((k, c), kind)
    sq = np.zeros((k, c), kind)
    counts = np.zeros(k, np.int64)
    dist = np.zeros(k, np.float64)
    _boxed_kernel(
        boxes.points,
        boxes.weights,
        np.ascontiguousarray(centers, np.float64),
        boxes.lo,
        boxes.hi,
        boxes.box,
        first,
        stop,
        np.empty(k, np.int64),
        np.empty(k, np.int64),
        np.empty(k, np.float64),
        boxes.labels,
        sums,
        sq,
        counts,
        dist,
    )
    return sums, sq, counts, dist


def assign_labels(pixels: NDArray, centers: NDArray[np.float64], dtype: np.dtype) -> NDArray:
    """Index of the nearest center of each point, (N, C) -> (N,) of ``dtype``."""
    out = np.empty(pixels.shape[0], dtype)
    centers = np.ascontiguousarray(centers, np.float64)
    _assign_kernel(pixels, centers, *search_tables(centers), out)
    return out


def min_distances(pixels: NDArray, centers: NDArray[np.float64]) -> NDArray[np.float64]:
    """Squared distance of each point to its nearest center, (N, C) -> (N,) float64."""
    out = np.empty(pixels.shape[0], np.float64)
    centers = np.ascontiguousarray(centers, np.float64)
    _min_dist_kernel(pixels, centers, *search_tables(centers), out)
    return out


def farthest_members(
    pixels: NDArray,
    centers: NDArray[np.float64],
    k: int,
    base: NDArray[np.float64],
    n: int,
    *,
    mask: NDArray[np.uint8] | None = None,
    labels: NDArray[np.int32] | None = None,
) -> tuple[NDArray[np.float64], NDArray, NDArray[np.int64]]:
    """The ``n`` members of cluster ``k`` farthest from ``base``, as distinct colors.

    Membership is the nearest of ``centers`` (or ``labels``). Sorted by distance, then
    color, both descending, so the answer does not depend on the order of the points.

    Returns
    -------
    distances : (m,) float64, colors : (m, C), counts : (m,) int64
        m <= n; counts are the members of each color.
    """
    if n <= 0:
        return np.empty(0), pixels[:0].copy(), np.empty(0, np.int64)
    top_d = np.full(n, -1.0)
    top_i = np.zeros(n, np.int64)
    top_n = np.zeros(n, np.int64)
    centers = np.ascontiguousarray(centers, np.float64)
    size = _farthest_kernel(
        pixels,
        _or_empty(mask, np.uint8),
        _or_empty(labels, np.int32),
        centers,
        *search_tables(centers),
        k,
        np.ascontiguousarray(base, np.float64),
        top_d,
        top_i,
        top_n,
    )
    return top_d[:size].copy(), pixels[top_i[:size]].copy(), top_n[:size].copy()


def merge_farthest(
    parts: list[tuple[NDArray[np.float64], NDArray, NDArray[np.int64]]], n: int
) -> tuple[NDArray[np.float64], NDArray, NDArray[np.int64]]:
    """Combine :func:`farthest_members` answers of disjoint point sets; keep the top ``n``."""
    ds = np.concatenate([p[0] for p in parts])
    colors = np.concatenate([p[1] for p in parts])
    counts = np.concatenate([p[2] for p in parts])
    if ds.shape[0] == 0:
        return ds, colors, counts
    # Sort by distance then color, both descending; merge equal colors.
    keys = [-colors[:, j].astype(np.float64) for j in reversed(range(colors.shape[1]))]
    order = np.lexsort([*keys, -ds])
    ds, colors, counts = ds[order], colors[order], counts[order]
    new = np.ones(ds.shape[0], bool)
    new[1:] = (colors[1:] != colors[:-1]).any(axis=1)
    starts = np.flatnonzero(new)
    merged = np.add.reduceat(counts, starts)
    return ds[starts][:n], colors[starts][:n], merged[:n]


CODE_BITS = 8  # bits per channel of a color code; see _codes.ColorCoding


def code_bins(channels: int) -> int:
    """How many color codes ``channels`` channels of CODE_BITS bits make."""
    return 1 << (CODE_BITS * channels)


def color_codes(pixels: NDArray[np.uint8]) -> NDArray[np.uint32]:
    """Pack (N, C<=3) uint8 colors into one integer each: r << 16 | g << 8 | b."""
    codes = np.zeros(pixels.shape[0], np.uint32)
    for j in range(pixels.shape[1]):
        codes <<= np.uint32(CODE_BITS)
        codes |= pixels[:, j]
    return codes


@numba.njit(nogil=True, cache=True, inline="always")
def _code_at(px, i):  # type: ignore[no-untyped-def]
    # color_codes for one pixel; the common channel counts spelled out so the loop unrolls.
    c = px.shape[1]
    if c == 3:
        return (np.uint32(px[i, 0]) << 16) | (np.uint32(px[i, 1]) << 8) | np.uint32(px[i, 2])
    if c == 1:
        return np.uint32(px[i, 0])
    code = np.uint32(0)
    for j in range(c):
        code = (code << 8) | np.uint32(px[i, j])
    return code


def lookup_labels(pixels: NDArray[np.uint8], table: NDArray) -> NDArray:
    """``table[color_codes(pixels)]`` in one pass, without the (N,) codes temporary."""
    out = np.empty(pixels.shape[0], table.dtype)
    _lookup(pixels, table, out)
    return out


@_jit
def _lookup(px, table, out):  # type: ignore[no-untyped-def]
    for i in range(px.shape[0]):
        out[i] = table[_code_at(px, i)]


def decode_colors(codes: NDArray[np.uint32], channels: int) -> NDArray[np.uint8]:
    """Inverse of :func:`color_codes`."""
    out = np.empty((codes.shape[0], channels), np.uint8)
    low = np.uint32((1 << CODE_BITS) - 1)
    for j in range(channels):
        out[:, j] = (codes >> np.uint32(CODE_BITS * (channels - 1 - j))) & low
    return out


@_jit
def _count_colors(px, mask, dense, touched):  # type: ignore[no-untyped-def]
    # Counts into a dense table and lists each code the first time it is seen.
    m = 0
    for i in range(px.shape[0]):
        if mask.shape[0] and mask[i] == 0:
            continue
        code = _code_at(px, i)
        count = dense[code]
        if count == 0:
            touched[m] = code
            m += 1
        dense[code] = count + 1
    return m


_scratch = threading.local()


def scratch_table(bins: int, dtype: type, fill: int) -> NDArray:
    """A table of ``bins`` entries equal to ``fill``, one per thread and (dtype, fill), reused.

    The caller puts back ``fill`` in every entry it changed before it returns, so a block
    costs O(pixels + distinct colors), not O(2^24) to clear a table.
    """
    tables = getattr(_scratch, "tables", None)
    if tables is None:
        tables = _scratch.tables = {}
    key = (np.dtype(dtype), fill)
    table = tables.get(key)
    if table is None or table.shape[0] != bins:
        table = tables[key] = np.full(bins, fill, dtype)
    return table


_MAX_BLOCK_PIXELS = (1 << 32) - 1  # counts of one pass fit the uint32 table


def sparse_histogram(
    pixels: NDArray[np.uint8], mask: NDArray[np.uint8] | None = None
) -> tuple[NDArray[np.uint32], NDArray[np.int64]]:
    """Distinct colors of (N, C<=3) uint8 pixels as (sorted codes, counts)."""
    n = pixels.shape[0]
    if n > _MAX_BLOCK_PIXELS:
        step = _MAX_BLOCK_PIXELS
        parts = [
            sparse_histogram(pixels[a : a + step], None if mask is None else mask[a : a + step])
            for a in range(0, n, step)
        ]
        return merge_histograms(parts, pixels.shape[1])
    bins = code_bins(pixels.shape[1])
    # uint32 counts (a block is split below 2^32 pixels) halve the table, which is what the
    # loop waits on.
    dense = scratch_table(bins, np.uint32, 0)
    touched = np.empty(min(n, bins), np.uint32)
    m = _count_colors(pixels, _or_empty(mask, np.uint8), dense, touched)
    codes = np.sort(touched[:m])
    counts = dense[codes].astype(np.int64)
    dense[codes] = 0
    return codes, counts


def merge_histograms(
    parts: list[tuple[NDArray[np.uint32], NDArray[np.int64]]], channels: int
) -> tuple[NDArray[np.uint32], NDArray[np.int64]]:
    """Sum sparse histograms (sorted distinct codes, counts) of ``channels`` channels into one."""
    return merge_sorted_counts(parts)


def _or_empty(a: NDArray | None, dtype: type) -> NDArray:
    return np.empty(0, dtype) if a is None else np.ascontiguousarray(a, dtype)
