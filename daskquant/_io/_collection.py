"""Collections: several images (a folder, a glob, a list of files) that share one palette.

The fit sees the pixels of every image at once through :func:`pixel_set`: each block of
each image becomes one block of a single (P, 1, C) dask array, without copying or
rechunking anything. K-means does not look at where a pixel is, so the engine fits that
array as it fits any image, with one reduction per Lloyd iteration over all images.
"""

from __future__ import annotations

import itertools
import math
import os
from collections import Counter
from collections.abc import Sequence
from typing import Any

import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.core import flatten
from dask.highlevelgraph import HighLevelGraph

from daskquant._errors import InputError, InvalidParameterError
from daskquant._io._chunks import Chunks
from daskquant._io._members import open_members
from daskquant._io._readers import IMAGE_SUFFIXES
from daskquant._io._storage import Location, location, matches, storage_context

__all__ = [
    "collection_paths",
    "image_names",
    "is_collection",
    "open_collection",
    "pixel_set",
]

_GLOB_CHARS = set("*?[")


def is_collection(source: Any) -> bool:
    """True for a folder that is not a Zarr store, a glob pattern, or a list of paths."""
    if isinstance(source, (list, tuple)):
        return bool(source) and all(isinstance(s, (str, os.PathLike)) for s in source)
    if not isinstance(source, (str, os.PathLike)):
        return False
    where = location(source)
    if where.exists():
        return where.is_dir() and not where.is_zarr()
    return bool(_GLOB_CHARS & set(os.fspath(source)))


Sources = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


def collection_paths(sources: Sources) -> list[Location]:
    """The image files (and Zarr stores) of a folder, a glob pattern, or a list of paths.

    A folder (or a URL prefix, ``s3://bucket/scans/``) gives its image files and Zarr
    stores (not its sub-folders), sorted by name; a glob pattern (``**`` allowed, also in
    URLs) gives its matches, sorted; a list (paths or URLs) is kept in its order.

    Raises
    ------
    InputError
        A folder with no images, a pattern that matches nothing, or an empty list.
    """
    if not isinstance(sources, (str, os.PathLike)):
        paths = [location(s) for s in sources]
        if not paths:
            raise InputError("the list of images is empty; give at least one image path")
        return paths
    text = os.fspath(sources)
    folder = location(sources).absolute()
    if folder.is_dir():
        found = sorted((p.absolute() for p in folder.children() if _is_image(p)), key=_order)
        if not found:
            raise InputError(
                f"{folder}: the folder holds no images (files ending in "
                f"{', '.join(sorted(IMAGE_SUFFIXES))}, or Zarr stores)"
            )
        return found
    if _GLOB_CHARS & set(text):
        found = sorted((m.absolute() for m in matches(text)), key=_order)
        if not found:
            raise InputError(f"{text}: the pattern matches no file")
        return found
    return [folder]


def _order(where: Location) -> tuple[str, ...]:
    # By path components, as pathlib sorts paths (a folder before its longer-named peers).
    return tuple(os.fspath(where).split("/"))


def _is_image(where: Location) -> bool:
    """Whether a folder's entry is one of its images: an image file or a Zarr store."""
    if where.name.startswith("."):
        return False
    if where.is_file():
        return where.suffix.lower() in IMAGE_SUFFIXES
    return where.is_dir() and where.is_zarr()


def image_names(paths: Sequence[Location]) -> list[str]:
    """A unique name per image for its arrays in the store: the file name without suffix
    (with suffix where two stems are equal, then numbered)."""
    stems = [_clean(p.stem if p.suffix.lower() in IMAGE_SUFFIXES else p.name) for p in paths]
    repeated = Counter(stems)  # counted once: a count per image was O(images^2)
    names = [
        _clean(p.name) if repeated[stem] > 1 else stem
        for p, stem in zip(paths, stems, strict=True)
    ]
    unique: list[str] = []
    taken: set[str] = set()
    for name in names:
        candidate, n = name, 1
        while candidate in taken:
            n += 1
            candidate = f"{name}-{n}"
        unique.append(candidate)
        taken.add(candidate)
    return unique


