"""Chunk sizes for files that have their own tiles or chunks."""

from __future__ import annotations

from daskquant._io._layout import default_chunks

__all__ = ["aligned_chunks"]


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
