"""Dithering: ordered (Bayer) per chunk, and Floyd-Steinberg on a single chunk.

Ordered dithering adds to every pixel a threshold that depends only on its position in the
whole image, ``(y mod n, x mod n)`` in an n x n Bayer matrix, then takes the nearest palette
color. Chunks stay independent and the labels do not depend on the chunking.

Error diffusion (Floyd-Steinberg) is not offered on chunked images: each pixel's value
depends on the quantization errors of every pixel before it in scan order, so the image is
one sequential chain. Processing chunks independently would give seams and results that
change with the chunk grid, and passing the error from chunk to chunk would serialize the
whole image on one core. It is offered only where it is exact: an image held in one chunk.
"""

from __future__ import annotations

from typing import Literal

import numba
import numpy as np
from numpy.typing import NDArray

from daskquant._errors import InvalidParameterError

__all__ = [
    "DITHERS",
    "Dither",
    "bayer_matrix",
    "bayer_size",
    "check_dither",
    "dither_spread",
    "floyd_steinberg",
    "ordered_dither",
]

Dither = Literal["none", "bayer2", "bayer4", "bayer8", "floyd-steinberg"]
DITHERS = ("none", "bayer2", "bayer4", "bayer8", "floyd-steinberg")
# Threshold amplitude as a multiple of the palette's spacing (the median distance from each
# palette color to its nearest other color). Chosen on real photos: it minimizes the error
# of the dithered image against the original once both are blurred by the eye (a Gaussian of
# 1.5 pixels), see tests/test__dither.py.
SPREAD = 1.0


def check_dither(dither: str) -> Dither:
    if dither not in DITHERS:
        raise InvalidParameterError(
            f"dither must be one of {', '.join(repr(d) for d in DITHERS)}, got {dither!r}"
        )
    return dither  # type: ignore[return-value]


def bayer_size(dither: str) -> int:
    """n of an ordered dither ("bayer4" -> 4); 0 for "none" and "floyd-steinberg"."""
    return int(dither[5:]) if dither.startswith("bayer") else 0


def bayer_matrix(n: int) -> NDArray[np.int64]:
    """The n x n Bayer index matrix (n a power of 2): a permutation of 0 .. n^2 - 1.

    Examples
    --------
    >>> bayer_matrix(2).tolist()
    [[0, 2], [3, 1]]
    """
    m = np.zeros((1, 1), np.int64)
    while m.shape[0] < n:
        m = np.block([[4 * m, 4 * m + 2], [4 * m + 3, 4 * m + 1]])
    return m


def thresholds(n: int, rows: tuple[int, int], cols: tuple[int, int]) -> NDArray[np.float64]:
    """Thresholds in (-1/2, 1/2) of the pixels ``rows x cols`` (global [start, stop) ranges)."""
    t = (bayer_matrix(n) + 0.5) / (n * n) - 0.5
    y = np.arange(rows[0], rows[1]) % n
    x = np.arange(cols[0], cols[1]) % n
    return t[y[:, None], x[None, :]]


def dither_spread(palette: NDArray[np.float64]) -> float:
    """Threshold amplitude for a palette (K, C) in the image's values: ``SPREAD`` times the
    median distance from a palette color to its nearest other color (0 for one color)."""
    p = np.asarray(palette, np.float64)
    if p.shape[0] < 2:
        return 0.0
    nn = np.full(p.shape[0], np.inf)
    for start in range(0, p.shape[0], 1024):  # K x K in slices: K may be 65535
        d = ((p[start : start + 1024, None, :] - p[None, :, :]) ** 2).sum(axis=2)
        d[np.arange(d.shape[0]), np.arange(start, start + d.shape[0])] = np.inf
        nn[start : start + 1024] = d.min(axis=1)
    return SPREAD * float(np.median(np.sqrt(nn)))


def ordered_dither(
    pixels: NDArray, n: int, spread: float, rows: tuple[int, int], cols: tuple[int, int]
) -> NDArray:
    """Pixels (..., H, W, C) of a block plus their thresholds times ``spread``.

    Integer pixels are rounded and clipped to their dtype (so 8-bit stays 8-bit and can be
    labelled through a lookup table); float pixels become float64.

    Parameters
    ----------
    pixels : (..., H, W, C) ndarray
    rows, cols : (start, stop)
        Where the block sits in the whole image, on its H and W axes.
    """
    off = (spread * thresholds(n, rows, cols))[..., None]
    if pixels.dtype.kind in "ui":
        info = np.iinfo(pixels.dtype)
        out = np.clip(pixels + np.rint(off), info.min, info.max)
        return out.astype(pixels.dtype)
    return pixels.astype(np.float64) + off


@numba.njit(nogil=True, cache=True)
def _fs_kernel(points, palette, out):  # type: ignore[no-untyped-def]
    h, w, c = points.shape
    err = np.zeros((2, w + 2, c))  # this row and the next, with a margin on both sides
    for y in range(h):
        for x in range(w):
            best, best_d = 0, np.inf
            for k in range(palette.shape[0]):
                d = 0.0
                for j in range(c):
                    t = points[y, x, j] + err[0, x + 1, j] - palette[k, j]
                    d += t * t
                if d < best_d:
                    best_d, best = d, k
            out[y, x] = best
            for j in range(c):
                e = points[y, x, j] + err[0, x + 1, j] - palette[best, j]
                err[0, x + 2, j] += e * 7.0 / 16.0
                err[1, x, j] += e * 3.0 / 16.0
                err[1, x + 1, j] += e * 5.0 / 16.0
                err[1, x + 2, j] += e * 1.0 / 16.0
        err[0] = err[1]
        err[1] = 0.0


def floyd_steinberg(
    points: NDArray[np.float64], palette: NDArray[np.float64], dtype: np.dtype
) -> NDArray:
    """Floyd-Steinberg error diffusion of one image, raster order.

    Parameters
    ----------
    points : (H, W, C) float64 ndarray
        The image in the space distances are taken in (RGB values or Lab).
    palette : (K, C) float64 ndarray
        In the same space.

    Returns
    -------
    labels : (H, W) ndarray of ``dtype``
    """
    out = np.empty(points.shape[:2], dtype)
    _fs_kernel(np.ascontiguousarray(points, np.float64), np.ascontiguousarray(palette), out)
    return out
