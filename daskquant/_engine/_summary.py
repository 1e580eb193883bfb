"""A compact summary of the pixels that k-means can run on: clustering features per cell.

Where the exact color histogram cannot hold the data (16-bit or float values, more than 3
bands), one map-reduce pass maps every valid pixel to a cell of a grid over the data's
bounding box and keeps, per occupied cell, its pixel count and per-band sum (BIRCH's
clustering features, without the squares: the within-cell scatter is the same for every
assignment of whole cells, so it changes no choice made on the summary). The cell means
weighted by their counts are then a :class:`~daskquant._engine._points.PointSource` that
seeding, the attempts and Lloyd updates run on in O(occupied cells).

The grid adapts to the data, as BIRCH's tree does to its memory. Its finest level has
``2**bits`` levels per band (``bits = min(16, 64 // C)``; integer data whose range fits
gets one level per value, so a summary of data with few distinct values is those values,
exactly). Wherever a summary (of a block, or of a merge) holds more than the grid's
``max_cells`` occupied cells (:data:`MAX_CELLS`), every band's level is halved (cells
merged in pairs per band) until it holds at most that many. The level a summary ends at
is the finest at which the whole image's occupied cells fit: a part never has more cells
than the whole at the same level, so no part is made coarser than the whole needs. Counts
and integer sums are exact in int64: the summary of integer data does not depend on the
chunking.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
from numpy.typing import NDArray

from daskquant._engine import _kernels as K
from daskquant._engine._points import PointSource
from daskquant._engine._sources import PixelSource, _split, _valid_rows

__all__ = ["MAX_CELLS", "Grid", "Summary", "summary_graph", "summary_source"]

MAX_CELLS = 1 << 20  # occupied cells a summary keeps; past it, its grid is made coarser
_FINEST_BITS = 16  # levels per band of the finest grid: 2**16, one per 16-bit value


@dataclass(frozen=True)
class Grid:
    """The finest cells of a summary: ``2**bits`` levels per band over [low, high], or one
    level per value (``unit``) for integer data whose range fits them."""

    low: NDArray[np.float64]
    high: NDArray[np.float64]
    bits: int
    unit: bool
    max_cells: int = MAX_CELLS

    @classmethod
    def over(
        cls, low: NDArray, high: NDArray, *, integral: bool, max_cells: int = MAX_CELLS
    ) -> Grid:
        low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
        bits = max(1, min(_FINEST_BITS, 64 // low.shape[0]))
        span = float((high - low).max(initial=0.0))
        needed = max(1, int(span).bit_length())  # levels for every integer in the range
        unit = integral and needed <= bits
        return cls(low, high, needed if unit else bits, unit, max_cells)

    @property
    def channels(self) -> int:
        return int(self.low.shape[0])

    def codes(self, px: NDArray) -> NDArray[np.uint64]:
        """The finest cell code of every row of (P, C) ``px`` (values in [low, high]): the
        bands' levels, band 0 in the highest bits."""
        span = self.high - self.low
        levels = 1 << self.bits
        scale = np.ones_like(span) if self.unit else levels / np.where(span > 0, span, 1.0)
        code = np.zeros(px.shape[0], np.uint64)
        for j in range(px.shape[1]):
            q = np.floor((px[:, j].astype(np.float64) - self.low[j]) * scale[j])
            q = np.clip(q, 0, levels - 1).astype(np.uint64)
            code = (code << np.uint64(self.bits)) | q
        return code

    def coarser(self, codes: NDArray[np.uint64], shift: int) -> NDArray[np.uint64]:
        """``codes`` of cells ``shift`` levels coarser than the finest, one level coarser
        (every band's level halved)."""
        bits = self.bits - shift
        mask = np.uint64((1 << bits) - 1)
        out = np.zeros_like(codes)
        for j in range(self.channels):
            band = (codes >> np.uint64(bits * (self.channels - 1 - j))) & mask
            out = (out << np.uint64(bits - 1)) | (band >> np.uint64(1))
        return out


@dataclass(frozen=True)
class Summary:
    """Occupied cells: codes (M,) sorted, pixel counts (M,) int64, per-band sums (M, C)
    (int64 for integer data, else float64), on the grid ``shift`` levels coarser than its
    finest."""

    codes: NDArray[np.uint64]
    counts: NDArray[np.int64]
    sums: NDArray
    shift: int = 0

    @property
    def n_valid(self) -> int:
        return int(self.counts.sum())

    def means(self) -> NDArray[np.float64]:
        """The mean of each cell's pixels (M, C) float64."""
        return self.sums.astype(np.float64) / self.counts[:, None]


def _cells(
    codes: NDArray[np.uint64], counts: NDArray[np.int64], sums: NDArray, shift: int
) -> Summary:
    """The summary of rows (a code, a count, a sum each) in any order: equal codes merged,
    in a stable order (float sums are then added in the order of the rows)."""
    order = np.argsort(codes, kind="stable")
    codes = codes[order]
    if codes.shape[0] == 0:
        return Summary(codes, counts[order], sums[order], shift)
    starts = np.flatnonzero(np.concatenate([[True], codes[1:] != codes[:-1]]))
    return Summary(
        codes[starts],
        np.add.reduceat(counts[order], starts),
        np.add.reduceat(sums[order], starts, axis=0),
        shift,
    )


def _within(summary: Summary, grid: Grid, shift: int = 0) -> Summary:
    """``summary`` at least ``shift`` levels coarser, and coarser until it holds at most
    the grid's ``max_cells`` cells."""
    while summary.shift < min(shift, grid.bits) or (
        summary.codes.shape[0] > grid.max_cells and summary.shift < grid.bits
    ):
        codes = grid.coarser(summary.codes, summary.shift)
        summary = _cells(codes, summary.counts, summary.sums, summary.shift + 1)
    return summary


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
    sums = px.astype(np.int64 if exact else np.float64)
    summary = _cells(grid.codes(px), np.ones(px.shape[0], np.int64), sums, 0)
    return _within(summary, grid)


def _combine_summaries(*parts: Summary, grid: Grid) -> Summary:
    """The summaries merged (in the given order), at the coarsest level among them."""
    shift = max(p.shift for p in parts)
    parts = tuple(_within(p, grid, shift) for p in parts)
    merged = _cells(
        np.concatenate([p.codes for p in parts]),
        np.concatenate([p.counts for p in parts]),
        np.concatenate([p.sums for p in parts]),
        shift,
    )
    return _within(merged, grid)


def summary_graph(pixels: PixelSource, grid: Grid) -> object:
    """The Delayed :class:`Summary` of the valid pixels of ``pixels`` on ``grid`` (one pass,
    merged in a tree)."""
    return pixels.blocks_graph(
        _block_summary,
        partial(_combine_summaries, grid=grid),
        grid=grid,
        exact=pixels.image.dtype in K.INT_DTYPES,
    )


def summary_source(summary: Summary) -> PointSource:
    """The cells as weighted points: their means, weighted by their pixel counts."""
    return PointSource(summary.means(), summary.counts)
