"""Export a finished store as a paletted image file: indexed PNG or tiled TIFF with a colormap.

Both are written strip by strip from the Zarr labels, so the whole image is never in memory,
and both hold the labels themselves with the palette inside the file: a viewer shows the
colors, and a program reads back the exact palette indices. Alpha is not exported.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import zarr
from numpy.typing import NDArray

from daskquant._color._display import rgb8_palette
from daskquant._errors import InvalidParameterError, StoreError
from daskquant._store._store import get_array, open_finished, pick_record

__all__ = ["export"]

PNG_MAX_COLORS = 256
TIFF_TILE = 512
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_IDAT_SIZE = 1 << 20


def export(
    store: str | Path,
    path: str | Path,
    *,
    name: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the labels of a finished store as a paletted image file.

    Parameters
    ----------
    store : path
        A complete daskquant store (any layout: single image, collection, OME-Zarr).
    path : path
        ``.png``: 8-bit indexed PNG, the palette in its PLTE chunk (K <= 256).
        ``.tif`` / ``.tiff``: tiled, deflate-compressed TIFF with photometric palette and a
        colormap (8-bit indices for K <= 256, else 16-bit); BigTIFF when large.
    name : str, optional
        Which image of a collection (default: the only one; required for several).
    overwrite : bool
        Replace an existing file at ``path``.

    Returns
    -------
    Path
        ``path``, written completely (through a temporary file and a rename).

    Raises
    ------
    StoreError
        The store is missing, incomplete or not a daskquant store; ``path`` exists.
    InvalidParameterError
        Unknown suffix, too many colors for PNG, a stack of images, or an unknown ``name``.

    Examples
    --------
    >>> dq.export("scan.zarr", "scan.png")  # doctest: +SKIP
    PosixPath('scan.png')
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".png", ".tif", ".tiff"):
        raise InvalidParameterError(
            f"{path}: export writes .png (indexed) or .tif/.tiff (colormap) files; "
            f"{suffix or 'no suffix'} is neither"
        )
    group = open_finished(store)
    record = pick_record(group, name, store=store)
    labels = get_array(group, record.labels[0])
    if labels.ndim != 2:
        raise InvalidParameterError(
            f"{store}: the labels are a stack {labels.shape}; export writes 2-D images"
        )
    palette = np.asarray(get_array(group, "palette")[...])
    colors = rgb8_palette(palette, palette.dtype)
    if suffix == ".png" and len(colors) > PNG_MAX_COLORS:
        raise InvalidParameterError(
            f"{path}: a PNG palette holds at most {PNG_MAX_COLORS} colors and {store} has "
            f"{len(colors)}; export to .tif instead"
        )
    if path.exists() and not overwrite:
        raise StoreError(f"{path} already exists; pass overwrite=True to replace it")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if suffix == ".png":
            _write_png(tmp, labels, colors)
        else:
            _write_tiff(tmp, labels, colors)
        os.replace(tmp, path)
    except OSError as exc:
        raise StoreError(f"{path}: cannot write the file ({exc.strerror or exc})") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _strips(labels: zarr.Array, rows: int) -> Iterator[NDArray]:
    """Full-width strips of ``rows`` rows, read one at a time."""
    for y in range(0, labels.shape[0], rows):
        yield np.asarray(labels[y : y + rows])


def _strip_rows(labels: zarr.Array) -> int:
    return max(1, int(labels.chunks[0]))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def _write_png(path: Path, labels: zarr.Array, colors: NDArray[np.uint8]) -> None:
    h, w = labels.shape
    compressor = zlib.compressobj(6)
    with open(path, "wb") as f:
        f.write(_PNG_SIGNATURE)
        # Width, height, bit depth 8, color type 3 (indexed), deflate, no filter, no interlace.
        f.write(_png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 3, 0, 0, 0)))
        f.write(_png_chunk(b"PLTE", colors.tobytes()))
        pending = b""
        for strip in _strips(labels, _strip_rows(labels)):
            rows = np.empty((strip.shape[0], w + 1), np.uint8)
            rows[:, 0] = 0  # filter type "none" on every row: best for flat label maps
            rows[:, 1:] = strip
            pending += compressor.compress(rows.tobytes())
            if len(pending) >= _IDAT_SIZE:
                f.write(_png_chunk(b"IDAT", pending))
                pending = b""
        f.write(_png_chunk(b"IDAT", pending + compressor.flush()))
        f.write(_png_chunk(b"IEND", b""))


def _write_tiff(path: Path, labels: zarr.Array, colors: NDArray[np.uint8]) -> None:
    import tifffile

    h, w = labels.shape
    dtype = np.dtype(np.uint8 if len(colors) <= 256 else np.uint16)
    colormap = np.zeros((3, 1 << (8 * dtype.itemsize)), np.uint16)
    colormap[:, : len(colors)] = colors.T.astype(np.uint16) * 257
    tile = min(TIFF_TILE, 16 * -(-max(h, w) // 16))  # tiles are multiples of 16

    # Strips of whole Zarr chunks, cut into rows of tiles: no Zarr chunk is decoded twice.
    rows = tile * -(-_strip_rows(labels) // tile)

    def tiles() -> Iterator[NDArray]:
        for strip in _strips(labels, rows):
            for y in range(0, strip.shape[0], tile):
                for x in range(0, w, tile):
                    yield strip[y : y + tile, x : x + tile].astype(dtype, copy=False)

    tifffile.imwrite(
        path,
        tiles(),
        shape=(h, w),
        dtype=dtype,
        tile=(tile, tile),
        photometric="palette",
        colormap=colormap,
        compression="zlib",
        bigtiff=h * w * dtype.itemsize > 2**31,
        software="daskquant",
    )
