"""What an image is, from its header only: shape, dtype and chunking, without the pixels.

:func:`image_header` answers for every input kind :func:`._readers.open_image` reads:
TIFF files and Zarr stores are opened lazily as they are for a job (their metadata only);
files that a job decodes whole (PNG, JPEG, ...) are described from their header (PNG's
IHDR and tRNS chunks, else Pillow's lazy open), with the chunking a job would give them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import dask.array as da
import numpy as np

from daskquant._errors import InputError
from daskquant._io._chunks import Chunks, default_chunks, full_chunks, spatial_chunks
from daskquant._io._decoders import DECODED_SUFFIXES, JPEG_SUFFIXES, over_limit
from daskquant._io._png import SIGNATURE, header_chunks
from daskquant._io._readers import open_image
from daskquant._io._storage import location

__all__ = ["Header", "image_header"]

_HEAD = 1 << 16  # bytes read from a decoded file: its header chunks, not its pixels
_ORIENTATION = 0x0112  # the EXIF tag

# PNG color type -> channels as the job decodes them (no tRNS, with tRNS).
_PNG_CHANNELS = {0: (1, 2), 2: (3, 3), 3: (3, 4), 4: (2, 2), 6: (4, 4)}
# Pillow mode -> (channels, dtype) as the job decodes them.
_PIL_MODES = {
    "1": (1, np.uint8),
    "L": (1, np.uint8),
    "LA": (2, np.uint8),
    "P": (3, np.uint8),
    "RGB": (3, np.uint8),
    "RGBA": (4, np.uint8),
    "CMYK": (3, np.uint8),
    "YCbCr": (3, np.uint8),
    "I;16": (1, np.uint16),
    "I;16B": (1, np.uint16),
}


@dataclass(frozen=True)
class Header:
    """An image as a job would open it, without its pixels.

    ``array`` is a lazy dask array of that shape, dtype and chunking whose tasks must not be
    computed for decoded files (it holds no data); ``decoded`` says the job decodes the
    file whole (in the client) before it chunks it; ``file_bytes`` is its size on disk
    (None for a store).
    """

    source: str
    array: da.Array
    decoded: bool
    file_bytes: int | None


def image_header(path: str | os.PathLike[str], *, chunks: Chunks = None, level: int = 0) -> Header:
    """The :class:`Header` of an image file or store (``chunks`` and ``level`` as in
    :func:`._readers.open_image`)."""
    where = location(path)
    if where.suffix.lower() not in DECODED_SUFFIXES or where.is_dir():
        arr = open_image(path, chunks=chunks, level=level)  # lazy: metadata only
        size = where.version().size if where.is_file() else None
        return Header(os.fspath(path), arr, False, size)
    shape, dtype = _decoded_shape(where)
    spatial = spatial_chunks(chunks)
    spec = full_chunks(spatial, len(shape)) if spatial else default_chunks(_full(shape))
    arr = da.empty(shape, dtype=dtype, chunks=spec[: len(shape)])
    return Header(os.fspath(path), arr, True, where.version().size)


def _full(shape: tuple[int, ...]) -> tuple[int, ...]:
    return shape if len(shape) == 3 else (*shape, 1)


def _decoded_shape(where: Any) -> tuple[tuple[int, ...], np.dtype]:
    with where.open() as f:  # a local file, an object in storage, a URL
        head = f.read(_HEAD)
    if head.startswith(SIGNATURE):
        return _png_shape(where, head)
    width, height, mode, transparent, turned = _pillow_header(where)
    if (
        turned and where.suffix.lower() in JPEG_SUFFIXES
    ):  # decoded upright: EXIF orientation 5 to 8
        width, height = height, width
    over_limit(where, width, height)  # refused as the job refuses it
    channels, dtype = _PIL_MODES.get(mode, (3, np.uint8))
    if mode == "P" and transparent:
        channels = 4
    return _shape(height, width, channels), np.dtype(dtype)


def _pillow_header(where: Any) -> tuple[int, int, str, bool, bool]:
    """Width, height, mode, transparency and a quarter turn (EXIF orientation 5-8) of a
    file Pillow reads, from its header. Pillow's own pixel limit, lower than the job's
    (:func:`._decoders.pixel_limit`), does not apply: the header is read by the format's
    plugin, as the decoder reads it."""
    from PIL import Image

    try:
        with where.open() as f:
            try:
                img = Image.open(f)  # reads the header only
            except Image.DecompressionBombError:
                f.seek(0)
                factory = Image.OPEN[Image.registered_extensions()[where.suffix.lower()]][0]
                img = factory(f, str(where))
            with img:
                turned = img.getexif().get(_ORIENTATION, 1) in (5, 6, 7, 8)
                return img.width, img.height, img.mode, "transparency" in img.info, turned
    except (OSError, KeyError) as exc:
        raise InputError(f"{where}: not an image file Pillow can read ({exc})") from exc


def _png_shape(where: Any, head: bytes) -> tuple[tuple[int, ...], np.dtype]:
    found = header_chunks(head)
    ihdr = found.get(b"IHDR", b"")
    if len(ihdr) < 10 or ihdr[9] not in _PNG_CHANNELS:
        raise InputError(f"{where}: corrupt PNG file (no IHDR header)")
    width, height = int.from_bytes(ihdr[0:4], "big"), int.from_bytes(ihdr[4:8], "big")
    over_limit(where, width, height)
    plain, with_trns = _PNG_CHANNELS[ihdr[9]]
    channels = with_trns if b"tRNS" in found else plain
    return _shape(height, width, channels), np.dtype(np.uint16 if ihdr[8] == 16 else np.uint8)


def _shape(height: int, width: int, channels: int) -> tuple[int, ...]:
    return (height, width) if channels == 1 else (height, width, channels)
