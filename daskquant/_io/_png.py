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
    "FILTERS",
    "SIGNATURE",
    "bit_depth",
    "encode_chunk",
    "filter_rows",
    "header_chunks",
    "indexed_palette",
    "pack_rows",
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


def bit_depth(n_colors: int) -> int:
    """The smallest indexed-PNG bit depth (1, 2, 4 or 8) whose indices reach ``n_colors``.

    Examples
    --------
    >>> [bit_depth(k) for k in (1, 2, 3, 4, 16, 17, 256)]
    [1, 1, 2, 2, 4, 8, 8]
    """
    return next(bits for bits in (1, 2, 4, 8) if n_colors <= 1 << bits)


def pack_rows(indices: NDArray, bits: int) -> NDArray[np.uint8]:
    """(rows, W) indices below ``2**bits`` packed into bytes, the leftmost pixel in the
    high bits; each row padded with zero bits to a whole byte (PNG's scanline layout)."""
    rows = np.asarray(indices, np.uint8)
    if bits == 8:
        return rows
    per_byte = 8 // bits
    pad = -rows.shape[1] % per_byte
    rows = np.pad(rows, ((0, 0), (0, pad)))
    groups = rows.reshape(rows.shape[0], -1, per_byte)
    shifts = (8 - bits * (1 + np.arange(per_byte))).astype(np.uint8)
    return np.bitwise_or.reduce(groups << shifts, axis=2).astype(np.uint8)


def _paeth(left: NDArray, up: NDArray, corner: NDArray) -> NDArray:
    a, b, c = (v.astype(np.int16) for v in (left, up, corner))
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c)).astype(np.uint8)


def filter_rows(rows: NDArray[np.uint8], previous: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """PNG scanlines of ``rows`` (rows, L) bytes, each with the filter (none, sub, up,
    average, Paeth) whose output has the smallest sum of absolute values as signed bytes:
    libpng's adaptive heuristic. ``previous`` is the row above the first (zeros at the
    top). Filters work on bytes with a 1-byte left neighbour (indexed images).

    Returns
    -------
    (rows, L + 1) uint8 ndarray
        The filter type byte, then the filtered row.
    """
    up = np.vstack([previous[None], rows[:-1]])
    left = np.zeros_like(rows)
    left[:, 1:] = rows[:, :-1]
    corner = np.zeros_like(rows)
    corner[:, 1:] = up[:, :-1]
    average = ((left.astype(np.uint16) + up) >> 1).astype(np.uint8)
    candidates = np.stack(
        [rows, rows - left, rows - up, rows - average, rows - _paeth(left, up, corner)]
    )  # uint8 arithmetic wraps modulo 256, as PNG's filters do
    cost = np.abs(candidates.view(np.int8).astype(np.int32)).sum(axis=2)
    best = np.argmin(cost, axis=0)
    out = np.empty((rows.shape[0], rows.shape[1] + 1), np.uint8)
    out[:, 0] = best
    out[:, 1:] = candidates[best, np.arange(rows.shape[0])]
    return out


FILTERS = ("none", "adaptive")


def write_indexed(
    f: BinaryIO,
    shape: tuple[int, int],
    colors: NDArray[np.uint8],
    strips: Iterable[NDArray],
    *,
    alpha: NDArray[np.uint8] | None = None,
    filtering: str = "none",
    level: int = 6,
) -> None:
    """Write an indexed PNG: palette ``colors`` (K <= 256, 3), indices strip by strip, at
    the smallest bit depth that holds K (1 bit for K <= 2, 2 for 4, 4 for 16, else 8).

    Parameters
    ----------
    f : binary file
    shape : (int, int)
        Height and width.
    colors : (K, 3) uint8 ndarray
    strips : iterable of (rows, W) ndarrays
        The indices, full-width strips from the top; only one is held at a time.
    alpha : (K,) uint8 ndarray, optional
        Opacity of each palette entry (0 transparent, 255 opaque), written as a tRNS chunk
        (shortened past the last entry below 255). None: every entry opaque, no tRNS.
    filtering : {"none", "adaptive"}
        Row filters: none on every row (libpng's advice for palettes), or chosen per row
        by libpng's heuristic (see :func:`filter_rows`). On quantized photos, none gives
        the smaller file (benchmarks/png_size.py).
    level : int
        zlib compression level, 0-9 (9: about 2% smaller, 2-5x slower to write).
    """
    if filtering not in FILTERS:
        raise ValueError(f"filtering={filtering!r}: expected one of {FILTERS}")
    h, w = shape
    bits = bit_depth(len(colors))
    compressor = zlib.compressobj(level)
    f.write(SIGNATURE)
    # Width, height, bit depth, color type 3 (indexed), deflate, filter method 0, no interlace.
    f.write(encode_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bits, _INDEXED, 0, 0, 0)))
    f.write(encode_chunk(b"PLTE", np.ascontiguousarray(colors, np.uint8).tobytes()))
    if alpha is not None:
        opaque = np.asarray(alpha, np.uint8)
        if opaque.shape != (len(colors),):
            raise ValueError(f"alpha has shape {opaque.shape}; expected ({len(colors)},)")
        below = np.flatnonzero(opaque < 255)
        if below.size:
            f.write(encode_chunk(b"tRNS", opaque[: below[-1] + 1].tobytes()))
    previous = np.zeros(-(-w * bits // 8), np.uint8)
    pending = b""
    for strip in strips:
        if strip.shape[0] == 0:
            continue
        packed = pack_rows(strip, bits)
        if filtering == "adaptive":
            lines = filter_rows(packed, previous)
        else:
            lines = np.hstack([np.zeros((packed.shape[0], 1), np.uint8), packed])
        previous = packed[-1]
        pending += compressor.compress(lines.tobytes())
        if len(pending) >= _IDAT_SIZE:
            f.write(encode_chunk(b"IDAT", pending))
            pending = b""
    f.write(encode_chunk(b"IDAT", pending + compressor.flush()))
    f.write(encode_chunk(b"IEND", b""))
