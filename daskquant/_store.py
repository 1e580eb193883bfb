"""The output store: a Zarr v3 group with labels, palette, centers and a ``complete`` marker.

Layout::

    out.zarr/
      zarr.json     attributes: "daskquant" (how the result was made), "complete" (bool)
      labels/       (H, W) or (N, H, W), uint8 for K <= 256 else uint16
      palette/      (K, C) in the input dtype
      centers/      (K, C) float64, the exact k-means centers
      counts/       (K,) int64, pixels per palette color
      image/        optional quantized image, same shape and dtype as the input

Zarr chunks equal the dask chunks, so every task writes whole chunks of its own (DESIGN.md:
misaligned or sharded writes lost pixels silently). ``complete`` is set to true only after
every array is written: a store without it is unfinished, whatever else it holds.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import zarr
from numpy.typing import NDArray
from zarr.codecs import ZstdCodec

from daskquant._errors import StoreError

__all__ = [
    "create_store",
    "is_complete",
    "mark_complete",
    "open_store",
    "regular_chunks",
    "write_arrays",
]

_CODEC = ZstdCodec(level=3)


def _is_zarr(path: Path) -> bool:
    return (
        (path / "zarr.json").is_file()
        or (path / ".zgroup").is_file()
        or (path / ".zarray").is_file()
    )


def create_store(path: str | Path, attrs: dict[str, Any], *, overwrite: bool) -> zarr.Group:
    """A new, empty store marked incomplete; refuses an existing path without ``overwrite``.

    With ``overwrite``, only an existing Zarr store is replaced: any other file or folder at
    ``path`` is left alone and reported.
    """
    path = Path(path)
    if path.exists():
        if not overwrite:
            raise StoreError(
                f"{path} already exists; choose another output path or pass overwrite=True "
                "(--overwrite) to replace it"
            )
        if not (path.is_dir() and _is_zarr(path)):
            raise StoreError(
                f"{path} exists and is not a Zarr store; daskquant will not delete it. "
                "Remove it yourself or choose another output path."
            )
        shutil.rmtree(path)
    try:
        group = zarr.open_group(str(path), mode="w-")
    except OSError as exc:
        reason = exc.strerror or exc
        raise StoreError(f"{path}: cannot create the output store ({reason})") from exc
    group.attrs.update({"daskquant": attrs, "complete": False})
    return group


def regular_chunks(arr: da.Array) -> da.Array:
    """``arr`` rechunked, if needed, so every chunk but the last on each axis has one size."""
    if all(len(set(c[:-1])) <= 1 and c[-1] <= c[0] for c in arr.chunks):
        return arr
    return arr.rechunk(tuple(max(c) for c in arr.chunks))


def write_arrays(group: zarr.Group, small: dict[str, NDArray], large: dict[str, da.Array]) -> None:
    """Write small in-memory arrays, then the chunked ones in one distributed store."""
    for name, value in small.items():
        group.create_array(name, data=np.asarray(value), compressors=_CODEC)
    sources: list[da.Array] = []
    targets: list[Any] = []
    for name, arr in large.items():
        arr = regular_chunks(arr)
        target = group.create_array(
            name,
            shape=arr.shape,
            chunks=tuple(c[0] for c in arr.chunks),
            dtype=arr.dtype,
            compressors=_CODEC,
            fill_value=0,
        )
        sources.append(arr)
        targets.append(target)
    if sources:
        da.store(sources, targets, lock=False)


def mark_complete(group: zarr.Group) -> None:
    group.attrs["complete"] = True


def open_store(path: str | Path) -> zarr.Group:
    """Open a daskquant store for reading."""
    path = Path(path)
    if not path.exists():
        raise StoreError(f"{path}: no such store")
    try:
        group = zarr.open_group(str(path), mode="r")
    except Exception as exc:
        raise StoreError(f"{path}: not a Zarr group ({exc})") from exc
    if "daskquant" not in group.attrs:
        raise StoreError(f"{path}: not a daskquant store (no 'daskquant' attribute)")
    return group


def is_complete(group: zarr.Group) -> bool:
    return bool(group.attrs.get("complete", False))
