"""Tiled, pyramidal and ordinary (Big)TIFF files, read lazily through tifffile's Zarr store.

A ``ZarrTiffStore`` holds an open file and a lock, so it cannot be pickled. The
dask array built here carries only the file's path, level and identity; each worker process
opens the file once (cached) the first time one of its tasks reads a region. Dask chunks
are whole multiples of the file's tiles (or strips), so no tile is decoded twice.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import dask
import dask.array as da
import numpy as np
from numpy.typing import NDArray

from daskquant._errors import InputError, InvalidParameterError
from daskquant._io._chunks import aligned_chunks
from daskquant._io._storage import Location, StoreLike, location

__all__ = ["TIFF_SUFFIXES", "open_tiff", "tiff_levels"]

TIFF_SUFFIXES = {".tif", ".tiff", ".btf", ".tf8", ".svs"}

# Below 3 cores tifffile decodes on one thread unless maxworkers is passed.
_DECODE_THREADS = max(2, os.cpu_count() or 1)


@dataclass(frozen=True)
class _Info:
    shape: tuple[int, ...]  # as stored (tifffile's axes order)
    dtype: np.dtype
    axes: str
    chunks: tuple[int, ...]  # tiles or strips, in the same order
    colormap: NDArray[np.uint16] | None


def tiff_levels(path: StoreLike) -> int:
    """How many resolution levels the first image series of a TIFF file has."""
    with _opened(location(path)) as tf:
        return len(tf.series[0].levels)


def open_tiff(
    path: StoreLike, *, level: int = 0, chunks: tuple[int, int] | None = None
) -> da.Array:
    """A lazy (H, W), (H, W, C) or (N, H, W, C) dask array of a TIFF file's first series.

    Parameters
    ----------
    path : str, PathLike or Location
        A TIFF or BigTIFF file, tiled or in strips, any compression tifffile and
        imagecodecs decode (JPEG, deflate, LZW, Zstd, ...).
    level : int
        Pyramid level; 0 is the full resolution.
    chunks : (int, int), optional
        Spatial chunk size; by default whole tiles (or strips), see
        :func:`daskquant._io._chunks.aligned_chunks`.

    Raises
    ------
    InputError
        The file is not a readable TIFF, is truncated, or has more than one non-spatial axis.
    InvalidParameterError
        ``level`` does not exist in the file.
    """
    path = location(path)
    info = _read_info(path, level)
    yx = (info.axes.index("Y"), info.axes.index("X"))
    spatial = (info.shape[yx[0]], info.shape[yx[1]])
    native = (info.chunks[yx[0]], info.chunks[yx[1]])
    size = chunks if chunks is not None else aligned_chunks(spatial, native)
    block = list(info.shape)
    block[yx[0]], block[yx[1]] = size
    region = _TiffRegion(str(path), level, info.shape, info.dtype, _identity(path))
    arr = da.from_array(region, chunks=tuple(block), asarray=False, fancy=False)
    axes = info.axes
    if info.colormap is not None:  # indices become colors, on a new last axis
        arr = _apply_colormap(arr, info.colormap)
        axes += "S"
    # tifffile's axes: Y, X, S (samples) or C (channels), and at most one other (pages).
    other = [i for i, a in enumerate(axes) if a not in "YXSC"]
    channel = [i for i, a in enumerate(axes) if a in "SC"]
    if len(other) > 1 or len(channel) > 1:
        raise InputError(
            f"{path}: holds an image with axes {axes!r} and shape {info.shape}; "
            "daskquant reads 2-D images (Y, X, samples) or one stack of them"
        )
    order = [*other, *yx, *channel]
    return arr.transpose(order) if order != list(range(arr.ndim)) else arr


def _identity(path: Location) -> tuple[int, int, int]:
    # The change time too: a process that opened an older version must open it again.
    v = path.version()
    return v.mtime_ns, v.size, v.ctime_ns


@contextmanager
def _opened(path: Location) -> Iterator[Any]:
    """A TiffFile, with failures to parse it reported as InputError naming the file."""
    import tifffile

    try:
        tf = tifffile.TiffFile(path.local())
    except Exception as exc:
        raise InputError(
            f"{path}: not a readable TIFF file ({exc}); check that it is complete"
        ) from exc
    try:
        if not tf.series:
            raise InputError(f"{path}: the TIFF file holds no image")
        yield tf
    finally:
        tf.close()


def _read_info(path: Location, level: int) -> _Info:
    import tifffile

    with _opened(path) as tf:
        series = tf.series[0]
        n_levels = len(series.levels)
        if not 0 <= level < n_levels:
            raise InvalidParameterError(
                f"level={level}: {path} has {n_levels} resolution level(s), 0 to {n_levels - 1}"
            )
        series = series.levels[level]
        page = series.keyframe
        size = path.version().size
        for p in series.pages:
            if p is None:
                continue
            ends = np.asarray(p.dataoffsets, np.int64) + np.asarray(p.databytecounts, np.int64)
            if ends.size and int(ends.max()) > size:
                raise InputError(
                    f"{path}: truncated TIFF file (image data runs past its end at "
                    f"{int(ends.max())} bytes; the file has {size}); copy it again"
                )
        colormap = None
        if page.photometric == tifffile.PHOTOMETRIC.PALETTE and page.colormap is not None:
            colormap = np.asarray(page.colormap, np.uint16)
        store = tf.series[0].aszarr(level=level)
        try:
            import zarr

            z = zarr.open_array(store, mode="r")
            chunks = tuple(int(c) for c in z.chunks)
        finally:
            store.close()
        return _Info(
            shape=tuple(int(s) for s in series.shape),
            dtype=np.dtype(series.dtype),
            axes=series.axes,
            chunks=chunks,
            colormap=colormap,
        )


class _TiffRegion:
    """Array-like view of one level of a TIFF file; picklable (holds only the path)."""

    def __init__(
        self,
        path: str,
        level: int,
        shape: tuple[int, ...],
        dtype: np.dtype,
        identity: tuple[int, int, int],
    ) -> None:
        self.path = path
        self.level = level
        self.shape = shape
        self.dtype = dtype
        self.ndim = len(shape)
        self.identity = identity

    def __getitem__(self, key: Any) -> NDArray:
        try:
            return np.asarray(_zarr_level(self.path, self.level, self.identity)[key])
        except InputError:
            raise
        except Exception as exc:
            raise InputError(
                f"{self.path}: cannot decode image data ({type(exc).__name__}: {exc}); the "
                "file is corrupt or uses a compression imagecodecs does not support"
            ) from exc

    def __dask_tokenize__(self) -> tuple[Any, ...]:
        return ("daskquant-tiff", self.path, self.level, self.identity)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_TiffRegion, (self.path, self.level, self.shape, self.dtype, self.identity))


_open_lock = threading.Lock()


@lru_cache(maxsize=8)
def _zarr_level(path: str, level: int, identity: tuple[int, int, int]) -> Any:
    """The Zarr array of one TIFF level, opened once per process (and per file version)."""
    import tifffile
    import zarr

    if _identity(location(path)) != identity:
        raise InputError(f"{path}: the file changed while it was being read; run again")
    with _open_lock:
        tf = tifffile.TiffFile(path)
        store = tf.series[0].aszarr(level=level, maxworkers=_DECODE_THREADS)
        return zarr.open_array(store, mode="r")


def _apply_colormap(arr: da.Array, colormap: NDArray[np.uint16]) -> da.Array:
    # Palette TIFFs (like daskquant's own exports) hold indices; the colors are read instead.
    # Colormaps are 16-bit; 8-bit colors are stored as v * 257 and come back exactly.
    table: NDArray = colormap.T.copy()
    if np.all(colormap % 257 == 0):
        table = (table // 257).astype(np.uint8)
    meta = np.empty((0,) * (arr.ndim + 1), table.dtype)
    shared = dask.delayed(table, pure=True)
    chunks = (*arr.chunks, (3,))
    return da.map_blocks(
        _lookup, arr, shared, new_axis=arr.ndim, chunks=chunks, dtype=table.dtype, meta=meta
    )


def _lookup(block: NDArray, table: NDArray) -> NDArray:
    return table[block]
