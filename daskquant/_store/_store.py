"""The output store: a Zarr v3 group with labels, palette, centers and a ``complete`` marker.

Layout of one image::

    out.zarr/
      zarr.json     attributes: "daskquant" (how the result was made), "complete" (bool)
      labels        (H, W) or (N, H, W), uint8 for K <= 256 else uint16
      palette       (K, C) in the input dtype
      centers       (K, C) float64, the exact k-means centers
      counts        (K,) int64, pixels per palette color
      image         optional quantized image, same shape and dtype as the input

A collection (one palette for several images) has a group ``labels/`` with one array per
image, ``labels/<name>``, and likewise ``image/<name>``. With ``ome=True`` the labels and
images are OME-Zarr images instead (see :mod:`daskquant._store._ome`): the store's root for one
image, ``images/<name>/`` for each image of a collection. Wherever they are, the
attribute ``daskquant.images`` lists every image with the paths of its arrays and its
source (:func:`image_records`), so readers need not know the layouts.

Zarr chunks equal the dask chunks, so every task writes whole chunks of its own
(misaligned or sharded writes lost pixels silently: zarr #3514/#3682, dask #12583).
``complete`` is set to true only after every array is written: a store without it is
unfinished, whatever else it holds.

Resuming an interrupted job (``write_large(..., resume=True)``) writes only the chunks the
store does not list yet. That is sound because of two facts:

- every chunk of the large arrays is written, even one equal to the fill value: Zarr skips
  those by default (``write_empty_chunks=False``), which would make "no chunk file" mean
  either "not written yet" or "all zeros". The arrays are created, and opened again for a
  resume, with ``write_empty_chunks=True``;
- LocalStore writes each chunk to a temporary file and renames it into place, so a chunk
  key that is listed is whole; a job killed mid-chunk leaves at most a ``*.partial`` key,
  which is not a chunk's key (and is deleted before the resume writes).

The small arrays (palette, centers, counts) are written before any large one, so a resumed
job finds the fitted palette and does not fit again.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any, cast

import dask
import dask.array as da
import numpy as np
import zarr
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph
from numpy.typing import NDArray
from zarr.codecs import ZstdCodec
from zarr.core.array_spec import ArrayConfigParams
from zarr.core.group import GroupMetadata
from zarr.core.sync_group import create_nodes

from daskquant._errors import InvalidParameterError, StoreError
from daskquant._io._storage import Location, StoreLike, delete_keys, location, store_keys

__all__ = [
    "ImageRecord",
    "PaletteIndices",
    "check_writable",
    "chunk_progress",
    "create_store",
    "get_array",
    "image_records",
    "is_complete",
    "mark_complete",
    "open_finished",
    "open_store",
    "palette_indices",
    "pick_record",
    "regular_chunks",
    "store_attrs",
    "store_state",
    "write_arrays",
    "write_large",
]

_CODEC = ZstdCodec(level=3)
_EVERY_CHUNK: ArrayConfigParams = {
    "write_empty_chunks": True
}  # a chunk file exists iff it was written


def create_store(path: StoreLike, attrs: dict[str, Any], *, overwrite: bool) -> zarr.Group:
    """A new, empty store marked incomplete; refuses an existing path without ``overwrite``.

    With ``overwrite``, only an existing Zarr store is replaced: any other file or folder at
    ``path`` is left alone and reported.
    """
    path = location(path)
    if path.exists():
        _check_replaceable(path, overwrite=overwrite)
        path.remove()
    try:
        group = zarr.open_group(path.zarr_store(), mode="w-")
    except OSError as exc:
        reason = exc.strerror or exc
        raise StoreError(f"{path}: cannot create the output store ({reason})") from exc
    group.attrs.update({"daskquant": attrs, "complete": False})
    return group


def _check_replaceable(path: Location, *, overwrite: bool) -> None:
    """Refuse to replace what exists at ``path``: anything without ``overwrite``, and
    anything but a Zarr store with it."""
    if not overwrite:
        raise StoreError(
            f"{path} already exists; choose another output path or pass overwrite=True "
            "to replace it"
        )
    if not (path.is_dir() and path.is_zarr()):
        raise StoreError(
            f"{path} exists and is not a Zarr store; daskquant will not delete it. "
            "Remove it yourself or choose another output path."
        )


def check_writable(path: StoreLike) -> None:
    """Refuse, before any work, an output whose folder this process may not write in."""
    path = location(path)
    parent, is_dir, writable = path.writable_folder()
    if not is_dir:
        raise StoreError(f"{path}: cannot create the output store ({parent} is not a folder)")
    if not writable:
        raise StoreError(
            f"{path}: cannot create the output store (Permission denied: no write access "
            f"to {parent})"
        )


def regular_chunks(arr: da.Array) -> da.Array:
    """``arr`` rechunked, if needed, so every chunk but the last on each axis has one size."""
    if all(len(set(c[:-1])) <= 1 and c[-1] <= c[0] for c in arr.chunks):
        return arr
    return arr.rechunk(tuple(max(c) for c in arr.chunks))


def write_arrays(group: zarr.Group, small: dict[str, NDArray], large: dict[str, da.Array]) -> None:
    """Write small in-memory arrays, then the chunked ones in one distributed store."""
    values = {name: np.asarray(value) for name, value in small.items()}
    templates = {}
    for name, value in values.items():  # the metadata create_array(data=...) writes
        templates[name] = zarr.create_array(
            zarr.storage.MemoryStore(), data=value, compressors=_CODEC
        ).metadata
    for name, node in _new_nodes(group, templates).items():
        node[...] = values[name]
    write_large(group, large)


def write_large(
    group: zarr.Group,
    arrays: dict[str, da.Array],
    *,
    dimension_names: dict[str, tuple[str, ...]] | None = None,
    resume: bool = False,
) -> int:
    """Create one Zarr array per dask array (paths may be nested), then store them all in
    one compute, so work they share (the labels of an image and its colors) runs once.

    Each Zarr array's chunks are the dask array's chunks (rechunked to a regular grid if
    needed): every task writes whole chunks of its own. With ``resume``, arrays that already
    exist with the same shape, chunks and dtype are kept, and only their missing chunks are
    computed and written.

    Returns
    -------
    int
        The number of chunks written.
    """
    sources = {path: regular_chunks(arr) for path, arr in arrays.items()}
    found = {
        path: _existing(group, path, arr, tuple(c[0] for c in arr.chunks)) if resume else None
        for path, arr in sources.items()
    }
    new = {path: arr for path, arr in sources.items() if found[path] is None}
    created = _create_arrays(group, new, dimension_names or {})
    targets: list[Any] = [created[p] if found[p] is None else found[p] for p in sources]
    return _store_chunks(group, list(sources.values()), targets, resume=resume)


def _create_arrays(
    group: zarr.Group, arrays: dict[str, da.Array], dimension_names: dict[str, tuple[str, ...]]
) -> dict[str, zarr.Array]:
    """One empty Zarr array per dask array (its shape, chunks and dtype), all in one call.

    Not one ``create_array`` each: that reads the metadata of every parent group, the
    root's too, whose attributes grow with a collection's size (its sources), so a
    collection of N images read O(N^2) bytes (1,000 images: 306 MB, all in the client).
    The metadata is what ``create_array`` writes (made by it, in memory).
    """
    made = _new_nodes(
        group,
        {
            path: _array_metadata(
                arr.shape, tuple(c[0] for c in arr.chunks), arr.dtype, dimension_names.get(path)
            )
            for path, arr in arrays.items()
        },
    )
    return {path: cast(zarr.Array, made[path]).with_config(_EVERY_CHUNK) for path in arrays}


def _new_nodes(group: zarr.Group, nodes: dict[str, Any]) -> dict[str, Any]:
    """Nodes (array metadata by path below ``group``) created at once, with the groups
    that hold them where missing (as ``require_group`` makes them); the new nodes by path.

    Only the holding groups' metadata is read, never ``group``'s own (see above).
    """
    if not nodes:
        return {}
    todo: dict[str, Any] = {}
    for path in nodes:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            parent = "/".join(parts[:i])
            if parent not in todo and _missing_group(group, parent):
                todo[parent] = GroupMetadata()
    todo.update(nodes)
    prefix = f"{group.path}/" if group.path else ""
    made = dict(create_nodes(store=group.store, nodes={prefix + k: v for k, v in todo.items()}))
    return {path: made[prefix + path] for path in nodes}


def _missing_group(group: zarr.Group, path: str) -> bool:
    """Whether ``group`` has nothing at ``path``; a StoreError if an array is there."""
    try:
        node = group[path]
    except KeyError:
        return True
    if not isinstance(node, zarr.Group):
        raise StoreError(f"{group.store_path}: {path!r} is an array, not a group")
    return False


@functools.lru_cache(maxsize=64)
def _array_metadata(
    shape: tuple[int, ...],
    chunks: tuple[int, ...],
    dtype: np.dtype[Any],
    dimension_names: tuple[str, ...] | None,
) -> Any:
    template = zarr.create_array(
        zarr.storage.MemoryStore(),
        shape=shape,
        chunks=chunks,
        dtype=dtype,
        compressors=_CODEC,
        fill_value=0,
        dimension_names=dimension_names,
    )
    return template.metadata


def _store_chunks(
    group: zarr.Group, sources: list[da.Array], targets: list[Any], *, resume: bool
) -> int:
    """Every chunk of ``sources`` into ``targets`` in one compute (with ``resume``, only
    those the store does not list yet); the number of chunks written."""
    joined, written = _store_graph(group, sources, targets, resume=resume)
    if written:
        dask.compute(joined)
    return written


def _store_graph(
    group: zarr.Group, sources: list[da.Array], targets: list[Any], *, resume: bool
) -> tuple[da.Array, int]:
    """The writes of :func:`_store_chunks`, joined in one chunk that needs them all, and
    how many there are.

    The writes and the sources' own tasks are ONE graph layer, built from the block keys:
    not ``da.store`` (a ``map_blocks`` per array, which tokenizes its target) with a layer
    or more per array, since dask culls a graph layer by layer, each time walking the keys
    it needs, and a collection stores one array per image (so its client did O(images^2)
    work). A tree of fan-in :data:`_FAN_IN` joins the writes: the client is sent one tiny
    result, not one per array.
    """
    where = [str(group.store_path), *(t.path for t in targets)]
    name = "stored-" + tokenize(*(a.name for a in sources), *where)
    layer: dict[Any, Any] = dict(HighLevelGraph.merge(*(a.dask for a in sources)))
    puts: list[Any] = []
    for j, (arr, target) in enumerate(zip(sources, targets, strict=True)):
        if resume:
            _remove_partial(group, target)
            indices = _missing_chunks(group, target)
        else:
            indices = list(itertools.product(*(range(n) for n in arr.numblocks)))
        for index in indices:
            region = tuple(
                slice(i * c, i * c + n[i])
                for i, c, n in zip(index, target.chunks, arr.chunks, strict=True)
            )
            puts.append((f"{name}-put", j, *index))
            # The target in the task itself (as da.store has it): a key of its own would be
            # one more task per array, and the graph's pickle holds the object only once.
            layer[puts[-1]] = (_put, target, region, (arr.name, *index))
    keys, depth = puts, 0
    while len(keys) > _FAN_IN:
        parts = [keys[i : i + _FAN_IN] for i in range(0, len(keys), _FAN_IN)]
        keys = [(f"{name}-tree", depth, j) for j in range(len(parts))]
        layer.update({k: (_nothing, *part) for k, part in zip(keys, parts, strict=True)})
        depth += 1
    layer[(name, 0)] = (_nothing, *keys)
    graph = HighLevelGraph.from_collections(name, layer, dependencies=())
    joined = da.Array(graph, name, ((1,),), dtype=np.uint8, meta=np.empty((0,), np.uint8))
    return joined, len(puts)


_FAN_IN = 32


def _nothing(*_: Any) -> NDArray[np.uint8]:
    return np.zeros(1, np.uint8)


def _put(target: zarr.Array, region: tuple[slice, ...], block: NDArray) -> None:
    target[region] = block


def _existing(
    group: zarr.Group, path: str, arr: da.Array, chunks: tuple[int, ...]
) -> zarr.Array | None:
    """The array at ``path`` if it has ``arr``'s shape, chunks and dtype, set to write every
    chunk; None if there is none; a StoreError if it is another array."""
    try:
        node = group[path]
    except KeyError:
        return None
    same = (
        isinstance(node, zarr.Array)
        and node.shape == arr.shape
        and node.chunks == chunks
        and node.dtype == arr.dtype
    )
    if not same:
        raise StoreError(
            f"{group.store_path}: {path!r} is not the array this job writes (shape, chunks "
            "or dtype differ); the store was made with other options"
        )
    return cast(zarr.Array, node).with_config(_EVERY_CHUNK)


def _chunk_keys(group: zarr.Group, array: zarr.Array) -> list[str]:
    """The keys the store lists below the array's chunks (``<array>/c/...``)."""
    try:
        return store_keys(group.store, f"{array.path}/c")
    except TypeError:
        raise StoreError(
            f"{group.store_path}: resuming needs a store on the local file system"
        ) from None


