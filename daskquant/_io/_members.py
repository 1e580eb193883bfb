"""The members of a collection opened for a job: in this process, or read on the workers.

Each member is opened as :func:`._readers.open_image` opens it, with its georeferencing
(:func:`._georef.spatial_info`), whether its pixels are decoded whole in memory, and, if
asked, which channel its metadata makes alpha (:func:`._readers.image_alpha`). With a local
scheduler that happens here, file by file. With a distributed client, files are read in
tasks of one file each, in parallel on the workers: only a small record per member comes
back, in batches of up to :data:`BATCH` (shape, dtype, chunks, georeferencing, alpha, or
the one-line error naming the file), and the client opens none of the files. The pixels of
files decoded whole (PNG, JPEG, ...) stay on the workers, in the result of their file's
task, from which each member's array reads them; a lazily read member (TIFF, Zarr) comes
back as its lazy array, whose tasks read the file where they run. The arrays are the same
as in this process (same shapes, dtypes and chunks), so a job gives the same store either
way; a bad member is refused before anything is written, and the first bad member in the
collection's order is the one named.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

import dask
import dask.array as da
import numpy as np

from daskquant._engine._dask import cluster_client
from daskquant._errors import InputError
from daskquant._io._chunks import Chunks
from daskquant._io._georef import spatial_info
from daskquant._io._layout import Alpha
from daskquant._io._readers import decoded_in_memory, image_alpha, open_image
from daskquant._io._storage import Location

__all__ = ["BATCH", "UNASKED", "Member", "file_alpha", "open_members"]

UNASKED = "unasked"  # open_members' alpha when the caller does not need it (pickles as itself)
BATCH = 250  # records sent back per task: few results for big collections, each small
_SPREAD = 4  # at least this many tasks per worker thread, for small collections


@dataclass(frozen=True)
class Member:
    """One member opened: ``array`` as :func:`open_image` gives it (its pixels on the
    workers where it was read there), ``in_memory`` where the file is decoded whole,
    ``alpha`` the alpha asked for, or for "auto" what the file's metadata says."""

    array: da.Array
    in_memory: bool
    spatial: dict[str, Any] | None
    alpha: Alpha = "auto"


@dataclass(frozen=True)
class _Record:
    """What a worker sends back about one member: its error, or its lazy array (a file read
    lazily), or the shape, dtype and chunks of a file decoded whole, whose pixels stay
    there (``pixels`` is emptied before the record is sent)."""

    error: str | None = None
    lazy: da.Array | None = None
    spatial: dict[str, Any] | None = None
    alpha: Alpha = "auto"
    shape: tuple[int, ...] = ()
    dtype: str = ""
    chunks: tuple[tuple[int, ...], ...] = ()
    pixels: np.ndarray | None = None


def open_members(
    paths: Sequence[Location], *, chunks: Chunks, level: int, alpha: Alpha | str = UNASKED
) -> list[Member]:
    """Every member of a collection opened (see the module docstring), in order.

    ``alpha`` "auto" reads each file's alpha from its metadata (see :func:`file_alpha`);
    None (no alpha) or a channel is kept as given; :data:`UNASKED` (not needed) reads
    nothing and leaves each member's ``alpha`` "auto".

    Raises
    ------
    InputError
        The first member, in order, that cannot be read (the message names the file).
    """
    client = cluster_client()
    if client is None or len(paths) < 2:
        return [_open_member(p, chunks=chunks, level=level, alpha=alpha) for p in paths]
    return _members_on(client, list(paths), chunks=chunks, level=level, alpha=alpha)


def file_alpha(path: Location | str | os.PathLike[str], alpha: Alpha, *, level: int) -> Alpha:
    """``alpha`` as given, or for "auto" what the file's own metadata says."""
    return image_alpha(path, level=level) if alpha == "auto" else alpha


def _open_member(path: Location, *, chunks: Chunks, level: int, alpha: Alpha | str) -> Member:
    arr = open_image(path, chunks=chunks, level=level)
    asked = cast(Alpha, alpha)
    found = "auto" if alpha == UNASKED else file_alpha(path, asked, level=level)
    return Member(arr, decoded_in_memory(path), spatial_info(path, level=level), found)


def _members_on(
    client: Any, paths: list[Location], *, chunks: Chunks, level: int, alpha: Alpha | str
) -> list[Member]:
    # One task per file, so a decoded member's pixels are a key of their own: spilled and
    # read back alone. (A task per batch of 250 JPEG files of 512 x 512 held 196 MB in one
    # key: 10,000 of them outgrew 2 workers of 5 GiB, and every member read its whole batch
    # back from disk.) The small records come back in batches.
    threads = max(1, sum(client.nthreads().values()))
    size = min(BATCH, max(1, math.ceil(len(paths) / (_SPREAD * threads))))
    read = client.map(_read, paths, chunks=chunks, level=level, alpha=alpha, pure=False)
    parts = [read[i : i + size] for i in range(0, len(read), size)]
    batches = client.gather([client.submit(_sent_back, *part, pure=False) for part in parts])
    records = [record for batch in batches for record in batch]
    return [_member(future, record) for future, record in zip(read, records, strict=True)]


def _member(future: Any, record: _Record) -> Member:
    if record.error is not None:
        raise InputError(record.error)
    if record.lazy is not None:
        return Member(record.lazy, False, record.spatial, record.alpha)
    pixels = dask.delayed(_pixels, pure=True)(future)
    whole = da.from_delayed(pixels, record.shape, dtype=np.dtype(record.dtype))
    return Member(whole.rechunk(record.chunks), True, record.spatial, record.alpha)


def _read(path: Location, *, chunks: Chunks, level: int, alpha: Alpha | str) -> _Record:
    """(A task) the record of one member, with the pixels of a decoded file."""
    try:
        member = _open_member(path, chunks=chunks, level=level, alpha=alpha)
    except InputError as exc:
        return _Record(error=str(exc))
    arr = member.array
    if not member.in_memory:
        return _Record(lazy=arr, spatial=member.spatial, alpha=member.alpha)
    return _Record(
        spatial=member.spatial,
        alpha=member.alpha,
        shape=tuple(int(s) for s in arr.shape),
        dtype=str(arr.dtype),
        chunks=arr.chunks,
        # A file decoded whole: its array holds the decoded pixels; they stay here.
        pixels=np.asarray(arr.compute(scheduler="sync")),
    )


def _sent_back(*records: _Record) -> list[_Record]:
    """(A task) records without their pixels: what the client receives."""
    return [replace(r, pixels=None) for r in records]


def _pixels(record: _Record) -> np.ndarray:
    pixels = record.pixels
    assert pixels is not None, "a decoded member keeps its pixels on the worker"
    return pixels
