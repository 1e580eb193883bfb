"""Lookup tables that label 8-bit pixels per color, not per pixel.

Measured on a 4-megapixel block of a photo mosaic (720,560 distinct colors, 2 busy cores):
nearest-center distances per pixel 0.17 / 0.23 / 0.47 s for K = 16 / 64 / 256; labelling
the block's distinct colors and looking them up 0.08 / 0.11 / 0.22 s; a full 2^24-entry
table costs 0.9 / 1.9 / 5.9 s to build and then 0.02 s a block. So blocks label their own
distinct colors (:func:`distinct_labels`), and only images large enough to repay it (see
``daskquant._api._labels.GLOBAL_TABLE_PIXELS``) build the full table, once, in parallel
pieces (:func:`table_piece`).

Labels are exact: the nearest center of each color by :func:`._kernels.assign_labels`, in
the colors' own values or, through ``points``, in the space the centers live in (Lab,
DIN99: the caller passes the conversion, so this engine module needs no color module).
"""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np
from numpy.typing import NDArray

from daskquant._engine import _kernels as K
from daskquant._engine._codes import ColorCoding

__all__ = ["Labeller", "Points", "distinct_labels", "nearest_colors", "table_piece"]

# Colors (M, C) uint8 -> the points (M, C') that are compared with the centers.
Points = Callable[[NDArray[np.uint8]], NDArray]
# (colors (M, C) uint8, centers (K, C')) -> labels (M,): a rule other than the nearest
# center (the perceptual mode's CIEDE2000 choice, given by the caller).
Labeller = Callable[[NDArray[np.uint8], NDArray[np.float64]], NDArray]


@numba.njit(nogil=True, cache=True)
def _first_seen(codes, slot, uniq, inverse):  # type: ignore[no-untyped-def]
    # slot[code] is the index of code among the distinct codes seen so far, or -1.
    m = 0
    for i in range(codes.shape[0]):
        c = codes[i]
        s = slot[c]
        if s < 0:
            s = m
            slot[c] = m
            uniq[m] = c
            m += 1
        inverse[i] = s
    return m


def nearest_colors(
    colors: NDArray[np.uint8],
    centers: NDArray[np.float64],
    *,
    dtype: np.dtype,
    points: Points | None = None,
    labeller: Labeller | None = None,
) -> NDArray:
    """Nearest center of each 8-bit color (M, C) -> (M,) of ``dtype``; ``points`` converts
    the colors to the centers' space first (None: compare the colors' values); a
    ``labeller`` labels them instead."""
    if labeller is not None:
        return labeller(colors, centers).astype(dtype)
    return K.assign_labels(colors if points is None else points(colors), centers, dtype)


def distinct_labels(
    pixels: NDArray[np.uint8],
    centers: NDArray[np.float64],
    *,
    dtype: np.dtype,
    points: Points | None = None,
    labeller: Labeller | None = None,
) -> NDArray:
    """Labels of (N, C<=3) 8-bit pixels through a table of their distinct colors.

    The same labels as a nearest-center search per pixel (exact distances, ties to the lowest
    index), at the cost of one search per distinct color.
    """
    coding = ColorCoding(pixels.shape[1])
    codes = coding.encode(pixels)
    slot = K.scratch_table(coding.bins, np.int32, -1)
    uniq = np.empty(min(codes.shape[0], coding.bins), coding.dtype)
    inverse = np.empty(codes.shape[0], np.int32)
    m = _first_seen(codes, slot, uniq, inverse)
    slot[uniq[:m]] = -1  # the scratch table's contract: put back what was touched
    labels = nearest_colors(
        coding.decode(uniq[:m]), centers, dtype=dtype, points=points, labeller=labeller
    )
    return labels[inverse]


def table_piece(
    start: int,
    stop: int,
    centers: NDArray[np.float64],
    *,
    channels: int,
    dtype: np.dtype,
    points: Points | None = None,
    labeller: Labeller | None = None,
) -> NDArray:
    """Entries ``start:stop`` of the full lookup table: the label of every color code."""
    coding = ColorCoding(channels)
    colors = coding.decode(coding.code_range(start, stop))
    return nearest_colors(colors, centers, dtype=dtype, points=points, labeller=labeller)
