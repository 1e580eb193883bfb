"""Image files decoded whole, in memory: which decoder reads which format, and why.

Each format goes to the decoder that reads it correctly, chosen by comparing decoders with
reference decodes (the corpus of ``tests/_corpus.py``):

==============  ========  ================================================================
format          decoder   why
==============  ========  ================================================================
PNG             OpenCV    every color type and bit depth as Pillow reads it (palettes of
                          1 to 8 bits, with tRNS as alpha; 1/2/4-bit gray scaled to 8
                          bits), and 16-bit RGB(A), which Pillow cuts to 8 bits. Gray +
                          alpha stays 2 channels (OpenCV makes BGRA of it); a gray tRNS
                          color key becomes an alpha channel (OpenCV ignores it)
JPEG            OpenCV    gray and YCbCr: the same pixels as Pillow (both libjpeg-turbo);
                          EXIF orientation applied
JPEG, 4 comp.   Pillow    CMYK and YCCK (Adobe) JPEGs: Pillow undoes Adobe's inversion, then
                          the uncalibrated CMYK to RGB of :mod:`daskquant._color._models`
                          (OpenCV's own conversion is up to 2 levels off); EXIF orientation
                          applied
BMP, DIB        Pillow    OpenCV reads OS/2 palette BMPs as gray, takes the unused 4th byte
                          of 32-bit bitfield BMPs as alpha (transparent where it is 0) and
                          scales 5-6-5 levels by shifting (up to 7 levels too dark)
WebP            OpenCV    the same pixels as Pillow (libwebp), alpha kept
PNM, JPEG 2000  OpenCV
==============  ========  ================================================================

Every decoder reads at most 2^30 pixels (OpenCV's limit, which the environment variable
``OPENCV_IO_MAX_IMAGE_PIXELS`` changes when set before daskquant starts): larger images
belong in tiled TIFF or Zarr, which are read lazily. A file that stops before its end
(PNG without IEND, JPEG without its end-of-image marker, BMP with too few bytes) is refused:
decoders would fill the rest with gray or black. Every failure is one :class:`InputError`
naming the file.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from daskquant._color._models import cmyk_to_rgb
from daskquant._errors import InputError
from daskquant._io._png import header_chunks, stream_problem
from daskquant._io._storage import Location, StoreLike, location

__all__ = [
    "DECODED_SUFFIXES",
    "JPEG_SUFFIXES",
    "decode_file",
    "jpeg_header",
    "over_limit",
    "pixel_limit",
]

JPEG_SUFFIXES = (".jpg", ".jpeg", ".jpe")
# Start-of-frame markers (not DHT C4, JPG C8, DAC CC): they give size and components.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_GRAY_ALPHA, _GRAY = 4, 0  # PNG IHDR color types


def pixel_limit() -> int:
    """The most pixels a file decoded whole may have: OpenCV's limit (2^30 unless
    ``OPENCV_IO_MAX_IMAGE_PIXELS`` says otherwise), for every decoder."""
    try:
        return int(os.environ.get("OPENCV_IO_MAX_IMAGE_PIXELS", 1 << 30))
    except ValueError:
        return 1 << 30


def over_limit(path: Location, width: int | None = None, height: int | None = None) -> None:
    """Refuse an image of ``width`` x ``height`` pixels (unknown: refused) over
    :func:`pixel_limit`, with the advice that goes with it."""
    limit = pixel_limit()
    if width is not None and height is not None and width * height <= limit:
        return
    size = "" if width is None or height is None else f" {width} x {height} pixels,"
    raise InputError(
        f"{path}: the image is{size} over the limit of {limit:,} pixels for files decoded "
        "whole in memory; convert it to a tiled TIFF or Zarr (read lazily, in chunks), or "
        "raise the limit with the environment variable OPENCV_IO_MAX_IMAGE_PIXELS"
    )


def decode_file(path: StoreLike) -> NDArray:
    """Decode a whole image file with the decoder of its format (see the module docstring).

    Returns
    -------
    (H, W) or (H, W, C) ndarray
        Gray, gray + alpha, RGB or RGBA, in the file's bit depth.

    Raises
    ------
    InputError
        Unreadable, truncated or corrupt file, too many pixels, or a variant the decoder
        does not read; the message names the file.
    """
    path = location(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
    return _DECODERS.get(path.suffix.lower(), _other)(path, data)


def _png(path: Location, data: bytes) -> NDArray:
    import cv2

    if problem := stream_problem(data):
        raise InputError(f"{path}: {problem}")
    chunks = header_chunks(data)
    ihdr = chunks.get(b"IHDR", b"")
    if len(ihdr) < 10:
        raise InputError(f"{path}: corrupt PNG file (no IHDR header)")
    width, height = int.from_bytes(ihdr[0:4], "big"), int.from_bytes(ihdr[4:8], "big")
    depth, color = ihdr[8], ihdr[9]
    over_limit(path, width, height)
    image = _opencv(path, data, cv2.IMREAD_UNCHANGED)
    if color == _GRAY_ALPHA and image.ndim == 3 and image.shape[2] == 4:
        return np.ascontiguousarray(image[..., [0, 3]])  # OpenCV repeats the gray 3 times
    if color == _GRAY and b"tRNS" in chunks and image.ndim == 2:
        key = int.from_bytes(chunks[b"tRNS"][:2], "big")
        if depth < 8:  # OpenCV scales 1, 2 and 4-bit gray to 8 bits
            key = key * 255 // ((1 << depth) - 1)
        alpha = np.where(image == key, 0, np.iinfo(image.dtype).max).astype(image.dtype)
        return np.dstack([image, alpha])
    return image


def jpeg_header(data: bytes) -> tuple[bool, int, int, int]:
    """(complete, components, width, height) of a JPEG stream; 0 where not found.

    Segments before the first scan (SOS) are skipped by their lengths, so the end marker of
    an EXIF thumbnail does not count; bytes that are not a marker between segments are
    skipped, as libjpeg does (with a warning). After SOS, 0xFF 0xD9 can only be the real
    end-of-image marker (0xFF in entropy-coded data is always followed by 0x00 or a restart
    marker), so a stream without it stops before its end.

    Examples
    --------
    >>> sof = b"\\xff\\xc0\\x00\\x0b\\x08\\x00\\x10\\x00\\x18\\x01\\x01\\x11\\x00"
    >>> sos = b"\\xff\\xda\\x00\\x08\\x01\\x01\\x00\\x00\\x3f\\x00"
    >>> jpeg_header(b"\\xff\\xd8" + sof + b"junk" + sos + b"\\x12\\x34\\xff\\xd9")
    (True, 1, 24, 16)
    >>> jpeg_header(b"\\xff\\xd8" + sof + sos + b"\\x12\\x34")
    (False, 1, 24, 16)
    """
    if not data.startswith(b"\xff\xd8"):
        return False, 0, 0, 0
    n, pos = len(data), 2
    components = width = height = 0
    while (pos := data.find(b"\xff", pos)) != -1:
        while pos < n and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos + 2 >= n:
            break
        marker, pos = data[pos], pos + 1
        if marker == 0x00 or marker == 0x01 or 0xD0 <= marker <= 0xD8:
            continue  # a stuffed byte, or a marker without a length
        if marker == 0xD9:
            break  # end of image before any scan
        length = int.from_bytes(data[pos : pos + 2], "big")
        if marker in _SOF and pos + 8 <= n:
            height = int.from_bytes(data[pos + 3 : pos + 5], "big")
            width = int.from_bytes(data[pos + 5 : pos + 7], "big")
            components = data[pos + 7]
        if marker == 0xDA:
            complete = data.find(b"\xff\xd9", pos + length) != -1
            return complete, components, width, height
        pos += length
    return False, components, width, height


def _jpeg(path: Location, data: bytes) -> NDArray:
    import cv2

    complete, components, width, height = jpeg_header(data)
    if not complete:
        raise InputError(f"{path}: truncated or corrupt JPEG file (no end of image marker)")
    if width and height:
        over_limit(path, width, height)
    if components == 4:  # CMYK or YCCK
        return _pillow(path, data, "JPEG")
    # The EXIF orientation is applied (IMREAD_UNCHANGED would ignore it).
    return _opencv(path, data, cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH)


def _bmp(path: Location, data: bytes) -> NDArray:
    return _pillow(path, data, "BMP")


def _other(path: Location, data: bytes) -> NDArray:
    import cv2

    return _opencv(path, data, cv2.IMREAD_UNCHANGED)


def _opencv(path: Location, data: bytes, flags: int) -> NDArray:
    """OpenCV's decode, in RGB(A) order."""
    import cv2

    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error as exc:
        if "CV_IO_MAX_IMAGE_PIXELS" in str(exc):
            over_limit(path)
        reason = str(exc).strip().splitlines()[0].split(" error: ")[-1]
        raise InputError(f"{path}: OpenCV cannot decode this file ({reason})") from exc
    if image is None:
        raise InputError(
            f"{path}: OpenCV cannot decode this file (corrupt, truncated or not really "
            f"{path.suffix[1:].upper()})"
        )
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    return image


