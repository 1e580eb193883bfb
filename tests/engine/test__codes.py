"""ColorCoding: codes of 1-3 channels of 8 bits against a NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest

from daskquant._engine._codes import ColorCoding, coding_for


def reference_codes(px: np.ndarray) -> np.ndarray:
    codes = np.zeros(px.shape[0], np.int64)
    for j in range(px.shape[1]):
        codes = codes * 256 + px[:, j]
    return codes


@pytest.mark.parametrize("c", [1, 2, 3])
def test_encode_decode_round_trip(c: int) -> None:
    coding = ColorCoding(c)
    px = np.random.default_rng(c).integers(0, 256, (3000, c)).astype(np.uint8)
    codes = coding.encode(px)
    assert codes.dtype == coding.dtype == np.uint32
    np.testing.assert_array_equal(codes, reference_codes(px))
    np.testing.assert_array_equal(coding.decode(codes), px)
    assert coding.bins == 256**c
    every = coding.code_range(0, coding.bins) if c < 3 else coding.code_range(0, 1 << 16)
    np.testing.assert_array_equal(coding.encode(coding.decode(every)), every)


@pytest.mark.parametrize("c", [1, 3])
def test_histogram_table_and_lookup(c: int) -> None:
    coding = ColorCoding(c)
    rng = np.random.default_rng(7)
    px = (rng.integers(0, 8, (4000, c)) * 30).astype(np.uint8)
    parts = [coding.histogram(px[:1500]), coding.histogram(px[1500:])]
    codes, counts = coding.merge(parts)
    colors, want = np.unique(px, axis=0, return_counts=True)
    np.testing.assert_array_equal(coding.decode(codes), colors)
    np.testing.assert_array_equal(counts, want)
    values = np.arange(codes.shape[0], dtype=np.uint16) + 1
    table = coding.table(codes, values, np.dtype(np.uint16))
    assert table.shape == (coding.bins,) and table.sum() == values.sum()
    np.testing.assert_array_equal(coding.lookup(px, table), table[reference_codes(px)])


def test_which_images_have_codes() -> None:
    assert coding_for(np.uint8, 3) == ColorCoding(3)
    assert coding_for(np.uint8, 1) == ColorCoding(1)
    for dtype, c in [(np.uint8, 4), (np.uint16, 3), (np.float32, 1)]:
        assert coding_for(dtype, c) is None
    with pytest.raises(ValueError, match="no color codes"):
        ColorCoding(4)
    with pytest.raises(ValueError, match="no color codes"):
        ColorCoding(3, bits=16)
