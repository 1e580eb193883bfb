"""Tiled, pyramidal and ordinary (Big)TIFF files, read lazily through tifffile's Zarr store.

A ``ZarrTiffStore`` holds an open file and a lock, so it cannot be pickled. The
dask array built here carries only the file's location, level and identity; each worker
process opens the file (a local path, or a URL's file through fsspec, which then fetches
only the byte ranges of the tiles a chunk needs) once (cached) the first time one of its
tasks reads a region, and closes it when the cache evicts it. Dask chunks are whole
multiples of the file's tiles (or strips), so no tile is decoded twice.

Samples are read by what the tags say they are (:mod:`._photometric`): gray, palette,
CMYK, CIELAB and YCbCr images become gray or RGB, n-bit values are scaled to full range,
and only samples marked as alpha are alpha. The conversion runs chunk by chunk, on the
workers.
"""

from __future__ import annotations

import os
import struct
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, BinaryIO

import dask
import dask.array as da
import numpy as np
from numpy.typing import NDArray

from daskquant._errors import InputError, InvalidParameterError
from daskquant._io._chunks import aligned_chunks
from daskquant._io._photometric import Samples, samples_of
from daskquant._io._storage import LocalLocation, Location, StoreLike, location

__all__ = [
    "TIFF_SUFFIXES",
    "is_ndpi",
    "is_tiff",
    "main_series",
    "open_tiff",
    "tiff_alpha",
    "tiff_file",
    "tiff_levels",
]