def _pillow(path: Location, data: bytes, kind: str) -> NDArray:
    """Pillow's decode, under daskquant's pixel limit (not Pillow's own, lower one)."""
    from PIL import BmpImagePlugin, ImageOps, JpegImagePlugin

    # The plugin's class reads the header without Image.open's decompression-bomb check.
    opener: dict[str, Any] = {
        "BMP": BmpImagePlugin.BmpImageFile,
        "JPEG": JpegImagePlugin.JpegImageFile,
    }
    try:
        image = opener[kind](io.BytesIO(data))
    except Exception as exc:
        raise InputError(f"{path}: Pillow cannot read this {kind} file ({exc})") from exc
    over_limit(path, *image.size)
    try:
        image.load()
    except Exception as exc:
        raise InputError(
            f"{path}: truncated or corrupt {kind} file (Pillow: {exc}); copy it again"
        ) from exc
    if kind == "JPEG":
        image = ImageOps.exif_transpose(image)
    convert = _PILLOW_MODES.get(image.mode)
    if convert is None:
        raise InputError(
            f"{path}: Pillow decodes this {kind} file as mode {image.mode!r}, which "
            "daskquant does not read; convert it to RGB"
        )
    return convert(image)


def _array(image: Any) -> NDArray:
    return np.asarray(image)


# Pillow's modes -> gray, gray + alpha, RGB or RGBA arrays.
_PILLOW_MODES: dict[str, Callable[[Any], NDArray]] = {
    "L": _array,
    "LA": _array,
    "RGB": _array,
    "RGBA": _array,
    "I;16": _array,
    "1": lambda im: np.asarray(im.convert("L")),
    "P": lambda im: np.asarray(im.convert("RGBA" if "transparency" in im.info else "RGB")),
    "RGBX": lambda im: np.asarray(im)[..., :3].copy(),
    "CMYK": lambda im: cmyk_to_rgb(np.asarray(im), scale=255),
}

# Decoders by (lower-case) suffix; the rest go to OpenCV as they are.
_DECODERS: dict[str, Callable[[Location, bytes], NDArray]] = {
    ".png": _png,
    **dict.fromkeys(JPEG_SUFFIXES, _jpeg),
    ".bmp": _bmp,
    ".dib": _bmp,
}
DECODED_SUFFIXES = {
    *_DECODERS,
    ".webp",
    ".jp2",
    ".pbm",
    ".pgm",
    ".ppm",
    ".pnm",
}
