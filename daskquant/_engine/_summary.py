"""A compact summary of the pixels that k-means can run on: clustering features per cell.

Where the exact color histogram cannot hold the data (16-bit or float values, more than 3
bands), one map-reduce pass maps every valid pixel to a cell of a fixed grid over the data's
bounding box and keeps, per occupied cell, its pixel count and per-band sum (BIRCH's
clustering features, without the squares: the within-cell scatter is the same for every
assignment of whole cells, so it changes no choice made on the summary). Integer data sums
exactly in int64, so the summary does not depend on the chunking; the cell means weighted
by their counts are then a :class:`~daskquant._engine._points.PointSource` that seeding,
the attempts and Lloyd updates run on in O(occupied cells). Where the grid is as fine as
the data (few distinct integer values per band), each cell holds one value: the summary is
then the exact distinct values.

The grid has ``2**bits`` levels per band, ``bits = max(1, 21 // C)`` (128 levels for 3
bands, 32 for 4; at most 2**21 cells below 22 bands), so a block's cells are counted in a
dense table (bincount) where the grid is that small, and by sorting the codes above it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from daskquant._engine import _kernels as K
from daskquant._engine._points import PointSource
from daskquant._engine._sources import PixelSource, _split, _valid_rows

__all__ = ["Grid", "Summary", "summary_graph", "summary_source"]

_CELL_BITS = 21  # bits of a cell code for up to 21 bands: a dense table of 2**21 cells
_DENSE_BITS = 21  # grids of at most this many bits are counted in a dense table per block


@dataclass(frozen=True)
class Grid:
    """The cells of a summary: ``2**bits`` levels per band over [low, high].

    Integer data whose range fits the levels gets one level per value (cells are values).
    """

    low: NDArray[np.float64]
    high: NDArray[np.float64]
    bits: int
    integral: bool

    @classmethod
    def over(cls, low: NDArray, high: NDArray, *, integral: bool) -> Grid:
        low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
        bits = max(1, _CELL_BITS // low.shape[0])
        return cls(low, high, bits, integral)

    @property
    def levels(self) -> int:
        return 1 << self.bits

    @property
    def dense(self) -> bool:
        return self.bits * self.low.shape[0] <= _DENSE_BITS

    def codes(self, px: NDArray) -> NDArray[np.uint64]:
        """The cell code of every row of (P, C) ``px`` (values in [low, high])."""
        span = self.high - self.low
        if self.integral and bool((span < self.levels).all()):
            scale = np.ones_like(span)  # one cell per integer value
        else:
            scale = self.levels / np.where(span > 0, span, 1.0)
        code = np.zeros(px.shape[0], np.uint64)
        top = self.levels - 1
        for j in range(px.shape[1]):
            q = np.floor((px[:, j].astype(np.float64) - self.low[j]) * scale[j])
            q = np.clip(q, 0, top).astype(np.uint64)
            code = (code << np.uint64(self.bits)) | q
        return code


@dataclass(frozen=True)
class Summary:
    """Occupied cells: codes (M,) sorted, pixel counts (M,) int64, per-band sums (M, C)
    (int64 for integer data, else float64)."""

    codes: NDArray[np.uint64]
    counts: NDArray[np.int64]
    sums: NDArray

    @property
    def n_valid(self) -> int:
        return int(self.counts.sum())

    def means(self) -> NDArray[np.float64]:
        """The mean of each cell's pixels (M, C) float64."""
        return self.sums.astype(np.float64) / self.counts[:, None]


def _block_summary(
    block: NDArray,
    offset: object,
    labels: object,
    *,
    grid: Grid,
    exact: bool,
    channels: int,
    alpha: int | None,
) -> Summary:
    px, mask = _split(block, channels, alpha)
    px = px[_valid_rows(px, mask)]
    codes = grid.codes(px)
    acc = np.int64 if exact else np.float64
    if grid.dense:  # count in a table of every cell: no sort
        size = 1 << (grid.bits * channels)
        counts = np.bincount(codes.astype(np.intp), minlength=size)
        cells = np.flatnonzero(counts)
        index = codes.astype(np.intp)
        sums = np.empty((cells.shape[0], channels), acc)
        for j in range(channels):
            # float64 bincount sums are exact for integer data below 2**53 per cell
            sums[:, j] = np.bincount(index, weights=px[:, j], minlength=size)[cells]
        return Summary(cells.astype(np.uint64), counts[cells].astype(np.int64), sums)
    cells_u, inverse, counts = np.unique(codes, return_inverse=True, return_counts=True)
    sums = np.empty((cells_u.shape[0], channels), acc)
    for j in range(channels):
        sums[:, j] = np.bincount(inverse, weights=px[:, j], minlength=cells_u.shape[0])
    return Summary(cells_u, counts.astype(np.int64), sums)


def _combine_summaries(*parts: Summary) -> Summary:
    codes = np.concatenate([p.codes for p in parts])
    order = np.argsort(codes, kind="stable")  # parts in a fixed order: float sums too
    codes = codes[order]
    starts = np.flatnonzero(np.concatenate([[True], codes[1:] != codes[:-1]]))
    if codes.shape[0] == 0:
        return parts[0]
    counts = np.add.reduceat(np.concatenate([p.counts for p in parts])[order], starts)
    sums = np.add.reduceat(np.concatenate([p.sums for p in parts])[order], starts, axis=0)
    return Summary(codes[starts], counts, sums)


def summary_graph(pixels: PixelSource, grid: Grid) -> object:
    """The Delayed :class:`Summary` of the valid pixels of ``pixels`` on ``grid`` (one pass,
    merged in a tree)."""
    return pixels.blocks_graph(
        _block_summary, _combine_summaries, grid=grid, exact=pixels.image.dtype in K.INT_DTYPES
    )


def summary_source(summary: Summary) -> PointSource:
    """The cells as weighted points: their means, weighted by their pixel counts."""
    return PointSource(summary.means(), summary.counts)
