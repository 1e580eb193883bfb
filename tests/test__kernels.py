"""The NumPy-block kernels against brute-force NumPy references (full N x K distances)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.typing import NDArray

from daskquant import _kernels as K

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


def ref_farthest(
    px: NDArray,
    centers: NDArray,
    k: int,
    base: NDArray,
    excluded: NDArray,
    *,
    mask: NDArray | None = None,
    labels: NDArray | None = None,
) -> tuple[float, NDArray | None, int]:
    lab = ref_labels(px, centers) if labels is None else labels
    eligible = lab == k
    if mask is not None:
        eligible &= mask != 0
    for e in excluded:
        eligible &= ~(px == e).all(axis=1)
    if not eligible.any():
        return -1.0, None, 0
    members = px[eligible]
    d = ref_distances(members, base[None, :])[:, 0]
    far = members[d == d.max()]
    best = max(tuple(row) for row in far.tolist())  # lexicographically largest color
    count = int((members == np.array(best, px.dtype)).all(axis=1).sum())
    return float(d.max()), np.array(best, px.dtype), count


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


# --- farthest_member --------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_farthest_member_matches_reference(dtype: type) -> None:
    rng = np.random.default_rng(21)
    px = make_pixels(rng, dtype, 1500, 3, narrow=True)  # many equal distances and colors
    centers = make_centers(rng, px, 4, narrow=False)
    lab = ref_labels(px, centers)
    mask = (rng.random(px.shape[0]) < 0.8).astype(np.uint8)
    labels = rng.integers(0, 4, px.shape[0]).astype(np.int32)
    checked = 0
    for k in range(4):
        if not (lab == k).any():
            continue
        base = np.round(px[lab == k].astype(np.float64).mean(axis=0))
        excluded = np.empty((0, 3), px.dtype)
        for kw in ({}, {"mask": mask}, {"labels": labels}):
            for _ in range(3):  # exclude the answer and ask again
                want = ref_farthest(px, centers, k, base, excluded, **kw)
                got = K.farthest_member(px, centers, k, base, excluded, **kw)
                assert got[0] == want[0]
                assert got[2] == want[2]
                if want[1] is None:
                    assert got[1] is None
                    break
                assert got[1] is not None and got[1].dtype == px.dtype
                np.testing.assert_array_equal(got[1], want[1])
                excluded = np.concatenate([excluded, got[1][None]])
                checked += 1
            excluded = np.empty((0, 3), px.dtype)
    assert checked > 0


def test_farthest_member_tie_breaks_to_larger_color_and_counts() -> None:
    # (0,3), (3,0) and (3,0) are all at distance 9 from (0,0); (3,0) wins and is counted twice.
    px = np.array([[0, 3], [1, 1], [3, 0], [0, 0], [3, 0]], np.uint8)
    centers = np.array([[1.0, 1.0]])
    d, color, n = K.farthest_member(px, centers, 0, np.zeros(2), np.empty((0, 2), np.uint8))
    assert (d, color.tolist(), n) == (9.0, [3, 0], 2)
    reversed_ = K.farthest_member(px[::-1], centers, 0, np.zeros(2), np.empty((0, 2), np.uint8))
    assert (reversed_[0], reversed_[1].tolist(), reversed_[2]) == (9.0, [3, 0], 2)
    d, color, n = K.farthest_member(px, centers, 0, np.zeros(2), np.array([[3, 0]], np.uint8))
    assert (d, color.tolist(), n) == (9.0, [0, 3], 1)


def test_farthest_member_no_eligible_member() -> None:
    px = np.array([[0, 0], [1, 1]], np.uint8)
    centers = np.array([[0.0, 0.0], [100.0, 100.0]])
    assert K.farthest_member(px, centers, 1, np.zeros(2), np.empty((0, 2))) == (-1.0, None, 0)
    mask = np.zeros(2, np.uint8)
    assert K.farthest_member(px, centers, 0, np.zeros(2), np.empty((0, 2)), mask=mask) == (
        -1.0,
        None,
        0,
    )


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
