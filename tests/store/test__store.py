"""Creating a store's arrays: the metadata zarr's ``create_array`` writes, without reading
the root group's metadata (whose attributes grow with a collection: reading it once per
array made a 1,000-image job read 306 MB in the client)."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import zarr
from _opens import opens

from daskquant._errors import StoreError
from daskquant._store._store import (
    _CODEC,
    _create_arrays,
    _store_graph,
    write_arrays,
    write_large,
)

N = 40


def _big_root(path: str) -> zarr.Group:
    group = zarr.open_group(path, mode="w-")
    group.attrs["sources"] = [f"/scans/{i:06d}.jpg" for i in range(20_000)]  # ~0.4 MB
    return group


def _arrays(rng: np.random.Generator) -> dict[str, da.Array]:
    out = {}
    for i in range(N):
        h, w = (int(v) for v in rng.integers(5, 40, 2))
        data = rng.integers(0, 16, (h, w), dtype=np.uint8)
        out[f"labels/img{i}"] = da.from_array(data, chunks=(16, 16))
    out["image/img0"] = da.from_array(rng.integers(0, 255, (9, 7, 3), dtype=np.uint8))
    return out


def test_arrays_are_created_as_create_array_makes_them_without_reading_the_root(tmp_path):
    rng = np.random.default_rng(3)
    arrays = _arrays(rng)
    small = {"palette": rng.integers(0, 255, (16, 3), dtype=np.uint8)}
    group = _big_root(str(tmp_path / "new.zarr"))
    root = str(tmp_path / "new.zarr" / "zarr.json")
    with opens() as paths:
        write_arrays(group, small, {})
        assert write_large(group, arrays) == sum(
            int(np.prod(a.numblocks)) for a in arrays.values()
        )
    assert root not in paths  # (the old way opened it once per array: 43 times)

    # The reference: zarr's own create_array, one array at a time, then da.store.
    ref = zarr.open_group(str(tmp_path / "ref.zarr"), mode="w-")
    ref.create_array("palette", data=small["palette"], compressors=_CODEC)
    for path, arr in arrays.items():
        parent, leaf = path.split("/")
        target = ref.require_group(parent).create_array(
            leaf,
            shape=arr.shape,
            chunks=tuple(c[0] for c in arr.chunks),
            dtype=arr.dtype,
            compressors=_CODEC,
            fill_value=0,
        )
        da.store(arr, target, lock=False)
    for path in [*small, *arrays, "labels", "image"]:
        ours = (tmp_path / "new.zarr" / path / "zarr.json").read_bytes()
        assert ours == (tmp_path / "ref.zarr" / path / "zarr.json").read_bytes(), path
    for path, arr in {**arrays, "palette": small["palette"]}.items():
        np.testing.assert_array_equal(group[path][...], np.asarray(arr), err_msg=path)


def test_arrays_go_into_existing_groups_and_not_below_an_array(tmp_path):
    group = zarr.open_group(str(tmp_path / "s.zarr"), mode="w-")
    group.require_group("labels").attrs["kept"] = True
    group.create_array("image", shape=(2,), dtype=np.uint8)
    write_large(group, {"labels/a": da.zeros((3, 3), np.uint8, chunks=2)})
    assert group["labels"].attrs["kept"] is True
    np.testing.assert_array_equal(group["labels/a"][...], np.zeros((3, 3), np.uint8))
    with pytest.raises(StoreError, match="'image' is an array"):
        write_large(group, {"image/a": da.zeros((3, 3), np.uint8, chunks=2)})


def test_the_writes_of_many_arrays_are_one_graph_layer(tmp_path):
    # dask culls a graph layer by layer, walking every key it still needs at each: with a
    # layer or more per array (da.store), storing a collection's images cost the client
    # O(images^2). The writes and the arrays' own tasks are one layer, for any count.
    rng = np.random.default_rng(4)
    for n in (2, 20):
        group = zarr.open_group(str(tmp_path / f"{n}.zarr"), mode="w-")
        data = [rng.integers(0, 16, (20, 30), dtype=np.uint8) for _ in range(n)]
        arrays = {f"labels/img{i}": da.from_array(d, chunks=16) + 1 for i, d in enumerate(data)}
        created = _create_arrays(group, arrays, {})
        targets = [created[p] for p in arrays]
        joined, written = _store_graph(group, list(arrays.values()), targets, resume=False)
        assert written == 4 * n and len(joined.dask.layers) == 1
        joined.compute()
        for i, d in enumerate(data):
            np.testing.assert_array_equal(group[f"labels/img{i}"][...], d + 1)
