"""The NumPy-block kernels against brute-force NumPy references (full N x K distances)."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.typing import NDArray

from daskquant._engine import _kernels as K

DTYPES = [np.uint8, np.int8, np.uint16, np.int16, np.float32, np.float64]
EXACT = (np.uint8, np.int8, np.uint16, np.int16)


# --- references -------------------------------------------------------------------------


def ref_distances(px: NDArray, centers: NDArray) -> NDArray[np.float64]:
    """Full (N, K) float64 squared distances, summed channel by channel in order."""
    x = px.astype(np.float64)
    d = np.zeros((x.shape[0], centers.shape[0]))
    for j in range(x.shape[1]):
        t = x[:, j, None] - centers[None, :, j]
        d += t * t
    return d


def ref_labels(px: NDArray, centers: NDArray) -> NDArray[np.intp]:
    # np.argmin returns the first minimum: ties go to the lowest center index.
    return ref_distances(px, centers).argmin(axis=1)


def ref_partials(
    px: NDArray,
    centers: NDArray,
    *,
    weights: NDArray | None = None,
    mask: NDArray | None = None,
    labels: NDArray | None = None,
) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    n, c = px.shape
    k = centers.shape[0]
    d = ref_distances(px, centers)
    lab = d.argmin(axis=1) if labels is None else labels.astype(np.intp)
    dmin = d[np.arange(n), lab]
    w = np.ones(n, np.int64) if weights is None else weights.astype(np.int64)
    keep = np.ones(n, bool) if mask is None else mask != 0
    acc = np.int64 if px.dtype in EXACT else np.float64
    v = px.astype(acc)
    sums, sq = np.zeros((k, c), acc), np.zeros((k, c), acc)
    counts, dist = np.zeros(k, np.int64), np.zeros(k)
    np.add.at(sums, lab[keep], (w[:, None] * v)[keep])
    np.add.at(sq, lab[keep], (w[:, None] * v * v)[keep])
    np.add.at(counts, lab[keep], w[keep])
    np.add.at(dist, lab[keep], (w * dmin)[keep])
    return sums, sq, counts, dist


def ref_farthest_members(
    px: NDArray,
    centers: NDArray,
    k: int,
    base: NDArray,
    n: int,
    *,
    mask: NDArray | None = None,
    labels: NDArray | None = None,
) -> tuple[NDArray[np.float64], NDArray, NDArray[np.int64]]:
    """Every distinct member color of cluster k with its count, sorted, cut to n.

    Sorted by distance to ``base``, then color (lexicographic), both descending.
    """
    lab = ref_labels(px, centers) if labels is None else labels
    eligible = lab == k
    if mask is not None:
        eligible &= mask != 0
    colors, counts = np.unique(px[eligible], axis=0, return_counts=True)
    d = ref_distances(colors, base[None, :])[:, 0]
    rows = sorted(
        zip(d.tolist(), map(tuple, colors.tolist()), counts.tolist(), strict=True), reverse=True
    )[:n]
    return (
        np.array([r[0] for r in rows], np.float64),
        np.array([r[1] for r in rows], px.dtype).reshape(len(rows), px.shape[1]),
        np.array([r[2] for r in rows], np.int64),
    )


# --- data -------------------------------------------------------------------------------


def make_pixels(rng: np.random.Generator, dtype: type, n: int, c: int, *, narrow: bool) -> NDArray:
    """Random pixels; ``narrow`` uses few distinct values so distances often tie exactly."""
    dt = np.dtype(dtype)
    if dt.kind == "f":
        if narrow:
            return rng.integers(0, 6, (n, c)).astype(dt)
        return (rng.random((n, c)) * 300 - 20).astype(dt)
    info = np.iinfo(dt)
    hi = info.min + 6 if narrow else info.max
    return rng.integers(info.min, hi, (n, c), endpoint=True).astype(dt)


def make_centers(rng: np.random.Generator, px: NDArray, k: int, *, narrow: bool) -> NDArray:
    lo, hi = px.min(axis=0).astype(np.float64), px.max(axis=0).astype(np.float64)
    if narrow:  # integer and half-integer centers, with a duplicate: exact ties everywhere
        centers = np.round(2 * (lo + rng.random((k, px.shape[1])) * (hi - lo))) / 2
        centers[-1] = centers[0]
        return centers
    return lo + rng.random((k, px.shape[1])) * (hi - lo)


def assert_partials_equal(got: tuple, want: tuple, exact: bool) -> None:
    sums, sq, counts, dist = got
    assert sums.dtype == (np.int64 if exact else np.float64)
    assert sq.dtype == sums.dtype
    assert counts.dtype == np.int64
    np.testing.assert_array_equal(counts, want[2])
    if exact:
        np.testing.assert_array_equal(sums, want[0])
        np.testing.assert_array_equal(sq, want[1])
    else:
        np.testing.assert_allclose(sums, want[0], rtol=1e-12)
        np.testing.assert_allclose(sq, want[1], rtol=1e-12)
    np.testing.assert_allclose(dist, want[3], rtol=1e-12, atol=1e-12)


# --- assign_labels ----------------------------------------------------------------------


@pytest.mark.parametrize("narrow", [False, True], ids=["wide", "ties"])
@pytest.mark.parametrize("c", [1, 3, 4])
@pytest.mark.parametrize("dtype", DTYPES)
def test_assign_labels_matches_brute_force(dtype: type, c: int, narrow: bool) -> None:
    rng = np.random.default_rng([DTYPES.index(dtype), c, narrow])
    px = make_pixels(rng, dtype, 3000, c, narrow=narrow)
    centers = make_centers(rng, px, 9, narrow=narrow)
    got = K.assign_labels(px, centers, np.dtype(np.int32))
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, ref_labels(px, centers))


def test_assign_labels_ties_go_to_lowest_index() -> None:
    px = np.array([[0, 0], [2, 0], [1, 0], [1, 1]], np.uint8)
    centers = np.array([[2.0, 0.0], [0.0, 0.0], [2.0, 0.0], [1.0, 1.0]])
    # (0,0): only center 1; (2,0): centers 0 and 2 tie -> 0; (1,0): 0,1,2,3 all at 1 -> 0.
    got = K.assign_labels(px, centers, np.dtype(np.uint8))
    np.testing.assert_array_equal(got, [1, 0, 0, 3])


@pytest.mark.parametrize("out", [np.uint8, np.uint16, np.int32])
def test_assign_labels_output_dtype(out: type) -> None:
    rng = np.random.default_rng(3)
    px = make_pixels(rng, np.uint8, 500, 3, narrow=False)
    centers = make_centers(rng, px, 5, narrow=False)
    got = K.assign_labels(px, centers, np.dtype(out))
    assert got.dtype == out
    np.testing.assert_array_equal(got, ref_labels(px, centers))


@pytest.mark.parametrize("k", [64, 700, 5000])
def test_nearest_search_many_centers(k: int) -> None:
    # The search prunes centers by their gaps to a guess (the previous point's center); it
    # must find exactly the brute-force nearest, with duplicate and tied centers, in any
    # point order, and also above the size where it falls back to brute force.
    rng = np.random.default_rng(k)
    px = make_pixels(rng, np.uint8, 1000 if k > 1000 else 3000, 3, narrow=False)
    centers = np.round(2 * px[rng.integers(0, px.shape[0], k)] + rng.integers(-3, 4, (k, 3))) / 2
    centers[1::7] = centers[0::7][: centers[1::7].shape[0]]  # duplicates
    want = ref_distances(px, centers)
    for order in (np.arange(px.shape[0]), np.lexsort(px.T), rng.permutation(px.shape[0])):
        x = px[order]
        np.testing.assert_array_equal(
            K.assign_labels(x, centers, np.dtype(np.int32)), want[order].argmin(axis=1)
        )
        np.testing.assert_array_equal(K.min_distances(x, centers), want[order].min(axis=1))
        assert_partials_equal(K.partial_sums(x, centers), ref_partials(x, centers), True)


# --- partial_sums -----------------------------------------------------------------------


@pytest.mark.parametrize("narrow", [False, True], ids=["wide", "ties"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_partial_sums_nearest(dtype: type, narrow: bool) -> None:
    rng = np.random.default_rng(11)
    px = make_pixels(rng, dtype, 2000, 3, narrow=narrow)
    centers = make_centers(rng, px, 7, narrow=narrow)
    got = K.partial_sums(px, centers)
    assert_partials_equal(got, ref_partials(px, centers), dtype in EXACT)
    assert got[2].sum() == px.shape[0]


@pytest.mark.parametrize("dtype", DTYPES)
def test_partial_sums_weights_mask_labels(dtype: type) -> None:
    rng = np.random.default_rng(12)
    px = make_pixels(rng, dtype, 1500, 3, narrow=False)
    centers = make_centers(rng, px, 6, narrow=False)
    weights = rng.integers(1, 1000, px.shape[0]).astype(np.int64)
    mask = (rng.random(px.shape[0]) < 0.7).astype(np.uint8)
    labels = rng.integers(0, 6, px.shape[0]).astype(np.int32)
    exact = dtype in EXACT
    for kw in (
        {"weights": weights},
        {"mask": mask},
        {"labels": labels},
        {"weights": weights, "mask": mask},
        {"mask": mask, "labels": labels},
    ):
        want = ref_partials(px, centers, **kw)
        assert_partials_equal(K.partial_sums(px, centers, **kw), want, exact)
    masked = K.partial_sums(px, centers, mask=mask)
    assert masked[2].sum() == mask.sum()


def test_partial_sums_uint16_squares_do_not_overflow() -> None:
    px = np.full((1000, 3), 65535, np.uint16)
    sums, sq, counts, _ = K.partial_sums(px, np.array([[0.0, 0.0, 0.0], [65535.0] * 3]))
    np.testing.assert_array_equal(counts, [0, 1000])
    assert sums[1, 0] == 1000 * 65535
    assert sq[1, 0] == 1000 * 65535**2


def test_partial_sums_empty_block() -> None:
    centers = np.array([[0.0, 1.0], [2.0, 3.0]])
    sums, sq, counts, dist = K.partial_sums(np.empty((0, 2), np.uint8), centers)
    assert sums.shape == sq.shape == (2, 2)
    assert not sums.any() and not sq.any() and not counts.any() and not dist.any()


# --- farthest_members and merge_farthest -----------------------------------------------


def assert_farthest_equal(got: tuple, want: tuple, dtype: type) -> None:
    d, colors, counts = got
    assert d.dtype == np.float64 and colors.dtype == dtype and counts.dtype == np.int64
    assert d.shape[0] == colors.shape[0] == counts.shape[0]
    # Distances are computed exactly as the reference does: equal, not close.
    np.testing.assert_array_equal(d, want[0])
    np.testing.assert_array_equal(colors, want[1])
    np.testing.assert_array_equal(counts, want[2])


@pytest.mark.parametrize("dtype", DTYPES)
def test_farthest_members_matches_reference(dtype: type) -> None:
    rng = np.random.default_rng(21)
    px = make_pixels(rng, dtype, 1500, 3, narrow=True)  # many equal distances and colors
    centers = make_centers(rng, px, 4, narrow=False)
    lab = ref_labels(px, centers)
    mask = (rng.random(px.shape[0]) < 0.8).astype(np.uint8)
    labels = rng.integers(0, 4, px.shape[0]).astype(np.int32)
    n_distinct = np.unique(px, axis=0).shape[0]
    checked = 0
    for k in range(4):
        if not (lab == k).any():
            continue
        base = np.round(px[lab == k].astype(np.float64).mean(axis=0))
        for kw in ({}, {"mask": mask}, {"labels": labels}, {"mask": mask, "labels": labels}):
            for n in (1, 2, 7, 40, n_distinct + 5):
                want = ref_farthest_members(px, centers, k, base, n, **kw)
                got = K.farthest_members(px, centers, k, base, n, **kw)
                assert_farthest_equal(got, want, dtype)
                checked += got[0].shape[0]
    assert checked > 0


def test_farthest_members_ties_sorted_by_color_and_counted() -> None:
    # (0,3), (3,0), (3,0) are all at distance 9 from (0,0): (3,0) first, counted twice.
    px = np.array([[0, 3], [1, 1], [3, 0], [0, 0], [3, 0], [1, 1], [1, 1]], np.uint8)
    centers = np.array([[1.0, 1.0]])
    want = ([9.0, 9.0, 2.0, 0.0], [[3, 0], [0, 3], [1, 1], [0, 0]], [2, 1, 3, 1])
    rng = np.random.default_rng(0)
    for order in [np.arange(7), np.arange(7)[::-1], *(rng.permutation(7) for _ in range(20))]:
        for n in (1, 2, 3, 4, 10):  # n = 10 is more than the 4 distinct member colors
            d, colors, counts = K.farthest_members(px[order], centers, 0, np.zeros(2), n)
            assert d.tolist() == want[0][:n]
            assert colors.tolist() == want[1][:n]
            assert counts.tolist() == want[2][:n]


def test_farthest_members_duplicate_colors_are_one_entry() -> None:
    # 500 copies of 3 colors: the answer has 3 entries however large n is.
    rng = np.random.default_rng(1)
    colors = np.array([[10, 20, 30], [200, 0, 0], [0, 0, 200]], np.uint16)
    px = colors[rng.integers(0, 3, 500)]
    base = np.array([0.0, 0.0, 0.0])
    d, got, counts = K.farthest_members(px, np.zeros((1, 3)), 0, base, 64)
    assert got.shape == (3, 3) and counts.sum() == 500
    want = ref_farthest_members(px, np.zeros((1, 3)), 0, base, 64)
    assert_farthest_equal((d, got, counts), want, np.uint16)
    # (200,0,0) and (0,0,200) tie at 40000: the larger color comes first.
    assert got[:2].tolist() == [[200, 0, 0], [0, 0, 200]]


def test_farthest_members_no_eligible_member() -> None:
    px = np.array([[0, 0], [1, 1]], np.uint8)
    centers = np.array([[0.0, 0.0], [100.0, 100.0]])
    for kw in ({}, {"mask": np.zeros(2, np.uint8)}):
        k = 1 if not kw else 0
        d, colors, counts = K.farthest_members(px, centers, k, np.zeros(2), 3, **kw)
        assert d.shape == (0,) and colors.shape == (0, 2) and counts.shape == (0,)
        assert colors.dtype == np.uint8
    d, colors, counts = K.farthest_members(np.empty((0, 2), np.uint8), centers, 0, np.zeros(2), 3)
    assert d.shape == counts.shape == (0,) and colors.shape == (0, 2)


def test_merge_farthest_hand_example() -> None:
    # The same color found in two parts is merged and its counts added.
    a = (np.array([9.0, 4.0]), np.array([[3, 0], [2, 0]], np.uint8), np.array([1, 5]))
    b = (np.array([9.0, 9.0]), np.array([[3, 0], [0, 3]], np.uint8), np.array([2, 7]))
    empty = (np.empty(0), np.empty((0, 2), np.uint8), np.empty(0, np.int64))
    d, colors, counts = K.merge_farthest([a, empty, b], 3)
    assert d.tolist() == [9.0, 9.0, 4.0]
    assert colors.tolist() == [[3, 0], [0, 3], [2, 0]]
    assert counts.tolist() == [3, 7, 5]
    d, colors, counts = K.merge_farthest([empty, empty], 3)
    assert d.shape == (0,) and colors.shape == (0, 2) and counts.shape == (0,)


# --- min_distances ----------------------------------------------------------------------


@pytest.mark.parametrize("narrow", [False, True], ids=["wide", "ties"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_min_distances_matches_brute_force(dtype: type, narrow: bool) -> None:
    rng = np.random.default_rng([41, DTYPES.index(dtype)])
    px = make_pixels(rng, dtype, 2000, 3, narrow=narrow)
    centers = make_centers(rng, px, 7, narrow=narrow)
    got = K.min_distances(px, centers)
    assert got.dtype == np.float64 and got.shape == (px.shape[0],)
    np.testing.assert_array_equal(got, ref_distances(px, centers).min(axis=1))
    # A point on a center is at distance 0.
    assert np.all(K.min_distances(px[:5], px[:5].astype(np.float64)) == 0)
    assert K.min_distances(px[:0], centers).shape == (0,)


# --- boxed_partial_sums (Z-order boxes) ---------------------------------------------------


def weighted_colors(image: NDArray[np.uint8], c: int) -> tuple[NDArray[np.uint8], NDArray]:
    """Distinct colors of the first ``c`` channels of an image, with their pixel counts."""
    codes, counts = K.sparse_histogram(np.ascontiguousarray(image.reshape(-1, 3)[:, :c]))
    return K.decode_colors(codes, c), counts


def lloyd_step(colors: NDArray, counts: NDArray, centers: NDArray) -> NDArray[np.float64]:
    sums, _, n, _ = ref_partials(colors, centers, weights=counts)
    means = sums / np.maximum(n, 1)[:, None]
    return np.where(n[:, None] > 0, means, centers)


def center_sequence(
    colors: NDArray[np.uint8], counts: NDArray, k: int, rng: np.random.Generator
) -> list[NDArray[np.float64]]:
    """16 center sets over the colors: Lloyd moves, far jumps, duplicates, exact ties."""
    x = colors.astype(np.float64)
    c = x[rng.choice(x.shape[0], k, replace=False)]
    seq = [c]
    for _ in range(5):  # Lloyd: small moves, shrinking
        seq.append(lloyd_step(colors, counts, seq[-1]))
    seq.append(seq[-1] + rng.uniform(-2000, 2000, c.shape))  # far out of the data
    seq.append(rng.uniform(-300, 600, c.shape))  # and back, anywhere around it
    dup = lloyd_step(colors, counts, seq[-1])
    dup[-1] = dup[0]  # duplicate centers: their gap is 0
    dup[k // 2] = dup[0]
    seq.append(dup)
    seq.append(lloyd_step(colors, counts, dup))
    # Exact ties, reached by a small move: color p[m] is nearer to center 2m+1 (x + v) than
    # to center 2m (x - 1.01 v); then center 2m moves to x - v, and p[m] must go to the
    # lower index 2m. Integer vectors v keep the tied distances exactly equal.
    p = x[rng.choice(x.shape[0], k, replace=False)]
    v = rng.integers(1, 9, c.shape).astype(np.float64)
    near, tie = seq[-1].copy(), seq[-1].copy()
    for m in range(k // 2):
        near[2 * m + 1] = tie[2 * m + 1] = p[m] + v[m]
        near[2 * m] = p[m] - 1.01 * v[m]
        tie[2 * m] = p[m] - v[m]
    seq += [near, tie]
    seq.append(np.round(2 * lloyd_step(colors, counts, tie)) / 2)  # half-integers: ties
    seq.append(np.tile(x[rng.integers(x.shape[0])], (k, 1)))  # all K centers in one place
    seq.append(x[rng.choice(x.shape[0], k, replace=False)])  # centers on colors
    seq.append(lloyd_step(colors, counts, seq[-1]))
    return seq


PARTS = {  # box ranges, as edges, for n boxes
    "whole": lambda n: [0, n],
    "halves": lambda n: [0, n // 2, n],
    "three": lambda n: [0, min(1, n), max(1, n // 2), n],
}


def check_boxed_sequence(
    colors: NDArray,
    counts: NDArray,
    seq: list[NDArray],
    parts: str = "whole",
    box: int | None = None,
) -> None:
    """Every step of ``seq``: boxed partials (summed over box ranges) = brute force."""
    for step, centers in enumerate(seq):
        boxes = K.Boxes(colors, counts, box=box or K.box_size(centers.shape[0]))
        edges = PARTS[parts](boxes.n_boxes)
        got = [K.boxed_partial_sums(boxes, centers, a, b) for a, b in itertools.pairwise(edges)]
        total = tuple(sum(g[i] for g in got) for i in range(4))
        want = ref_partials(colors, centers, weights=counts)
        try:
            assert_partials_equal(total, want, exact=True)
            # The kept memberships are the nearest centers too (used for the lookup table).
            labels = boxes.labels_in_input_order()
            np.testing.assert_array_equal(labels, ref_labels(colors, centers))
        except AssertionError as e:
            raise AssertionError(f"step {step}: {e}") from None


@pytest.mark.parametrize("box", [None, 7])
@pytest.mark.parametrize("parts", sorted(PARTS))
@pytest.mark.parametrize(("c", "k"), [(3, 12), (1, 6), (3, 1), (2, 5)])
def test_boxed_partial_sums_equal_brute_force(
    astronaut: NDArray[np.uint8], c: int, k: int, parts: str, box: int | None
) -> None:
    colors, counts = weighted_colors(astronaut, c)
    assert colors.shape[0] > 150
    seq = center_sequence(colors, counts, k, np.random.default_rng([c, k]))
    assert len(seq) >= 10
    check_boxed_sequence(colors, counts, seq, parts, box)


def test_boxed_partial_sums_float_points(astronaut: NDArray[np.uint8]) -> None:
    # Lab-like float points: float64 sums, the same memberships as brute force.
    colors, counts = weighted_colors(astronaut, 3)
    points = colors * np.array([0.37, 1.13, 0.71]) - 20.5
    seq = center_sequence(colors, counts, 9, np.random.default_rng(9))
    boxes = K.Boxes(points, counts, box=64)
    for centers in seq[:6]:
        centers = centers * np.array([0.37, 1.13, 0.71]) - 20.5
        sums, sq, n, d = K.boxed_partial_sums(boxes, centers, 0, boxes.n_boxes)
        want = ref_partials(points, centers, weights=counts)
        assert sums.dtype == np.float64
        np.testing.assert_array_equal(n, want[2])
        np.testing.assert_allclose(sums, want[0], rtol=1e-12)
        np.testing.assert_allclose(sq, want[1], rtol=1e-12)
        np.testing.assert_allclose(d, want[3], rtol=1e-12)
        np.testing.assert_array_equal(boxes.labels_in_input_order(), ref_labels(points, centers))


def test_boxed_partial_sums_when_k_changes(astronaut: NDArray[np.uint8]) -> None:
    # k-means|| candidate sets grow: the box size follows K.
    colors, counts = weighted_colors(astronaut, 3)
    rng = np.random.default_rng(5)
    seq: list[NDArray] = []
    for k in (6, 6, 4, 9, 9, 1, 1, 6):
        start = colors[rng.choice(colors.shape[0], k, replace=False)].astype(np.float64)
        seq += [start, lloyd_step(colors, counts, start)]
    check_boxed_sequence(colors, counts, seq, "halves")


@pytest.mark.parametrize("c", [1, 3])
def test_boxed_partial_sums_tight_ties(c: int) -> None:
    # Color p is nearer to center 2m+1 (p + v) than to center 2m (p - f v); center 2m then
    # moves to p - v, an exact tie that must go to the lower index, with small boxes
    # whose corners tie too.
    rng = np.random.default_rng(c)
    colors = np.unique(rng.integers(0, 256, (3000, c)).astype(np.uint8), axis=0)
    counts = rng.integers(1, 50, colors.shape[0]).astype(np.int64)
    x = colors.astype(np.float64)
    for _ in range(60):
        p = x[rng.choice(x.shape[0], 3, replace=False)]
        f = 1 + rng.choice([1 / 3, 0.1, 0.01, 1 / 7, 0.3])
        v = rng.integers(1, 30, (3, c)).astype(np.float64)
        near, tie = np.empty((6, c)), np.empty((6, c))
        near[1::2] = tie[1::2] = p + v
        near[0::2] = p - f * v
        tie[0::2] = p - v
        check_boxed_sequence(colors, counts, [near, tie], box=5)


def test_boxed_partial_sums_after_centers_far_away() -> None:
    # Gray ramp; start centers far out (a user may pass any finite init), then a normal step.
    colors = np.arange(256, dtype=np.uint8)[:, None]
    counts = np.ones(256, np.int64)
    seq = [np.array([[3.3e17], [-3e17]]), np.array([[100.1], [50.2]])]
    check_boxed_sequence(colors, counts, seq, box=16)


# --- color codes and the histogram ------------------------------------------------------


@pytest.mark.parametrize("c", [1, 2, 3])
def test_color_codes_roundtrip(c: int) -> None:
    rng = np.random.default_rng(31)
    px = rng.integers(0, 256, (4000, c)).astype(np.uint8)
    codes = K.color_codes(px)
    assert codes.dtype == np.uint32
    want = np.zeros(px.shape[0], np.int64)
    for j in range(c):
        want = want * 256 + px[:, j]
    np.testing.assert_array_equal(codes, want)
    np.testing.assert_array_equal(K.decode_colors(codes, c), px)
    extremes = np.array([[0] * c, [255] * c], np.uint8)
    np.testing.assert_array_equal(K.color_codes(extremes), [0, 256**c - 1])


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("c", [1, 2, 3])
def test_sparse_histogram_matches_unique(c: int, masked: bool) -> None:
    rng = np.random.default_rng(32)
    px = (rng.integers(0, 16, (5000, c)) * 17).astype(np.uint8)
    mask = (rng.random(px.shape[0]) < 0.5).astype(np.uint8) if masked else None
    codes, counts = K.sparse_histogram(px, mask)
    kept = px if mask is None else px[mask != 0]
    colors, want_counts = np.unique(kept, axis=0, return_counts=True)
    assert codes.dtype == np.uint32 and counts.dtype == np.int64
    assert np.all(np.diff(codes.astype(np.int64)) > 0)
    np.testing.assert_array_equal(K.decode_colors(codes, c), colors)
    np.testing.assert_array_equal(counts, want_counts)


def test_sparse_histogram_split_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    # Blocks past the uint32 count limit are counted in pieces and merged.
    rng = np.random.default_rng(33)
    px = (rng.integers(0, 4, (10_001, 3)) * 80).astype(np.uint8)
    want = K.sparse_histogram(px)
    monkeypatch.setattr(K, "_MAX_BLOCK_PIXELS", 999)
    got = K.sparse_histogram(px)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("table_dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("c", [1, 2, 3])
def test_lookup_labels_matches_numpy_indexing(c: int, table_dtype: type) -> None:
    rng = np.random.default_rng(34)
    rgba = rng.integers(0, 256, (3000, 4)).astype(np.uint8)
    px = rgba[:, :c]  # a strided view, as a block with alpha gives
    table = rng.integers(0, np.iinfo(table_dtype).max, 1 << (8 * c)).astype(table_dtype)
    got = K.lookup_labels(px, table)
    assert got.dtype == table_dtype
    np.testing.assert_array_equal(got, table[K.color_codes(np.ascontiguousarray(px))])


def test_sparse_histogram_real_photo(astronaut: NDArray[np.uint8]) -> None:
    px = astronaut.reshape(-1, 3)
    codes, counts = K.sparse_histogram(px)
    colors, want_counts = np.unique(px, axis=0, return_counts=True)
    np.testing.assert_array_equal(K.decode_colors(codes, 3), colors)
    np.testing.assert_array_equal(counts, want_counts)


# --- properties -------------------------------------------------------------------------


def pixels_and_centers(dtype: type) -> st.SearchStrategy[tuple[NDArray, NDArray]]:
    @st.composite
    def strategy(draw: st.DrawFn) -> tuple[NDArray, NDArray]:
        c = draw(st.integers(1, 4))
        n = draw(st.integers(1, 300))
        k = draw(st.integers(1, 20))
        elements = (
            st.floats(-1e3, 1e3, width=32)
            if np.dtype(dtype).kind == "f"
            else st.integers(np.iinfo(dtype).min, np.iinfo(dtype).max)
        )
        px = draw(hnp.arrays(dtype, (n, c), elements=elements))
        centers = draw(hnp.arrays(np.float64, (k, c), elements=st.floats(-1e3, 1e5)))
        return px, centers

    return strategy()


@settings(max_examples=60, deadline=None)
@given(data=st.one_of(*(pixels_and_centers(t) for t in (np.uint8, np.uint16, np.float32))))
def test_property_labels_in_range_and_nearest(data: tuple[NDArray, NDArray]) -> None:
    px, centers = data
    labels = K.assign_labels(px, centers, np.dtype(np.int32))
    assert labels.shape == (px.shape[0],)
    assert labels.min() >= 0 and labels.max() < centers.shape[0]
    np.testing.assert_array_equal(labels, ref_labels(px, centers))


@settings(max_examples=60, deadline=None)
@given(data=st.one_of(pixels_and_centers(np.uint8)), repeat=st.integers(1, 5))
def test_property_weighted_unique_colors_equal_pixels(
    data: tuple[NDArray, NDArray], repeat: int
) -> None:
    px, centers = data
    if px.shape[1] > 3:
        px = px[:, :3]
        centers = centers[:, :3]
    px = np.repeat(px, repeat, axis=0)  # force repeated colors
    codes, counts = K.sparse_histogram(px)
    colors = K.decode_colors(codes, px.shape[1])
    weighted = K.partial_sums(colors, centers, weights=counts)
    plain = K.partial_sums(px, centers)
    for a, b in zip(weighted[:3], plain[:3], strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(weighted[3], plain[3], rtol=1e-12)


@st.composite
def split_points(draw: st.DrawFn) -> dict:
    """Points from a small alphabet (ties, repeats), centers, a query, and a split of them."""
    dtype = draw(st.sampled_from([np.uint8, np.int16, np.float32]))
    c = draw(st.integers(1, 3))
    n = draw(st.integers(0, 120))
    if np.dtype(dtype).kind == "f":  # quarters: exact, and no -0.0
        values: st.SearchStrategy = st.integers(-8, 8).map(lambda v: v / 4 + 0.0)
    else:
        values = st.integers(0, 5) if dtype is np.uint8 else st.integers(-3, 3)
    px = draw(hnp.arrays(dtype, (n, c), elements=values))
    n_centers = draw(st.integers(1, 4))
    centers = draw(hnp.arrays(np.float64, (n_centers, c), elements=st.integers(-4, 6)))
    return {
        "px": px,
        "centers": centers,
        "k": draw(st.integers(0, n_centers - 1)),
        "base": draw(hnp.arrays(np.float64, (c,), elements=st.integers(-4, 6).map(float))),
        "n": draw(st.integers(1, 8)),
        "part": draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, 3))),
        "mask": draw(st.none() | hnp.arrays(np.uint8, (n,), elements=st.integers(0, 1))),
        "labels": draw(
            st.none() | hnp.arrays(np.int32, (n,), elements=st.integers(0, n_centers - 1))
        ),
    }


@settings(max_examples=150, deadline=None)
@given(case=split_points(), order=st.randoms(use_true_random=False))
def test_property_merge_farthest_of_a_split_is_the_whole(case: dict, order: Any) -> None:
    px, centers, k, base, n = (case[key] for key in ("px", "centers", "k", "base", "n"))
    mask, labels = case["mask"], case["labels"]
    whole = K.farthest_members(px, centers, k, base, n, mask=mask, labels=labels)
    assert_farthest_equal(
        whole,
        ref_farthest_members(px, centers, k, base, n, mask=mask, labels=labels),
        px.dtype.type,
    )
    parts = []
    for p in range(4):
        sel = case["part"] == p
        parts.append(
            K.farthest_members(
                px[sel],
                centers,
                k,
                base,
                n,
                mask=None if mask is None else mask[sel],
                labels=None if labels is None else labels[sel],
            )
        )
    order.shuffle(parts)  # the merge does not depend on the order of the parts
    assert_farthest_equal(K.merge_farthest(parts, n), whole, px.dtype.type)


@st.composite
def center_walks(draw: st.DrawFn) -> tuple[NDArray, NDArray, list[NDArray]]:
    """Weighted uint8 colors and a walk of center sets: jumps, nudges, copies, ties."""
    c = draw(st.integers(1, 3))
    colors = np.unique(
        draw(hnp.arrays(np.uint8, (draw(st.integers(1, 60)), c), elements=st.integers(0, 12))),
        axis=0,
    )
    counts = draw(hnp.arrays(np.int64, (colors.shape[0],), elements=st.integers(1, 1000)))
    k = draw(st.integers(1, 6))
    coords = st.integers(-4, 30).map(lambda v: v / 2)  # halves: exact ties between centers
    walk = [draw(hnp.arrays(np.float64, (k, c), elements=coords))]
    for _ in range(draw(st.integers(1, 8))):
        prev = walk[-1]
        kind = draw(st.sampled_from(["jump", "nudge", "copy", "lloyd"]))
        if kind == "jump":
            step = draw(hnp.arrays(np.float64, (k, c), elements=coords))
        elif kind == "nudge":
            step = prev + draw(hnp.arrays(np.float64, (k, c), elements=coords)) / 16
        elif kind == "copy":
            step = prev.copy()
            step[draw(st.integers(0, k - 1))] = prev[draw(st.integers(0, k - 1))]
        else:
            step = lloyd_step(colors, counts, prev)
        walk.append(step)
    return colors, counts, walk


@settings(max_examples=150, deadline=None)
@given(data=center_walks(), box=st.integers(1, 40), parts=st.sampled_from(sorted(PARTS)))
def test_property_boxed_partial_sums_equal_brute_force(
    data: tuple[NDArray, NDArray, list[NDArray]], box: int, parts: str
) -> None:
    colors, counts, walk = data
    check_boxed_sequence(colors, counts, walk, parts, box)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32, np.float64])
def test_band_stats_against_numpy(dtype: type) -> None:
    rng = np.random.default_rng(3)
    px = (rng.random((5000, 4)) * 200).astype(dtype)
    if np.dtype(dtype).kind == "f":
        px[::7, 2] = np.nan  # a NaN in one band leaves the whole row out
        px[5::11, 0] = np.inf
    low, high, bad, integral = K.band_stats(px)
    keep = np.isfinite(px.astype(np.float64)).all(axis=1)
    assert bad == int((~keep).sum())
    np.testing.assert_array_equal(low, px[keep].min(axis=0).astype(np.float64))
    np.testing.assert_array_equal(high, px[keep].max(axis=0).astype(np.float64))
    assert integral == bool((px[keep] == np.rint(px[keep])).all())
    assert integral == (np.dtype(dtype).kind != "f")
    # A strided view (the clustered bands before an alpha band), and integer-valued floats.
    _, _, _, whole = K.band_stats(np.rint(px[keep].astype(np.float32))[:, :3])
    assert whole
