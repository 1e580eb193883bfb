"""A collection's members read on the workers: 48 crops of real photos (PNG, JPEG, tiled
TIFF, a Zarr store) quantized with a cluster give the store the threaded scheduler gives,
without one file decoded (or even opened) in the client; a bad member is still refused by
name."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import dask
import numpy as np
import pytest
import tifffile
import zarr
from _clusters import Processes, start_tcp_cluster
from _opens import opens

import daskquant as dq
import daskquant._io._readers as readers
from daskquant._cli._samples import PHOTOS, photo
from daskquant._io._collection import collection_paths
from daskquant._io._members import open_members

N = 48


@pytest.fixture(scope="module")
def crops(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """48 crops of the bundled photos, 40-100 pixels a side, mostly PNG and JPEG."""
    folder = tmp_path_factory.mktemp("crops")
    rng = np.random.default_rng(5)
    for i in range(N):
        src = photo(PHOTOS[i % len(PHOTOS)])
        h, w = (int(v) for v in rng.integers(40, 100, 2))
        y, x = int(rng.integers(0, src.shape[0] - h)), int(rng.integers(0, src.shape[1] - w))
        crop = src[y : y + h, x : x + w]
        name = folder / f"crop{i:02d}"
        if i == 7:
            tifffile.imwrite(f"{name}.tif", crop, tile=(32, 32), compression="zlib")
        elif i == 11:
            zarr.create_array(f"{name}.zarr", data=crop, chunks=(32, 32, 3))
        else:
            bgr = cv2.cvtColor(crop, cv2.COLOR_RGB2BGR)
            cv2.imwrite(f"{name}.{'jpg' if i % 3 == 0 else 'png'}", bgr)
    return folder


def _no_decoding_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make a file decoded whole in this process an error (workers are other processes)."""

    def refuse(path: object) -> None:
        raise AssertionError(f"{path} was decoded in the client")

    monkeypatch.setattr(readers, "decode_file", refuse)


def _quantize(folder: Path, out: Path) -> Path:
    dq.quantize(folder, out, n_colors=12, seed=2, chunks=64, metrics=False)
    return out


def _assert_same_store(a: Path, b: Path, n: int) -> None:
    ga, gb = zarr.open_group(str(a), mode="r"), zarr.open_group(str(b), mode="r")
    assert ga.attrs["daskquant"] == gb.attrs["daskquant"]
    arrays = sorted(k for k, _ in ga.members(max_depth=None) if isinstance(ga[k], zarr.Array))
    others = sorted(k for k, _ in gb.members(max_depth=None) if isinstance(gb[k], zarr.Array))
    assert arrays == others and len(arrays) > n
    for key in arrays:
        np.testing.assert_array_equal(ga[key][:], gb[key][:], err_msg=key)


@pytest.fixture(scope="module")
def few(crops: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 14 crops (the TIFF and the Zarr store among them): a job stays short."""
    folder = tmp_path_factory.mktemp("few")
    for p in sorted(crops.iterdir())[:14]:
        copy = shutil.copytree if p.is_dir() else shutil.copyfile
        copy(p, folder / p.name)
    return folder


def _threaded(folder: Path, out: Path) -> Path:
    """The collection quantized with the threaded scheduler: every file read here."""
    with dask.config.set(scheduler="threads"):
        return _quantize(folder, out)


def test_members_read_on_workers_are_the_arrays_read_here(crops, local_cluster, monkeypatch):
    paths = collection_paths(crops)
    here = open_members(paths, chunks=(64, 64), level=0)
    _no_decoding_here(monkeypatch)
    with dask.config.set(scheduler=local_cluster.get):
        there = open_members(paths, chunks=(64, 64), level=0)
        pixels = dask.compute([m.array for m in there])[0]
    assert [m.in_memory for m in there] == [m.in_memory for m in here]
    assert sum(m.in_memory for m in here) == N - 2  # the TIFF and the Zarr store are lazy
    for a, b, got in zip(here, there, pixels, strict=True):
        assert b.array.chunks == a.array.chunks and b.array.dtype == a.array.dtype
        np.testing.assert_array_equal(got, a.array.compute(scheduler="sync"))


def test_collection_on_a_local_cluster_gives_the_threaded_store(
    few, local_cluster, monkeypatch, tmp_path
):
    want = _threaded(few, tmp_path / "threads.zarr")
    _no_decoding_here(monkeypatch)
    with dask.config.set(scheduler=local_cluster.get):
        out = _quantize(few, tmp_path / "c.zarr")
    _assert_same_store(want, out, 14)


@pytest.mark.slow  # all 48 crops, twice, and its own scheduler and workers (~3 min at load 16)
def test_collection_on_a_separate_scheduler_gives_the_threaded_store(crops, monkeypatch, tmp_path):
    from distributed import Client

    want = _threaded(crops, tmp_path / "threads.zarr")
    procs = Processes(tmp_path)
    try:
        address = start_tcp_cluster(procs)
        _no_decoding_here(monkeypatch)
        with Client(address):  # the default client: the job runs there
            out = _quantize(crops, tmp_path / "c.zarr")
    finally:
        procs.close()
    _assert_same_store(want, out, N)


def test_bad_members_read_on_workers_name_the_first_in_order(crops, local_cluster, tmp_path):
    folder = tmp_path / "some"
    folder.mkdir()
    for p in sorted(crops.glob("*.png"))[:20]:
        (folder / p.name).write_bytes(p.read_bytes())
    (folder / "crop05x.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (folder / "crop40x.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    out = tmp_path / "never.zarr"
    with dask.config.set(scheduler=local_cluster.get):
        with pytest.raises(dq.InputError, match=r"crop05x\.png: ") as caught:
            dq.quantize(folder, out, n_colors=4)
    assert str(folder / "crop05x.png") in str(caught.value)
    assert not out.exists()


def test_collection_on_a_cluster_opens_no_member_file_in_the_client(few, local_cluster, tmp_path):
    # Headers, alpha and pixels are read on the workers (other processes): the client
    # lists the folder and stats the files, but opens none of them.
    with dask.config.set(scheduler=local_cluster.get), opens() as there:
        _quantize(few, tmp_path / "c.zarr")
    assert [p for p in there if p.startswith(str(few))] == []
    with dask.config.set(scheduler="threads"), opens() as here:  # the check can fail
        _quantize(few, tmp_path / "t.zarr")
    members = {Path(p).relative_to(few).parts[0] for p in here if p.startswith(str(few))}
    assert len(members) == len(list(few.iterdir())) == 14
