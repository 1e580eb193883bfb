"""The summary of the pixels (``_engine._summary``): its cells against a brute-force grouping."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from numpy.typing import NDArray

from daskquant._engine._sources import PixelSource
from daskquant._engine._summary import Grid, summary_graph


def _summary(image: NDArray, chunks: object, grid: Grid):  # type: ignore[no-untyped-def]
    pixels = PixelSource(da.from_array(image, chunks=chunks), channels=image.shape[-1], alpha=None)
    return summary_graph(pixels, grid).compute(scheduler="sync")  # type: ignore[attr-defined]


def _brute(px: NDArray, grid: Grid, shift: int) -> dict[tuple[int, ...], tuple[int, NDArray]]:
    """Every pixel's cell, ``shift`` levels coarser than the finest, by plain arithmetic:
    the cell's pixel count and per-band sum."""
    span = grid.high - grid.low
    levels = 2**grid.bits
    scale = np.ones_like(span) if grid.unit else levels / np.where(span > 0, span, 1.0)
    q = np.clip(np.floor((px - grid.low) * scale), 0, levels - 1).astype(np.int64) >> shift
    cells: dict[tuple[int, ...], tuple[int, NDArray]] = {}
    for key, row in zip(map(tuple, q), px, strict=True):
        n, s = cells.get(key, (0, np.zeros(px.shape[1])))
        cells[key] = (n + 1, s + row)
    return cells


@pytest.mark.parametrize("max_cells", [1 << 20, 3000, 400])
def test_summary_is_the_brute_force_grouping(
    uint16_photo: NDArray[np.uint16], max_cells: int
) -> None:
    image = uint16_photo[::2, ::2]  # 100 x 100, 16-bit
    px = image.reshape(-1, 3).astype(np.float64)
    grid = Grid.over(px.min(axis=0), px.max(axis=0), integral=True, max_cells=max_cells)
    assert grid.bits == 16 and grid.unit  # one level per value
    s = _summary(image, (40, 50, 3), grid)
    # The finest level at which the whole image has at most max_cells cells.
    shift = next(sh for sh in range(17) if len(_brute(px, grid, sh)) <= max_cells)
    assert s.shift == shift and (max_cells == 1 << 20) == (shift == 0)
    cells = _brute(px, grid, shift)
    assert s.codes.shape[0] == len(cells) and s.n_valid == px.shape[0]
    means = s.means()
    got = {tuple(np.round(m, 9)): n for m, n in zip(means, s.counts, strict=True)}
    want = {tuple(np.round(sm / n, 9)): n for n, sm in cells.values()}
    assert got == want
    np.testing.assert_array_equal(np.sort(s.codes), s.codes)


def test_summary_does_not_depend_on_chunking(uint16_photo: NDArray[np.uint16]) -> None:
    image = uint16_photo
    px = image.reshape(-1, 3)
    grid = Grid.over(px.min(axis=0), px.max(axis=0), integral=True, max_cells=5000)
    a = _summary(image, (200, 200, 3), grid)  # one block
    for chunks in [(64, 64, 3), (37, 101, 3)]:
        b = _summary(image, chunks, grid)
        assert a.shift == b.shift > 0
        for x, y in [(a.codes, b.codes), (a.counts, b.counts), (a.sums, b.sums)]:
            np.testing.assert_array_equal(x, y)


def test_few_values_are_kept_exactly() -> None:
    rng = np.random.default_rng(0)
    values = rng.integers(0, 60000, (7, 5)).astype(np.uint16)  # 7 distinct 5-band values
    image = values[rng.integers(0, 7, (60, 50))]
    px = image.reshape(-1, 5).astype(np.float64)
    grid = Grid.over(px.min(axis=0), px.max(axis=0), integral=True)
    assert grid.bits == 12 and not grid.unit  # 64 // 5 bits: fewer than the range needs
    s = _summary(image, (16, 16, 5), grid)
    assert s.codes.shape[0] == 7 and s.shift == 0
    np.testing.assert_array_equal(
        np.unique(s.means(), axis=0), np.unique(values.astype(np.float64), axis=0)
    )


def test_floats_on_a_fine_grid() -> None:
    rng = np.random.default_rng(1)
    px = rng.random((5000, 3)).astype(np.float32)
    grid = Grid.over(px.min(axis=0), px.max(axis=0), integral=False)
    assert grid.bits == 16
    s = _summary(px.reshape(50, 100, 3), (20, 30, 3), grid)
    cells = _brute(px.astype(np.float64), grid, 0)
    assert s.codes.shape[0] == len(cells) == 5000  # random floats: a cell each
    np.testing.assert_allclose(
        np.sort(s.means(), axis=0), np.sort(px.astype(np.float64), axis=0), rtol=1e-12
    )


def test_signed_values_read_back_from_their_codes(uint16_photo: NDArray[np.uint16]) -> None:
    """A unit grid over signed data (its low below zero): each distinct value is read back
    from its cell code, and matches the brute-force grouping of the pixels themselves."""
    image = (uint16_photo[::3, ::3].astype(np.int32) // 4 - 8000).astype(np.int16)
    px = image.reshape(-1, 3).astype(np.float64)
    grid = Grid.over(px.min(axis=0), px.max(axis=0), integral=True)
    assert grid.unit and grid.low.min() < 0
    s = _summary(image, (25, 30, 3), grid)
    cells = _brute(px, grid, s.shift)
    want = sorted((n, tuple(sm.astype(np.int64))) for n, sm in cells.values())
    got = sorted((int(n), tuple(sm)) for n, sm in zip(s.counts, s.sums, strict=True))
    assert got == want and s.sums.dtype == np.int64
