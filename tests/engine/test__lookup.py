"""Lookup tables of 8-bit colors against a brute-force nearest center."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from daskquant._color._spaces import to_space
from daskquant._engine import _kernels as K
from daskquant._engine._codes import ColorCoding
from daskquant._engine._lookup import distinct_labels, table_piece


def nearest(points: np.ndarray, centers: np.ndarray) -> np.ndarray:
    d = ((points[:, None, :].astype(np.float64) - centers[None]) ** 2).sum(axis=2)
    return np.argmin(d, axis=1)


@pytest.mark.parametrize("c", [1, 2, 3])
def test_distinct_labels_match_brute_force(c: int) -> None:
    rng = np.random.default_rng(c)
    px = (rng.integers(0, 12, (5000, c)) * 20).astype(np.uint8)
    centers = rng.uniform(0, 255, (9, c))
    got = distinct_labels(px, centers, dtype=np.dtype(np.uint8))
    np.testing.assert_array_equal(got, nearest(px, centers))
    # The shared scratch table is left as it was found: a second call agrees.
    np.testing.assert_array_equal(distinct_labels(px, centers, dtype=np.dtype(np.uint8)), got)
    assert (K.scratch_table(ColorCoding(c).bins, np.int32, -1) == -1).all()


def test_lab_points_and_table_pieces() -> None:
    rng = np.random.default_rng(5)
    px = rng.integers(0, 256, (3000, 3)).astype(np.uint8)
    centers = to_space(rng.integers(0, 256, (6, 3)).astype(np.uint8), "lab")
    lab = partial(to_space, space="lab")
    got = distinct_labels(px, centers, dtype=np.dtype(np.uint16), points=lab)
    np.testing.assert_array_equal(got, nearest(to_space(px, "lab"), centers))
    piece = table_piece(1000, 3000, centers, channels=3, dtype=np.dtype(np.uint8), points=lab)
    colors = ColorCoding(3).decode(np.arange(1000, 3000, dtype=np.uint32))
    np.testing.assert_array_equal(piece, nearest(to_space(colors, "lab"), centers))
