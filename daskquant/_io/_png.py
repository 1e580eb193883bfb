"""PNG chunk streams: checking one before it is decoded, reading its palette, writing one.

A PNG file is a signature and then chunks: 4-byte length, 4-byte kind, the data, and a CRC
of kind + data, up to ``IEND``. Pixels are decoded by OpenCV (:mod:`._readers`); this module
only needs the chunk structure.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Iterator
from typing import BinaryIO

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "SIGNATURE",
    "encode_chunk",
    "header_chunks",
    "indexed_palette",
    "stream_problem",
    "write_indexed",
]

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_IDAT_SIZE = 1 << 20  # compressed bytes per IDAT chunk written
_INDEXED = 3  # IHDR color type of a paletted image


def _chunks(data: bytes) -> Iterator[tuple[int, bytes, bytes, int]]:
    """(start, kind, data, end) of every chunk whose header is in ``data``, from byte 8.

    ``end`` is where the chunk (with its CRC) ends; it is past ``len(data)`` for a
    truncated last chunk, whose data is then cut short.
    """
    pos = 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        end = pos + 12 + length
        yield pos, data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length], end
        pos = end


def stream_problem(data: bytes) -> str | None:
    """What is wrong with a PNG stream's chunk structure, or None: each chunk must fit in
    the file and match its CRC, up to IEND. Checked before decoding, so that a damaged file
    gets one clear message rather than a decoder's complaint.

    Examples
    --------
    >>> stream_problem(SIGNATURE + encode_chunk(b"IEND", b"")) is None
    True
    >>> stream_problem(SIGNATURE)
    'truncated PNG file (it ends before its IEND chunk); copy it again'
    """
    if not data.startswith(SIGNATURE):
        return "not a PNG file (no PNG signature)"
    for pos, kind, body, end in _chunks(data):
        if end > len(data):
            break
        crc = int.from_bytes(data[end - 4 : end], "big")
        if zlib.crc32(kind + body) != crc:
            name = kind.decode("latin-1")
            return f"corrupt PNG file (chunk {name!r} at byte {pos} fails its CRC check)"
        if kind == b"IEND":
            return None
    return "truncated PNG file (it ends before its IEND chunk); copy it again"


def indexed_palette(data: bytes) -> tuple[bool, bytes | None]:
    """Whether a PNG stream is paletted (IHDR color type 3), and its PLTE data if it has
    one before the image data. CRCs are not checked."""
    color_type, plte = -1, None
    for _, kind, body, _ in _chunks(data):
        if kind == b"IHDR":
            color_type = body[9]
        elif kind == b"PLTE":
            plte = body
        elif kind in (b"IDAT", b"IEND"):
            break
    return color_type == _INDEXED, plte


def header_chunks(data: bytes) -> dict[bytes, bytes]:
    """The chunks before the image data (IHDR, PLTE, tRNS, ...), by kind; CRCs are not
    checked.

    Examples
    --------
    >>> ihdr = struct.pack(">IIBBBBB", 6, 4, 16, 4, 0, 0, 0)  # 6 x 4, 16-bit gray + alpha
    >>> found = header_chunks(SIGNATURE + encode_chunk(b"IHDR", ihdr))
    >>> list(found[b"IHDR"][8:10])  # bit depth, color type
    [16, 4]
    """
    found: dict[bytes, bytes] = {}
    for _, kind, body, _ in _chunks(data):
        if kind in (b"IDAT", b"IEND"):
            break
        found.setdefault(kind, body)
    return found


def encode_chunk(kind: bytes, data: bytes) -> bytes:
    """One chunk: length, kind, data, CRC."""
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def write_indexed(
    f: BinaryIO,
    shape: tuple[int, int],
    colors: NDArray[np.uint8],
    strips: Iterable[NDArray],
) -> None:
    """Write an 8-bit indexed PNG: palette ``colors`` (K <= 256, 3), indices strip by strip.

    Parameters
    ----------
    f : binary file
    shape : (int, int)
        Height and width.
    colors : (K, 3) uint8 ndarray
    strips : iterable of (rows, W) ndarrays
        The indices, full-width strips from the top; only one is held at a time.
    """
    h, w = shape
    compressor = zlib.compressobj(6)
    f.write(SIGNATURE)
    # Width, height, bit depth 8, color type 3 (indexed), deflate, no filter, no interlace.
    f.write(encode_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, _INDEXED, 0, 0, 0)))
    f.write(encode_chunk(b"PLTE", colors.tobytes()))
    pending = b""
    for strip in strips:
        rows = np.empty((strip.shape[0], w + 1), np.uint8)
        rows[:, 0] = 0  # filter type "none" on every row: best for flat label maps
        rows[:, 1:] = strip
        pending += compressor.compress(rows.tobytes())
        if len(pending) >= _IDAT_SIZE:
            f.write(encode_chunk(b"IDAT", pending))
            pending = b""
    f.write(encode_chunk(b"IDAT", pending + compressor.flush()))
    f.write(encode_chunk(b"IEND", b""))
