"""The inputs of :func:`daskquant.quantize`, opened and prepared: one image (an array, an
xarray DataArray or a file) or a collection of files, each as an (H, W, C) or (N, H, W, C)
dask array."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import dask.array as da
import numpy as np
import zarr
from numpy.typing import ArrayLike

from daskquant._engine._dask import persist_in_memory, persist_together
from daskquant._errors import InputError
from daskquant._io._chunks import file_chunks
from daskquant._io._collection import (
    check_compatible,
    collection_paths,
    image_names,
    is_collection,
)
from daskquant._io._layout import Alpha, Layout, as_image
from daskquant._io._members import file_alpha, open_members
from daskquant._io._readers import check_source, decoded_in_memory, open_image
from daskquant._io._storage import Location, location
from daskquant._io._xarray import dataarray_image, is_dataarray

__all__ = ["Input", "Source", "check_inputs", "describe", "file_alpha", "open_inputs"]

Source = ArrayLike | da.Array | str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


@dataclass(frozen=True)
class Input:
    """One image to quantize, prepared: (H, W, C) or (N, H, W, C), channel axis whole."""

    name: str
    source: str | None
    array: da.Array
    layout: Layout
    in_memory: bool
    spatial: dict[str, Any] | None = None  # georeferencing, pixel size (see _io._georef)


def open_inputs(
    image: Source, *, chunks: tuple[int, ...] | int | None, level: int, alpha: Alpha = "auto"
) -> tuple[list[Input], bool]:
    """The prepared inputs, and whether they are a collection. Reads every header (and
    every file OpenCV decodes) before anything is written, so bad input writes nothing.

    One file is a collection of one, but named as a single image is (its stem, or the
    name of a Zarr folder), and stored in the single-image layout. ``alpha`` "auto" takes
    each file's alpha from its own metadata (:func:`~daskquant._io._readers.image_alpha`).
    """
    if is_collection(image):
        paths = collection_paths(image)  # type: ignore[arg-type]
        names = image_names(paths)
        return _file_inputs(paths, names, chunks=chunks, level=level, alpha=alpha), True
    if isinstance(image, (str, os.PathLike)):
        path = location(image)
        name = path.stem if path.is_file() else path.name.removesuffix(".zarr")
        inputs = _file_inputs([path], [name or "image"], chunks=chunks, level=level, alpha=alpha)
        return inputs, False
    return [_array_input(image, chunks=chunks, level=level, alpha=alpha)], False


def check_inputs(image: Source) -> None:
    """Refuse, without reading a pixel, inputs that cannot be images: a missing file, an
    empty folder or pattern, a file of an unknown format (see ``check_source``)."""
    if is_collection(image):
        for path in collection_paths(image):  # type: ignore[arg-type]
            check_source(path)
    elif isinstance(image, (str, os.PathLike)):
        check_source(image)


def describe(image: Source, inputs: list[Input]) -> str | None:
    """How messages name the input: the file, the folder or pattern of a collection, or
    None for an array."""
    if inputs[0].source is None:
        return None
    if isinstance(image, (str, os.PathLike)):
        return os.fspath(image)
    return f"the collection of {len(inputs)} images ({inputs[0].source}, ...)"


def _file_inputs(
    paths: list[Location],
    names: list[str],
    *,
    chunks: tuple[int, ...] | int | None,
    level: int,
    alpha: Alpha,
) -> list[Input]:
    # Each file's alpha is read with its header (on the workers, with a cluster).
    members = open_members(paths, chunks=file_chunks(chunks), level=level, alpha=alpha)
    check_compatible(paths, [m.array for m in members])
    inputs = [
        _prepare(name, str(p), m.array, in_memory=m.in_memory, spatial=m.spatial, alpha=m.alpha)
        for name, p, m in zip(names, paths, members, strict=True)
    ]
    # The images in memory go to the workers once, all in one submit.
    placed = iter(persist_together([i.array for i in inputs if i.in_memory]))
    return [replace(i, array=next(placed)) if i.in_memory else i for i in inputs]


def _array_input(
    image: Any, *, chunks: tuple[int, ...] | int | None, level: int, alpha: Alpha
) -> Input:
    spatial = None
    if is_dataarray(image):  # an xarray DataArray: its pixels, and where they are
        image, spatial = dataarray_image(image)
    if not isinstance(image, (np.ndarray, da.Array, zarr.Array)):
        image = np.asarray(image)  # nested lists and other array-likes
    arr = open_image(image, level=level)
    prepared, layout = as_image(arr, chunks=chunks, alpha=alpha)
    in_memory = decoded_in_memory(image)
    if in_memory:
        prepared = persist_in_memory(prepared)
    return Input("image", None, prepared, layout, in_memory, spatial)


def _prepare(
    name: str,
    source: str,
    arr: da.Array,
    *,
    in_memory: bool,
    spatial: dict[str, Any] | None,
    alpha: Alpha,
) -> Input:
    try:
        prepared, layout = as_image(arr, alpha=alpha)
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from exc
    return Input(name, source, prepared, layout, in_memory, spatial)
