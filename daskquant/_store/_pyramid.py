"""The TIFF export: a tiled pyramid of palette indices with a colormap, for slide viewers.

Level 0 is the full label image; each next level halves both sides until the longer side
fits in :data:`PYRAMID_MAX_SIDE` pixels. A reduced level takes the top-left pixel of each
2 x 2 block of the level above (nearest neighbour), so it holds palette indices only, never
a mix of two colors.

The levels are the main IFD chain of one TIFF (level 0 first, the reduced ones tagged
NewSubfileType = 1), the layout OpenSlide reads as a "generic tiled TIFF" and QuPath opens
through its OpenSlide image server; OpenSlide does not read SubIFDs.

Level 0 is written from the Zarr labels strip by strip; while it is, every other row and
column of each strip goes into a memory-mapped temporary file holding level 1 (a quarter
of the pixels, on disk next to the output), from which the smaller levels are read by
stride. So the labels are decoded once and no level is ever in memory whole.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.format import open_memmap
from numpy.typing import NDArray

from daskquant._io._storage import Location

__all__ = ["GDAL_NODATA", "PYRAMID_MAX_SIDE", "TIFF_TILE", "pyramid_shapes", "write_pyramid_tiff"]

PYRAMID_MAX_SIDE = 1024
TIFF_TILE = 512
GDAL_NODATA = 42113  # GDAL's private TIFF tag: the nodata value as ASCII text


def pyramid_shapes(h: int, w: int) -> list[tuple[int, int]]:
    """The (rows, columns) of each level: (h, w), then halved (rounding up) until the
    longer side fits in :data:`PYRAMID_MAX_SIDE`."""
    shapes = [(h, w)]
    while max(shapes[-1]) > PYRAMID_MAX_SIDE:
        y, x = shapes[-1]
        shapes.append((-(-y // 2), -(-x // 2)))
    return shapes


def write_pyramid_tiff(
    where: Location,
    labels: Any,
    colors: NDArray[np.uint8],
    *,
    resolution: dict[str, Any] | None = None,
    nodata: int | None = None,
) -> None:
    """Write ``labels`` ((H, W) palette indices, read in strips) as a tiled, deflate TIFF
    pyramid with photometric palette and the colormap of ``colors`` ((K, 3) uint8);
    ``resolution`` (tifffile's ``resolution``/``resolutionunit`` of level 0) scaled per level.
    ``nodata``: the index of transparent pixels, written on every level as the GDAL_NODATA
    tag (GDAL and rasterio then mask it), black in the colormap.
    """
    import tifffile

    h, w = (int(s) for s in labels.shape)
    dtype = np.dtype(np.uint8 if len(colors) <= 256 else np.uint16)
    colormap = np.zeros((3, 1 << (8 * dtype.itemsize)), np.uint16)
    colormap[:, : len(colors)] = colors.T.astype(np.uint16) * 257
    tile = min(TIFF_TILE, 16 * -(-max(h, w) // 16))  # tiles are multiples of 16
    shapes = pyramid_shapes(h, w)
    options: dict[str, Any] = {
        "dtype": dtype,
        "tile": (tile, tile),
        "photometric": "palette",
        "colormap": colormap,
        "compression": "zlib",
        "software": "daskquant",
        "metadata": None,  # no tifffile JSON: one generic pyramid series
    }
    if nodata is not None:
        options["extratags"] = [(GDAL_NODATA, "s", 0, str(nodata), True)]
    local = Path(where.local())
    # Strips of whole Zarr chunks, cut into rows of tiles: no Zarr chunk is decoded twice.
    rows = tile * -(-max(1, int(labels.chunks[0])) // tile)
    with (
        tempfile.TemporaryDirectory(dir=local.parent, prefix=".pyramid-") as tmp,
        tifffile.TiffWriter(local, bigtiff=h * w * dtype.itemsize > 2**31) as tif,
    ):
        half = _level1(Path(tmp), dtype, shapes)
        tif.write(
            _tiles(_strips(labels, rows, dtype, half), w, tile),
            shape=(h, w),
            **options,
            **_scaled(resolution, 1),
        )
        for level, shape in enumerate(shapes[1:], 1):
            source = half[:: 2 ** (level - 1), :: 2 ** (level - 1)]
            tif.write(
                _tiles(_strips(source, tile, dtype, None), shape[1], tile),
                shape=shape,
                subfiletype=1,  # a reduced-resolution version of level 0
                **options,
                **_scaled(resolution, 2**level),
            )
        del half  # close the memory map before its folder goes


def _level1(folder: Path, dtype: np.dtype, shapes: list[tuple[int, int]]) -> Any:
    """A memory-mapped (on-disk) array for level 1, or None without reduced levels."""
    return open_memmap(folder / "level1.npy", "w+", dtype, shapes[1]) if shapes[1:] else None


def _strips(source: Any, rows: int, dtype: np.dtype, half: Any) -> Iterator[NDArray]:
    """Full-width strips of ``rows`` rows (even), read one at a time; each one's every
    other row and column also goes into ``half`` when given."""
    for y in range(0, int(source.shape[0]), rows):
        strip = np.asarray(source[y : y + rows]).astype(dtype, copy=False)
        if half is not None:
            half[y // 2 : y // 2 + -(-strip.shape[0] // 2)] = strip[::2, ::2]
        yield strip


def _tiles(strips: Iterator[NDArray], w: int, tile: int) -> Iterator[NDArray]:
    """The tiles of each strip, row of tiles by row of tiles, as tifffile takes them."""
    for strip in strips:
        for y in range(0, strip.shape[0], tile):
            for x in range(0, w, tile):
                yield strip[y : y + tile, x : x + tile]


def _scaled(resolution: dict[str, Any] | None, factor: int) -> dict[str, Any]:
    """The resolution tags of a level whose pixels are ``factor`` times larger."""
    if not resolution:
        return {}
    x, y = resolution["resolution"]
    return {**resolution, "resolution": (x / factor, y / factor)}
