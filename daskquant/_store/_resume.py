"""Resuming an interrupted job: what a job was asked to do, and whether a store matches it.

A store records its job's request (the options that decide its content, and a fingerprint of
every input). ``quantize(..., resume=True)`` continues a store only for the same request:
then the saved palette is reused and only the missing chunks are written (see
:mod:`daskquant._store._store`), so the result is the one an uninterrupted run gives.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from dask.base import tokenize

from daskquant._errors import StoreError
from daskquant._io._storage import StoreLike, location

__all__ = ["check_request", "input_fingerprint", "palette_token", "path_print", "value_token"]


def input_fingerprint(sources: Sequence[str | None], image: Any) -> list[Any]:
    """How to recognise the inputs again (see :func:`path_print`), or a hash of an
    in-memory array."""
    if all(s is None for s in sources):
        return [value_token(image)]
    return [path_print(str(source)) for source in sources]


def path_print(path: StoreLike) -> list[Any]:
    """A file by its path, size and modification time (an object in storage also by its
    ETag or version id); a folder (a Zarr array) by its path, file count, total size and
    latest modification, so a rewritten chunk is noticed. Never storage options."""
    where = location(path)
    if where.is_file():
        version = where.version()
        tag = [version.tag] if version.tag else []
        return [where.resolved(), version.size, version.mtime_ns, *tag]
    return [where.resolved(), *where.tree_version()]


def value_token(value: Any) -> Any:
    """A JSON value naming ``value``: itself if plain, else a hash of its contents."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (list, tuple)) and all(isinstance(v, (int, float, str)) for v in value):
        return list(value)
    if isinstance(value, np.ndarray):
        return "array:" + tokenize(np.ascontiguousarray(value))
    return "array:" + tokenize(value)


def palette_token(palette: Any) -> Any:
    """A fixed palette in a request: a file or store by :func:`path_print` (so an edited
    file is noticed), a name (``"web216"``) or array by :func:`value_token`."""
    if isinstance(palette, (str, os.PathLike)) and location(palette).exists():
        return path_print(palette)
    return value_token(palette)


def check_request(store: StoreLike, saved: dict[str, Any] | None, asked: dict[str, Any]) -> None:
    """Refuse to resume ``store`` if it was made for another request than ``asked``."""
    if saved is None:
        raise StoreError(
            f"{store}: the store does not record how it was made, so it cannot be resumed; "
            "pass overwrite=True to start again"
        )
    differ = [k for k in sorted(set(saved) | set(asked)) if saved.get(k) != asked.get(k)]
    if differ:
        what = ", ".join(f"{k} (store: {saved.get(k)!r}, now: {asked.get(k)!r})" for k in differ)
        raise StoreError(
            f"{store} was made with other inputs or options, so it cannot be resumed: {what}; "
            "rerun with the same ones, or pass overwrite=True to start again"
        )