def _remove_partial(group: zarr.Group, array: zarr.Array) -> None:
    """Delete the temporary files of chunk writes that a killed job left unfinished."""
    delete_keys(group.store, [k for k in _chunk_keys(group, array) if k.endswith(".partial")])


def _missing_chunks(group: zarr.Group, array: zarr.Array) -> list[tuple[int, ...]]:
    """The chunk indices of ``array`` that the store does not list yet, in C order."""
    written = set(_chunk_keys(group, array))
    grid = [range(-(-s // c)) for s, c in zip(array.shape, array.chunks, strict=True)]
    key = array.metadata.encode_chunk_key
    return [i for i in itertools.product(*grid) if f"{array.path}/{key(i)}" not in written]


def chunk_progress(group: zarr.Group) -> tuple[int, int]:
    """Chunks written and chunks in all, over the store's arrays (a measure of how far an
    unfinished job got; chunk files exist only once written, see the module docstring)."""
    done = total = 0
    for _, node in group.members(max_depth=None):
        if isinstance(node, zarr.Array):
            total += int(node.nchunks)
            done += int(node.nchunks_initialized)
    return done, total


def mark_complete(group: zarr.Group) -> None:
    group.attrs["complete"] = True


def open_store(path: StoreLike, *, storage_options: dict[str, Any] | None = None) -> zarr.Group:
    """Open a daskquant store for reading (a path or a URL; ``storage_options`` as for
    :func:`daskquant.open_image`)."""
    path = location(path, options=storage_options)
    if not path.exists():
        raise StoreError(f"{path}: no such store")
    try:
        group = zarr.open_group(path.zarr_store(read_only=True), mode="r")
    except Exception as exc:
        raise StoreError(f"{path}: not a Zarr group ({exc})") from exc
    if "daskquant" not in group.attrs:
        raise StoreError(f"{path}: not a daskquant store (no 'daskquant' attribute)")
    return group


def is_complete(group: zarr.Group) -> bool:
    return bool(group.attrs.get("complete", False))


def store_state(path: StoreLike) -> str:
    """One line on what is at ``path`` after a job stopped: nothing, an incomplete store
    (how far it got, and how to finish it), or a complete one."""
    path = location(path)
    if not path.exists():
        return f"nothing was written to {path}"
    try:
        group = open_store(path)
    except StoreError:
        return f"{path} is not a daskquant store; it was left as it was"
    if is_complete(group):
        return f"{path} is complete"
    done, total = chunk_progress(group)
    return (
        f"{path} is incomplete ({done} of {total} chunks written); rerun it with "
        "resume=True to finish it"
    )


def open_finished(path: StoreLike) -> zarr.Group:
    """Open a daskquant store that was written to the end; refuse an unfinished one."""
    group = open_store(path)
    if not is_complete(group):
        raise StoreError(
            f"{path}: the store is incomplete (its job was interrupted or failed); finish it "
            "by running the same quantize again with resume=True"
        )
    return group


@dataclass(frozen=True)
class ImageRecord:
    """Where one quantized image lives in a store, and where it came from.

    ``labels`` and ``image`` list array paths from full resolution down (several with an
    OME-Zarr pyramid); ``image`` is empty when the quantized image was not written.
    ``source`` is the input path (None for an in-memory array). ``spatial`` is where its
    pixels are: georeferencing and pixel size (see :mod:`daskquant._io._georef`), None if
    the input says nothing. ``alpha`` is the path of the input's alpha channel, written
    for the exports when the input has one and ``image`` is not written (which holds it).
    ``label_offset`` is what
    the stored labels add to the palette index: 1 in an OME-Zarr label image, whose value 0
    is reserved for "no data" (viewers draw it transparent), else 0. Read the palette
    indices back with :func:`palette_indices`.
    """

    name: str
    labels: tuple[str, ...]
    image: tuple[str, ...] = ()
    source: str | None = None
    level: int = 0
    shape: tuple[int, ...] = ()
    label_offset: int = 0
    spatial: dict[str, Any] | None = None
    alpha: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        # Left out when they say nothing, as in stores written before they existed.
        if not self.label_offset:
            del d["label_offset"]
        if self.spatial is None:
            del d["spatial"]
        if not self.alpha:
            del d["alpha"]
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def store_attrs(group: zarr.Group) -> dict[str, Any]:
    """The ``daskquant`` attribute of a store: how the result was made, and its images."""
    return cast(dict[str, Any], group.attrs.asdict().get("daskquant", {}))


def get_array(group: zarr.Group, path: str) -> zarr.Array:
    """The array at ``path``; a StoreError if the store has none there."""
    try:
        node = group[path]
    except KeyError:
        node = None
    if not isinstance(node, zarr.Array):
        raise StoreError(f"{group.store_path}: no array {path!r} in the store; it is damaged")
    return node


def image_records(group: zarr.Group) -> list[ImageRecord]:
    """The images a store holds, in the order they were given."""
    attrs = store_attrs(group)
    records = attrs.get("images")
    if records is None:  # a store from before collections: one image at "labels"
        source = attrs.get("input", {}).get("source")
        image = ("image",) if "image" in group else ()
        return [ImageRecord("image", ("labels",), image, source)]
    return [
        ImageRecord(
            name=r["name"],
            labels=tuple(r["labels"]),
            image=tuple(r.get("image", ())),
            source=r.get("source"),
            level=int(r.get("level", 0)),
            shape=tuple(r.get("shape", ())),
            label_offset=int(r.get("label_offset", 0)),
            spatial=r.get("spatial"),
            alpha=tuple(r.get("alpha", ())),
        )
        for r in records
    ]


class PaletteIndices:
    """The palette indices of one stored label array, read like the array (shape, chunks,
    slicing): the stored values minus the record's ``label_offset`` (its "no data" 0 back
    to the reserved label of masked pixels), in the smallest
    unsigned dtype that holds them (the 8-bit labels of K = 256 colors are 16-bit in an
    OME-Zarr label image, whose values go up to K)."""

    def __init__(self, array: zarr.Array, offset: int, n_colors: int) -> None:
        self.array = array
        self.offset = offset
        self.shape = tuple(array.shape)
        self.chunks = tuple(array.chunks)
        self.ndim = len(self.shape)
        self.dtype = np.dtype(np.uint8 if n_colors <= 256 else np.uint16)

    def __getitem__(self, key: Any) -> NDArray:
        return _as_indices(np.asarray(self.array[key]), self.offset, self.dtype)

    def to_dask(self) -> da.Array:
        """The whole array, lazily, in the stored chunks."""
        arr = da.from_zarr(self.array)
        if not self.offset:
            return arr.astype(self.dtype, copy=False)
        fn = partial(_as_indices, offset=self.offset, dtype=self.dtype)
        return arr.map_blocks(fn, dtype=self.dtype)


def _as_indices(stored: NDArray, offset: int, dtype: np.dtype) -> NDArray:
    """Stored label values as palette indices in ``dtype``; with an ``offset`` (an OME
    label image), value 0 ("no data") is the reserved label of masked pixels, the largest
    value of ``dtype``, as in a store without offset."""
    if not offset:
        return stored.astype(dtype, copy=False)
    shifted = (stored - np.asarray(offset, stored.dtype)).astype(dtype)
    return np.where(stored == 0, np.iinfo(dtype).max, shifted).astype(dtype, copy=False)


def palette_indices(group: zarr.Group, record: ImageRecord, level: int = 0) -> PaletteIndices:
    """Level ``level`` of the record's labels as palette indices (see ``label_offset``)."""
    n_colors = int(get_array(group, "palette").shape[0])
    return PaletteIndices(get_array(group, record.labels[level]), record.label_offset, n_colors)


def pick_record(group: zarr.Group, name: str | None, *, store: StoreLike) -> ImageRecord:
    """The record named ``name``, or the only one; a collection needs a name."""
    records = image_records(group)
    names = [r.name for r in records]
    if name is None:
        if len(records) == 1:
            return records[0]
        raise InvalidParameterError(
            f"{store} holds {len(records)} images; pick one with name=..., one of: "
            + ", ".join(names)
        )
    for r in records:
        if r.name == name:
            return r
    raise InvalidParameterError(
        f"name={name!r}: {store} has no such image; it has: {', '.join(names)}"
    )
