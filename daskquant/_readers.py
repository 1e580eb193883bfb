"""Opening images lazily: NumPy/Dask arrays, Zarr arrays, and ordinary image files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np

from daskquant._errors import InputError
from daskquant._layout import default_chunks

__all__ = ["decoded_in_memory", "open_image"]

# OpenCV decodes these; it returns BGR(A), which is turned into RGB(A) here.
_CV2_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".jp2", ".ppm"}


def open_image(source: Any, *, chunks: tuple[int, ...] | int | None = None) -> da.Array:
    """A lazy dask array for ``source``: an array, a Zarr array path, or an image file.

    Image files are decoded by OpenCV, which reads channels as BGR(A); they are returned in
    RGB(A) order. Zarr arrays are read chunk by chunk, with their own chunking by default.
    """
    if isinstance(source, da.Array):
        return source
    if isinstance(source, np.ndarray):
        return da.from_array(source, chunks=default_chunks(_with_channels(source.shape)))
    path = Path(os.fspath(source))
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    if path.is_dir():
        return _open_zarr(path)
    if path.suffix.lower() in _CV2_SUFFIXES:
        return _open_cv2(path)
    raise InputError(
        f"{path}: unknown image format {path.suffix!r}; daskquant reads Zarr arrays and "
        f"{', '.join(sorted(_CV2_SUFFIXES))} files"
    )


def decoded_in_memory(source: Any) -> bool:
    """True where :func:`open_image` holds the whole image in memory (arrays, OpenCV files)."""
    if isinstance(source, np.ndarray):
        return True
    if isinstance(source, (str, os.PathLike)):
        return Path(os.fspath(source)).suffix.lower() in _CV2_SUFFIXES
    return False


def _with_channels(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (*shape, 1) if len(shape) == 2 else shape


def _open_zarr(path: Path) -> da.Array:
    import zarr

    try:
        node = zarr.open(str(path), mode="r")
    except Exception as exc:
        raise InputError(f"{path}: not a readable Zarr array ({exc})") from exc
    if not isinstance(node, zarr.Array):
        raise InputError(f"{path}: is a Zarr group; give the path of the image array in it")
    return da.from_zarr(node)


def _open_cv2(path: Path) -> da.Array:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError(
            f"{path}: OpenCV cannot decode this file (corrupt, truncated or unsupported)"
        )
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    return da.from_array(image, chunks=default_chunks(_with_channels(image.shape))[: image.ndim])
