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
merged in pairs per band) until it holds at most that many. Cells are coded in Z-order
(their bands' level bits interleaved), so a coarser level drops a code's lowest bits and
keeps sorted codes sorted: a block is radix-sorted once, merges merge sorted runs. Where a
cell is one integer value (a ``unit`` grid), its code is that value, so a block sorts its
codes alone and reads each distinct value back from its code. The level a
summary ends at is the finest at which the whole image's occupied cells fit: a part never
has more cells than the whole at the same level, so no part is made coarser than the whole
needs. Counts and integer sums are exact in int64: the summary of integer data does not
depend on the chunking.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from functools import partial

import numba
import numpy as np
from numpy.typing import NDArray

from daskquant._engine import _kernels as K
from daskquant._engine._points import PointSource
from daskquant._engine._sorting import merge_order, radix_sort
from daskquant._engine._sources import PixelSource, _split, _valid_rows

__all__ = ["MAX_CELLS", "Grid", "Summary", "summary_graph", "summary_source"]

MAX_CELLS = 1 << 21  # occupied cells a summary keeps; past it, its grid is made coarser
_FINEST_BITS = 16  # levels per band of the finest grid: 2**16, one per 16-bit value


@numba.njit(nogil=True, cache=True)
def _morton(px, low, scale, spread):  # type: ignore[no-untyped-def]
    """The Z-order (Morton) code of each row of (P, C) ``px``: its bands' levels
    ``floor((x - low) * scale)`` (clipped to the levels of ``spread``) with their bits
    interleaved, band 0 highest within each bit, the highest bits first (``spread[v]``: the
    bits of ``v`` spaced C apart). Dropping the lowest C bits of a code halves every
    band's level, so sorted codes stay sorted."""
    n, c = px.shape
    top = spread.shape[0] - 1
    out = np.empty(n, np.uint64)
    for i in range(n):
        code = np.uint64(0)
        for j in range(c):
            v = np.floor((np.float64(px[i, j]) - low[j]) * scale[j])
            q = 0 if v < 0 else (top if v > top else np.int64(v))
            code |= spread[q] << np.uint64(c - 1 - j)
        out[i] = code
    return out


@functools.lru_cache(maxsize=16)
def _spread(bits: int, channels: int) -> NDArray[np.uint64]:
    """``_spread(b, C)[v]``: the ``b`` bits of ``v`` placed C apart (bit i at i * C)."""
    v = np.arange(1 << bits, dtype=np.uint64)
    out = np.zeros_like(v)
    for i in range(bits):
        out |= ((v >> np.uint64(i)) & np.uint64(1)) << np.uint64(i * channels)
    return out


@functools.lru_cache(maxsize=16)
def _unspread(bits: int, channels: int) -> NDArray[np.int64]:
    """``_unspread(b, C)[t, v]``: the bands' level bits (C,) held by the byte ``v`` at byte
    ``t`` of a Z-order code of ``b`` bits a band (the inverse of :func:`_spread`, a byte at a
    time)."""
    n_bytes = (bits * channels + 7) // 8
    out = np.zeros((n_bytes, 256, channels), np.int64)
    for t in range(n_bytes):
        for k in range(8):
            g = 8 * t + k  # the code's bit: band C - 1 - g % C, level bit g // C
            if g < bits * channels:
                on = (np.arange(256) >> k) & 1
                out[t, :, channels - 1 - g % channels] += on << (g // channels)
    return out


@numba.njit(nogil=True, cache=True)
def _unit_cells(keys, unspread, low):  # type: ignore[no-untyped-def]
    """The cells of sorted codes ``keys`` of a unit grid, one pixel each: the distinct codes,
    how many pixels each has and their per-band sums (count x the value the code is)."""
    n = keys.shape[0]
    c = low.shape[0]
    codes = np.empty(n, np.uint64)
    counts = np.zeros(n, np.int64)
    m = -1
    for i in range(n):
        if m < 0 or keys[i] != codes[m]:
            m += 1
            codes[m] = keys[i]
        counts[m] += 1
    m += 1
    sums = np.empty((m, c), np.int64)
    for i in range(m):
        for j in range(c):
            sums[i, j] = low[j]
        code = codes[i]
        for t in range(unspread.shape[0]):
            byte = (code >> np.uint64(8 * t)) & np.uint64(255)
            for j in range(c):
                sums[i, j] += unspread[t, byte, j]
        for j in range(c):
            sums[i, j] *= counts[i]
    return codes[:m].copy(), counts[:m].copy(), sums


@numba.njit(nogil=True, cache=True)
def _distinct_by_level(codes, channels, bits):  # type: ignore[no-untyped-def]
    """Distinct cells among sorted ``codes`` at each level 0..bits coarser (one pass: two
    neighbours differ at a level while their highest differing bit is not dropped)."""
    n = codes.shape[0]
    high = np.zeros(65, np.int64)  # neighbours by the length of their XOR
    for i in range(1, n):
        d = codes[i] ^ codes[i - 1]
        length = 0
        for step in (32, 16, 8, 4, 2, 1):
            if d >> np.uint64(step):
                d >>= np.uint64(step)
                length += step
        if d:
            length += 1
        high[length] += 1
    out = np.zeros(bits + 1, np.int64)
    for shift in range(bits + 1):
        first = min(64, channels * shift) + 1
        out[shift] = (1 if n else 0) + high[first:].sum()
    return out


@numba.njit(nogil=True, cache=True)
def _group(codes, drop, order, counts, values, out_codes, out_counts, out_sums):  # type: ignore[no-untyped-def]
    """Rows sorted by ``codes`` (row ``order[i]`` of ``counts``/``values`` has code
    ``codes[i]``) summed per code with its lowest ``drop`` bits dropped, in order. Empty
    ``counts``: every row counts one (a block's pixels)."""
    m = -1
    last = np.uint64(0)
    c = values.shape[1]
    for i in range(codes.shape[0]):
        key = np.uint64(0) if drop >= 64 else codes[i] >> np.uint64(drop)
        if m < 0 or key != last:
            m += 1
            out_codes[m] = key
            last = key
        r = order[i]
        out_counts[m] += counts[r] if counts.shape[0] else 1
        for j in range(c):
            out_sums[m, j] += values[r, j]


@dataclass(frozen=True)
class Grid:
    """The finest cells of a summary: ``2**bits`` levels per band over [low, high], or one
    level per value (``unit``) for integer data whose range fits them; summaries keep at
    most ``max_cells`` cells."""

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
        bands' levels in Z-order (:func:`_morton`)."""
        span = self.high - self.low
        levels = 1 << self.bits
        scale = np.ones_like(span) if self.unit else levels / np.where(span > 0, span, 1.0)
        spread = _spread(self.bits, self.channels)
        return _morton(np.ascontiguousarray(px), self.low, scale, spread)

    def coarser(self, codes: NDArray[np.uint64], levels: int) -> NDArray[np.uint64]:
        """``codes`` with every band's level halved ``levels`` times (order kept)."""
        drop = self.channels * levels
        if drop >= 64:
            return np.zeros_like(codes)
        return codes >> np.uint64(drop)


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
    codes: NDArray[np.uint64],
    order: NDArray[np.intp],
    counts: NDArray[np.int64],
    values: NDArray,
    shift: int,
    grid: Grid,
    *,
    exact: bool,
) -> Summary:
    """The summary of rows (row ``order[i]`` of ``counts`` and ``values`` has the code
    ``codes[i]``, ``shift`` levels coarser than the finest; ``codes`` sorted; empty
    ``counts``: one pixel a row): equal codes
    merged, at the finest level (``shift`` or coarser) with at most the grid's
    ``max_cells`` cells."""
    distinct = _distinct_by_level(codes, grid.channels, grid.bits)
    more = next(
        (s for s in range(grid.bits - shift + 1) if distinct[s] <= grid.max_cells),
        grid.bits - shift,
    )
    m = int(distinct[more])
    out = Summary(
        np.empty(m, np.uint64),
        np.zeros(m, np.int64),
        np.zeros((m, values.shape[1]), np.int64 if exact else np.float64),
        shift + more,
    )
    _group(codes, grid.channels * more, order, counts, values, out.codes, out.counts, out.sums)
    return out


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
    if mask is not None or px.dtype.kind == "f":
        px = px[_valid_rows(px, mask)]
    px = np.ascontiguousarray(px)
    codes = grid.codes(px)
    bits = grid.channels * grid.bits
    if exact and grid.unit and px.dtype.itemsize <= 4:  # a code is its value (exact in float64)
        keys, _ = radix_sort(codes, bits, order=False)
        unspread = _unspread(grid.bits, grid.channels)
        cells, counts, sums = _unit_cells(keys, unspread, grid.low.astype(np.int64))
        return _cells(cells, np.arange(cells.shape[0]), counts, sums, 0, grid, exact=True)
    keys, order = radix_sort(codes, bits)
    one_each = np.empty(0, np.int64)  # not a (P,) array of ones
    return _cells(keys, order, one_each, px, 0, grid, exact=exact)


def _combine_summaries(*parts: Summary, grid: Grid) -> Summary:
    """The summaries merged (in the given order), at the coarsest level among them or
    coarser."""
    shift = max(p.shift for p in parts)
    codes = np.concatenate([grid.coarser(p.codes, shift - p.shift) for p in parts])
    order = merge_order(codes, [p.codes.shape[0] for p in parts])  # float sums in order
    sums = np.concatenate([p.sums for p in parts])
    counts = np.concatenate([p.counts for p in parts])
    return _cells(codes[order], order, counts, sums, shift, grid, exact=sums.dtype == np.int64)


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
