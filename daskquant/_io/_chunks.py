"""The chunk policy: what ``chunks=`` means, and the chunk sizes picked when it is not given.

One meaning everywhere (``open_image``, ``fit_palette``, ``quantize``, the CLI's
``--chunks``): a spatial size in pixels, one int (square) or (rows, columns). Arrays also
take one size per axis before the channels, or per axis with the channels (the channel
axis always stays in one chunk). When ``chunks`` is not given:

- an array gets :func:`default_chunks`: square-ish chunks of 1 to 16 megapixels;
- a file or store with its own tiles or chunks gets :func:`aligned_chunks`: whole tiles,
  grown to about the default size, so no tile is decoded twice.

=========================  ===============================================================
function                   turns
=========================  ===============================================================
:func:`parse_chunks`       the CLI's text (``1024`` or ``1024,2048``) into ``chunks``
:func:`spatial_chunks`     ``chunks`` for an image file or store into (rows, columns)
:func:`file_chunks`        ``chunks`` meant for an array into what a file takes
:func:`array_chunks`       ``chunks`` for an array of ``ndim`` axes into dask chunks
:func:`full_chunks`        (rows, columns) into dask chunks of an array of ``ndim`` axes
=========================  ===============================================================
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from daskquant._errors import InvalidParameterError

__all__ = [
    "Chunks",
    "aligned_chunks",
    "array_chunks",
    "default_chunks",
    "file_chunks",
    "full_chunks",
    "parse_chunks",
    "spatial_chunks",
]

Chunks = tuple[int, ...] | int | None

# Pixels per chunk: large enough that a gigapixel image makes a few hundred tasks, small
# enough that a 2-core machine gets several chunks of a 6-megapixel photo.
_MIN_CHUNK_PIXELS = 1 << 20
_MAX_CHUNK_PIXELS = 1 << 24


def default_chunks(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Square-ish spatial chunks of 1-16 megapixels (at least ~8 chunks where possible).

    Parameters
    ----------
    shape : (..., H, W, C) tuple
        Leading (stack) axes get chunks of 1, the channel axis one chunk.

    Examples
    --------
    >>> default_chunks((50000, 50000, 3)), default_chunks((2, 3000, 2000, 1))
    ((4096, 4096, 3), (1, 1024, 1024, 1))
    """
    *lead, h, w, c = shape
    target = min(max(h * w // 8, _MIN_CHUNK_PIXELS), _MAX_CHUNK_PIXELS)
    side = max(256, int(math.sqrt(target)) // 256 * 256)
    return (*([1] * len(lead)), min(h, side), min(w, side), c)


def aligned_chunks(shape: tuple[int, int], native: tuple[int, int]) -> tuple[int, int]:
    """A spatial chunk size made of whole native chunks (tiles, strips, Zarr chunks).

    Starting from one native chunk, the side that is smaller relative to the image is
    doubled until the chunk holds at least as many pixels as :func:`default_chunks` picks
    for the image (1 to 16 megapixels, so at most about 32 in whole tiles). A file with
    small tiles does not become thousands of tiny tasks, and no tile is decoded twice.

    Parameters
    ----------
    shape : (int, int)
        Image height and width.
    native : (int, int)
        Tile (or chunk, or strip) height and width in the file.

    Returns
    -------
    (int, int)

    Examples
    --------
    >>> aligned_chunks((10000, 10000), (256, 256))
    (4096, 4096)
    >>> aligned_chunks((10000, 3000), (16, 3000))
    (2048, 3000)
    """
    h, w = shape
    target_h, target_w = default_chunks((h, w, 1))[:2]
    target = target_h * target_w
    size = [min(native[0], h), min(native[1], w)]
    while size[0] * size[1] < target:
        growable = [i for i in (0, 1) if size[i] < shape[i]]
        if not growable:
            break
        i = min(growable, key=lambda j: size[j] / shape[j])
        size[i] = min(size[i] * 2, shape[i])
    return size[0], size[1]


def parse_chunks(text: str) -> int | tuple[int, ...]:
    """The ``chunks`` a command line's ``--chunks`` text gives.

    Raises
    ------
    ValueError
        Not integers separated by commas, or a size below 1; the message says which.

    Examples
    --------
    >>> parse_chunks("1024"), parse_chunks("512,2048")
    (1024, (512, 2048))
    """
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(
            f"expected a size in pixels or sizes per axis (1024 or 1024,2048), got {text!r}"
        ) from None
    if any(s < 1 for s in sizes):
        raise ValueError(f"chunk sizes must be positive, got {text!r}")
    return sizes[0] if len(sizes) == 1 else sizes


def spatial_chunks(chunks: Chunks) -> tuple[int, int] | None:
    """``chunks`` for an image file or store as (rows, columns); None stays None.

    Raises
    ------
    InvalidParameterError
        Not one positive integer or two.
    """
    if chunks is None:
        return None
    sizes = (chunks, chunks) if _is_int(chunks) else _sizes(chunks)
    if len(sizes) != 2 or not all(_is_size(s) for s in sizes):
        raise InvalidParameterError(
            f"chunks={chunks!r}: give one positive size in pixels, or (rows, columns)"
        )
    return int(sizes[0]), int(sizes[1])


def file_chunks(chunks: Chunks) -> Chunks:
    """``chunks`` meant for an (H, W, C) array, as an image file takes them: a trailing
    channel size means nothing for a file and is dropped."""
    if isinstance(chunks, tuple) and len(chunks) == 3:
        return chunks[:2]
    return chunks


def full_chunks(spatial: tuple[int, int], ndim: int) -> tuple[int, ...]:
    """Dask chunks of an (H, W), (H, W, C) or (N, H, W, C) array from (rows, columns): a
    stack axis gets 1, the channel axis one chunk (-1).

    Examples
    --------
    >>> full_chunks((512, 256), 2), full_chunks((512, 256), 4)
    ((512, 256), (1, 512, 256, -1))
    """
    lead = {2: (), 3: (), 4: (1,)}[ndim]
    channel = () if ndim == 2 else (-1,)
    return (*lead, *spatial, *channel)


def array_chunks(chunks: tuple[int, ...] | int, ndim: int) -> tuple[int, ...]:
    """Dask chunks of a (H, W, C) or (N, H, W, C) array (``ndim`` 3 or 4) from ``chunks``:
    one size (square), (rows, columns), or one size per axis with or without the channels.

    Raises
    ------
    InvalidParameterError
        Another count of sizes, or a size below 1.

    Examples
    --------
    >>> array_chunks(256, 3), array_chunks((64, 128), 4), array_chunks((2, 64, 128, 3), 4)
    ((256, 256, -1), (1, 64, 128, -1), (2, 64, 128, -1))
    """
    spatial = (chunks,) * 2 if _is_int(chunks) else _sizes(chunks)
    if len(spatial) == ndim:
        spatial = spatial[:-1]
    if len(spatial) == 2 and ndim == 4:
        spatial = (1, *spatial)
    if len(spatial) != ndim - 1 or not all(_is_size(s) for s in spatial):
        raise InvalidParameterError(
            f"chunks={chunks!r}: give one positive size, or one per spatial axis "
            f"({ndim - 1} values for this image)"
        )
    return (*(int(s) for s in spatial), -1)


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_size(value: Any) -> bool:
    """A chunk size: a positive integer (not a bool, a float or a string)."""
    return _is_int(value) and value >= 1


def _sizes(chunks: Any) -> tuple[Any, ...]:
    """``chunks`` as a tuple of what should be sizes; a lone value (``1.5``, ``"big"``)
    is one, so that it is refused as a size, not as a type error."""
    if isinstance(chunks, str):
        return (chunks,)
    try:
        return tuple(chunks)
    except TypeError:
        return (chunks,)
