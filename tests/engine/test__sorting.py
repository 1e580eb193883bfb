"""The fused Z-order and the sorted-histogram merge against plain NumPy references (the
whole-array Morton code + stable argsort, and ``np.unique`` + ``np.add.at``)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.typing import NDArray

from daskquant._engine import _kernels as K
from daskquant._engine import _sorting as S


def ref_z_order(points: NDArray) -> NDArray[np.int64]:
    """The Morton order of the points, one NumPy pass per bit and channel."""
    lo = points.min(axis=0).astype(np.float64)
    span = np.maximum(points.max(axis=0) - lo, 1e-300)
    q = ((points - lo) * (255.0 / span)).astype(np.uint64)
    c = points.shape[1]
    code = np.zeros(points.shape[0], np.uint64)
    for bit in range(8):
        for j in range(c):
            code |= ((q[:, j] >> np.uint64(bit)) & np.uint64(1)) << np.uint64(c * bit + c - 1 - j)
    return np.argsort(code, kind="stable")


def ref_merge(parts: list[tuple[NDArray, NDArray]]) -> tuple[NDArray, NDArray]:
    codes = np.concatenate([p[0] for p in parts])
    counts = np.concatenate([p[1] for p in parts])
    uniq, inverse = np.unique(codes, return_inverse=True)
    merged = np.zeros(uniq.shape[0], np.int64)
    np.add.at(merged, inverse, counts)
    return uniq.astype(np.uint32), merged


def test_z_order_of_a_photo_histogram(photo: NDArray[np.uint8]) -> None:
    codes, _ = K.sparse_histogram(photo.reshape(-1, 3))
    colors = K.decode_colors(codes, 3)
    order = S.z_order(colors)
    assert order.dtype == np.int64
    np.testing.assert_array_equal(order, ref_z_order(colors))
    lab_like = colors.astype(np.float64) * np.array([0.39, -1.7, 0.9]) + 3.25
    np.testing.assert_array_equal(S.z_order(lab_like), ref_z_order(lab_like))


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 300), st.integers(1, 3)),
        elements={"min_value": -1000, "max_value": 1000, "allow_nan": False},
    ),
    st.sampled_from([np.uint8, np.float32, np.float64]),
)
def test_z_order_like_numpy(values: NDArray[np.float64], dtype: type) -> None:
    points = (np.abs(values) % 256).astype(dtype) if dtype is np.uint8 else values.astype(dtype)
    np.testing.assert_array_equal(S.z_order(points), ref_z_order(points))


def test_bounds_like_numpy_min_max() -> None:
    pts = np.random.default_rng(3).normal(size=(1000, 3)) * 40
    lo, hi = S.bounds(pts)
    np.testing.assert_array_equal(lo, pts.min(axis=0))
    np.testing.assert_array_equal(hi, pts.max(axis=0))


@pytest.mark.parametrize("n_parts", [1, 2, 3, 8, 9])
def test_merge_sorted_counts_like_unique(n_parts: int) -> None:
    rng = np.random.default_rng(n_parts)
    parts = []
    for _ in range(n_parts):
        codes = np.unique(rng.integers(0, 5000, int(rng.integers(0, 2000)))).astype(np.uint32)
        parts.append((codes, rng.integers(1, 100, codes.shape[0]).astype(np.int64)))
    got = S.merge_sorted_counts(parts)
    want = ref_merge(parts)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)


def test_merge_of_block_histograms_is_the_whole_image_histogram(
    photo: NDArray[np.uint8],
) -> None:
    px = photo.reshape(-1, 3)
    parts = [K.sparse_histogram(px[a : a + 20_000]) for a in range(0, px.shape[0], 20_000)]
    whole = K.sparse_histogram(px)
    for g, w in zip(K.merge_histograms(parts, 3), whole, strict=True):
        np.testing.assert_array_equal(g, w)


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(np.uint64, st.integers(0, 300), elements=st.integers(0, 2**48 - 1)),
    st.sampled_from([1, 8, 13, 48]),
)
def test_radix_sort_is_numpy_stable_argsort(codes: NDArray[np.uint64], bits: int) -> None:
    codes = codes & np.uint64(2**bits - 1)  # below 2**bits, as the summary's codes are
    keys, order = S.radix_sort(codes, bits)
    want = np.argsort(codes, kind="stable")
    np.testing.assert_array_equal(order, want)
    np.testing.assert_array_equal(keys, codes[want])
    alone, none = S.radix_sort(codes, bits, order=False)
    np.testing.assert_array_equal(alone, keys)
    assert none.shape == (0,)


def test_radix_sort_of_many_equal_digits() -> None:
    rng = np.random.default_rng(3)
    codes = (rng.integers(0, 40, 100_000).astype(np.uint64) << np.uint64(30)) | np.uint64(7)
    _, order = S.radix_sort(codes, 48)  # passes of one digit skipped, the others not
    np.testing.assert_array_equal(order, np.argsort(codes, kind="stable"))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 50), max_size=40), min_size=1, max_size=6))
def test_merge_order_is_the_stable_argsort_of_sorted_runs(runs: list[list[int]]) -> None:
    parts = [np.sort(np.array(r, np.uint64)) for r in runs]
    codes = np.concatenate(parts)
    got = S.merge_order(codes, [p.shape[0] for p in parts])
    np.testing.assert_array_equal(got, np.argsort(codes, kind="stable"))