def _clean(name: str) -> str:
    # Zarr node names may not contain "/" nor start with "__"; dots alone are not names.
    name = name.replace("/", "_").lstrip("_").strip(".")
    return name or "image"


def open_collection(
    sources: Sources,
    *,
    chunks: Chunks = None,
    level: int = 0,
    storage_options: dict[str, Any] | None = None,
) -> list[tuple[str, da.Array]]:
    """Open every image of a collection lazily, checking they can share one palette.

    Parameters
    ----------
    sources : folder, glob pattern, or list of paths
        See :func:`collection_paths`. Images may differ in size.
    chunks, level, storage_options
        As for :func:`daskquant.open_image`, applied to every image.

    Returns
    -------
    list of (name, dask array)
        ``name`` is the image's name in the output store (``labels/<name>``).

    Raises
    ------
    InputError
        An image cannot be read, or the images differ in channel count or dtype (the
        message names the files).
    """
    with storage_context(storage_options):
        paths = collection_paths(sources)
        arrays = [m.array for m in open_members(paths, chunks=chunks, level=level)]
    check_compatible(paths, arrays)
    return list(zip(image_names(paths), arrays, strict=True))


def check_compatible(paths: Sequence[Any], arrays: Sequence[da.Array]) -> None:
    """Refuse images that cannot share one palette: other channel counts or dtypes."""
    first, ref = paths[0], arrays[0]
    for path, arr in zip(paths[1:], arrays[1:], strict=True):
        if _channels(arr) != _channels(ref):
            raise InputError(
                f"{path}: has {_channels(arr)} channel(s) but {first} has {_channels(ref)}; "
                "images sharing one palette need the same channels (convert them, e.g. all "
                "to RGB, or quantize them separately)"
            )
        if arr.dtype != ref.dtype:
            raise InputError(
                f"{path}: has dtype {arr.dtype} but {first} has {ref.dtype}; images sharing "
                "one palette need the same bit depth (convert them, or quantize separately)"
            )


def _channels(arr: da.Array) -> int:
    return 1 if arr.ndim == 2 else int(arr.shape[-1])


def pixel_set(arrays: Sequence[da.Array]) -> da.Array:
    """The pixels of several images as one (P, 1, C) dask array, one block per input block.

    Parameters
    ----------
    arrays : sequence of (..., C) dask arrays
        Same C and dtype, channel axis in one chunk; any shapes.

    Returns
    -------
    (P, 1, C) dask array
        P is the total pixel count. Block ``i`` holds the pixels of the ``i``-th block of
        the inputs (in order), row by row; no data is copied until a task runs.
    """
    if not arrays:
        raise InvalidParameterError("pixel_set needs at least one image")
    c = int(arrays[0].shape[-1])
    dtype = arrays[0].dtype
    for arr in arrays:
        if arr.numblocks[-1] != 1 or int(arr.shape[-1]) != c or arr.dtype != dtype:
            raise InvalidParameterError(
                "pixel_set: every image needs the same channels, in one chunk, and dtype"
            )
    name = "pixel-set-" + tokenize(*(arr.name for arr in arrays))
    keys = [key for arr in arrays for key in flatten(arr.__dask_keys__())]
    sizes = [math.prod(s) for arr in arrays for s in itertools.product(*arr.chunks[:-1])]
    # ONE layer holding the images' own tasks too, not one (or more) per image: dask walks
    # the keys it is asked for once per layer when it culls a graph (to_delayed, compute),
    # which made a collection's fit O(images^2) in the client (1,000 images: 2 s; 10,000:
    # minutes). Merging the graphs first visits each layer once, however many images share it.
    layer: dict[Any, Any] = dict(HighLevelGraph.merge(*(arr.dask for arr in arrays)))
    layer.update({(name, i, 0, 0): (np.reshape, key, (-1, 1, c)) for i, key in enumerate(keys)})
    graph = HighLevelGraph.from_collections(name, layer, dependencies=())
    meta = np.empty((0, 0, 0), dtype)
    return da.Array(graph, name, (tuple(sizes), (1,), (c,)), dtype=dtype, meta=meta)