# Suffixes read as TIFF even when the content does not say so (tifffile then names the
# problem); any other file whose first bytes are a TIFF header is read as TIFF too.
TIFF_SUFFIXES = {".tif", ".tiff", ".btf", ".tf8", ".svs", ".ndpi", ".scn", ".bif", ".qptiff"}
_TIFF_MAGIC = (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")  # classic and BigTIFF, both orders
# Images slide scanners store beside the slide (tifffile's series names).
_ASSOCIATED = {"thumbnail", "label", "macro", "map", "overview"}

# Below 3 cores tifffile decodes on one thread unless maxworkers is passed.
_DECODE_THREADS = max(2, os.cpu_count() or 1)


@dataclass(frozen=True)
class _Info:
    shape: tuple[int, ...]  # as stored (tifffile's axes order)
    dtype: np.dtype
    axes: str
    chunks: tuple[int, ...]  # tiles or strips, in the same order
    samples: Samples  # what they mean
    series: int  # which of tifffile's series (see main_series)


def is_tiff(where: Location) -> bool:
    """True for a file with a TIFF suffix, or whose first bytes are a TIFF header (NDPI,
    SCN, BIF, QPTIFF, SVS and OME-TIFF slides are TIFF files, whatever their name)."""
    if where.suffix.lower() in TIFF_SUFFIXES:
        return True
    if not where.is_file():
        return False
    with where.open() as f:
        return f.read(4) in _TIFF_MAGIC


def main_series(tf: Any) -> int:
    """The index of the image a TIFF file is about among tifffile's series: the largest
    one (first on a tie) that is not a thumbnail, label, macro or map of a slide.

    Vendors order their images differently (a BIF's label, a Leica SCN's macro can come
    before the slide), so the choice is by size, not position.
    """
    candidates = [
        i for i, s in enumerate(tf.series) if str(s.name).lower() not in _ASSOCIATED
    ] or list(range(len(tf.series)))
    return max(candidates, key=lambda i: (_pixels(tf.series[i]), -i))


def _pixels(series: Any) -> int:
    axes, shape = series.axes, series.shape
    return int(shape[axes.index("Y")]) * int(shape[axes.index("X")]) if "Y" in axes else 0


def tiff_levels(path: StoreLike) -> int:
    """How many resolution levels the main image series of a TIFF file has."""
    with _opened(location(path)) as tf:
        return len(tf.series[main_series(tf)].levels)


def tiff_alpha(path: StoreLike, *, level: int = 0) -> int | None:
    """The index of the channel :func:`open_tiff` reads as alpha (the last one: a sample
    ExtraSamples marks as alpha), or None where the file has no alpha sample."""
    samples = _read_info(location(path), level).samples
    return samples.channels - 1 if samples.alpha is not None else None


def open_tiff(
    path: StoreLike, *, level: int = 0, chunks: tuple[int, int] | None = None
) -> da.Array:
    """A lazy (H, W), (H, W, C) or (N, H, W, C) dask array of a TIFF file's main image
    (:func:`main_series`: a slide's full image, not its thumbnail, label or macro), as a
    viewer shows it: gray or RGB, with alpha where the file has one (see
    :mod:`daskquant._io._photometric`).

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
        The file is not a readable TIFF, is truncated, has more than one non-spatial axis,
        or holds a color model daskquant does not read (the message names it).
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
    region = _TiffRegion(path, level, info.shape, info.dtype, _identity(path), info.series)
    arr = da.from_array(region, chunks=tuple(block), asarray=False, fancy=False)
    # tifffile's axes: Y, X, S (samples) or C (channels), and at most one other (pages).
    other = [i for i, a in enumerate(info.axes) if a not in "YXSC"]
    channel = [i for i, a in enumerate(info.axes) if a in "SC"]
    adds_axis = info.samples.samples == 1 and info.samples.channels > 1  # palette colors
    if len(other) > 1 or len(channel) + adds_axis > 1:
        raise InputError(
            f"{path}: holds an image with axes {info.axes!r} and shape {info.shape}; "
            "daskquant reads 2-D images (Y, X, samples) or one stack of them"
        )
    order = [*other, *yx, *channel]
    if order != list(range(arr.ndim)):
        arr = arr.transpose(order)
    return arr if info.samples.unchanged else _decoded(arr, info.samples)


def _decoded(arr: da.Array, samples: Samples) -> da.Array:
    """Stored samples (sample axis last, in one chunk; none for one sample) turned into what
    is read, chunk by chunk."""
    channels = samples.channels
    dtype = samples.out_dtype
    if samples.samples > 1:
        chunks = arr.chunks[:-1] + (((channels,),) if channels > 1 else ())
        kw: dict[str, Any] = {} if channels > 1 else {"drop_axis": arr.ndim - 1}
    else:
        chunks = arr.chunks + (((channels,),) if channels > 1 else ())
        kw = {"new_axis": arr.ndim} if channels > 1 else {}
    meta = np.empty((0,) * len(chunks), dtype)
    if samples.table is not None:  # one copy in the graph (65536 colors for 16-bit indices)
        kw["table"] = dask.delayed(samples.table, pure=True)
        samples = replace(samples, table=None)
    return da.map_blocks(samples, arr, chunks=chunks, dtype=dtype, meta=meta, **kw)


Identity = tuple[int, int, int, str]


def _identity(path: Location) -> Identity:
    # The change time too: a process that opened an older version must open it again;
    # for an object in storage, its tag (ETag or version id).
    v = path.version()
    return v.mtime_ns, v.size, v.ctime_ns, v.tag


class _Opener:
    """What tifffile takes as an fsspec ``OpenFile``: it calls ``open()`` and closes the
    file it gets with the TiffFile. ``file``, already open (its header read), is given
    first, so its read-ahead block is not fetched twice."""

    def __init__(self, where: Location, file: BinaryIO | None = None) -> None:
        self.where = where
        self._file = file

    @property
    def path(self) -> str:
        return self.where.name

    def open(self) -> Any:
        file, self._file = self._file or self.where.open(), None
        file.seek(0)
        return file


def tiff_file(path: Location) -> Any:
    """A tifffile.TiffFile of a local file, or of a URL's file opened through fsspec.

    Whether it is an NDPI file (64-bit offsets in a classic TIFF) is decided by its content
    (:func:`is_ndpi`), not by tifffile's default, its ``.ndpi`` suffix: a renamed NDPI file
    is read as NDPI, and an ``.ndpi`` file without the flag as a plain TIFF.
    """
    import tifffile

    if isinstance(path, LocalLocation):
        with path.open() as f:
            ndpi = is_ndpi(f)
        return tifffile.TiffFile(path.local(), is_ndpi=ndpi)
    f = path.open()
    try:
        ndpi = is_ndpi(f)
    except BaseException:
        f.close()
        raise
    return tifffile.TiffFile(_Opener(path, f), is_ndpi=ndpi)  # type: ignore[arg-type]


_NDPI_FORMAT_FLAG = 65420  # Hamamatsu's private tag, in every IFD of an NDPI file
_MAX_TAGS = 4096  # more entries than this in an IFD: not an IFD


def is_ndpi(f: BinaryIO) -> bool:
    """Whether an open file is a Hamamatsu NDPI: a little-endian classic TIFF whose first
    IFD has the tag NDPI_FORMAT_FLAG (65420). NDPI stores its first IFD offset in 8 bytes;
    a file under 4 GiB has it in the low 4, so both readings are tried."""
    head = f.read(16)
    if len(head) < 12 or head[:4] != b"II*\0":
        return False
    size = f.seek(0, os.SEEK_END)
    candidates = dict.fromkeys(
        (struct.unpack_from("<I", head, 4)[0], struct.unpack_from("<Q", head, 4)[0])
    )
    for offset in candidates:
        if not 8 <= offset <= size - 2:
            continue
        f.seek(offset)
        (n,) = struct.unpack("<H", f.read(2))
        entries = f.read(12 * n) if 0 < n <= _MAX_TAGS else b""
        codes = {struct.unpack_from("<H", entries, 12 * i)[0] for i in range(len(entries) // 12)}
        if _NDPI_FORMAT_FLAG in codes:
            return True
    return False


@contextmanager
def _opened(path: Location) -> Iterator[Any]:
    """A TiffFile, with failures to parse it reported as InputError naming the file."""
    try:
        tf = tiff_file(path)
    except InputError:
        raise
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
    with _opened(path) as tf:
        index = main_series(tf)
        series = tf.series[index]
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
        samples = samples_of(page, path)
        store = tf.series[index].aszarr(level=level, read_only=True)
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
            samples=samples,
            series=index,
        )


class _TiffRegion:
    """Array-like view of one level of a TIFF file; picklable (holds only the location)."""

    def __init__(
        self,
        path: Location,
        level: int,
        shape: tuple[int, ...],
        dtype: np.dtype,
        identity: Identity,
        series: int = 0,
    ) -> None:
        self.path = path
        self.series = series
        self.level = level
        self.shape = shape
        self.dtype = dtype
        self.ndim = len(shape)
        self.identity = identity

    def __getitem__(self, key: Any) -> NDArray:
        try:
            with _HANDLES.level(self.path, self.level, self.identity, self.series) as z:
                return np.asarray(z[key])
        except InputError:
            raise
        except Exception as exc:
            raise InputError(
                f"{self.path}: cannot decode image data ({type(exc).__name__}: {exc}); the "
                "file is corrupt or uses a compression imagecodecs does not support"
            ) from exc

    def __dask_tokenize__(self) -> tuple[Any, ...]:
        return ("daskquant-tiff", str(self.path), self.series, self.level, self.identity)

    def __reduce__(self) -> tuple[Any, ...]:
        args = (self.path, self.level, self.shape, self.dtype, self.identity, self.series)
        return (_TiffRegion, args)


@dataclass
class _Open:
    """One TIFF level opened in this process, and how many reads use it now."""

    tiff: Any  # tifffile.TiffFile
    store: Any  # its ZarrTiffStore
    array: Any  # zarr.Array
    users: int = 0
    evicted: bool = False

    def close(self) -> None:
        self.store.close()
        self.tiff.close()


class _Handles:
    """The TIFF levels open in this process: at most ``size``, the least recently used
    closed when evicted (once no read uses it), and older versions of a file closed when a
    newer one is opened. Safe for the threads of a worker."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._open: OrderedDict[tuple[str, int, int, Identity], _Open] = OrderedDict()
        self._lock = threading.Lock()

    @contextmanager
    def level(
        self, path: Location, level: int, identity: Identity, series: int = 0
    ) -> Iterator[Any]:
        """The Zarr array of one level of a series of ``path`` in the version ``identity``."""
        key = (str(path), series, level, identity)
        with self._lock:
            entry = self._open.get(key)
            if entry is None:
                entry = self._open[key] = _open_level(path, series, level, identity)
                for k in [k for k in self._open if k[:3] == key[:3] and k != key]:
                    self._evict(self._open.pop(k))  # an older version of the file
            self._open.move_to_end(key)
            while len(self._open) > self.size:
                self._evict(self._open.popitem(last=False)[1])
            entry.users += 1
        try:
            yield entry.array
        finally:
            with self._lock:
                entry.users -= 1
                if entry.evicted and entry.users == 0:
                    entry.close()

    def _evict(self, entry: _Open) -> None:
        entry.evicted = True
        if entry.users == 0:
            entry.close()

    def clear(self) -> None:
        """Close every level no read uses (the others close when their reads end)."""
        with self._lock:
            while self._open:
                self._evict(self._open.popitem()[1])


_HANDLES = _Handles()


def _open_level(path: Location, series: int, level: int, identity: Identity) -> _Open:
    """Open one level of a TIFF series, if the file is still the version the graph was
    built for."""
    import zarr

    if _identity(path) != identity:
        raise InputError(f"{path}: the file changed while it was being read; run again")
    tf = tiff_file(path)
    try:
        store = tf.series[series].aszarr(level=level, maxworkers=_DECODE_THREADS, read_only=True)
        return _Open(tf, store, zarr.open_array(store, mode="r"))
    except BaseException:
        tf.close()
        raise
