"""The storage seam: locations of local paths, file versions, Zarr markers and listings."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

from daskquant._io._storage import (
    Location,
    UrlLocation,
    delete_keys,
    location,
    matches,
    store_keys,
)
from daskquant._store._store import _missing_chunks


def test_location_of_str_path_and_location(tmp_path: Path) -> None:
    where = location(str(tmp_path / "a" / "b.TIF"))
    assert isinstance(where, Location)
    assert location(tmp_path / "a" / "b.TIF") == where
    assert location(where) is where
    assert str(where) == str(tmp_path / "a" / "b.TIF") == os.fspath(where)
    assert (where.name, where.suffix, str(where.parent)) == ("b.TIF", ".TIF", str(tmp_path / "a"))
    assert str(where.parent / "c") == str(tmp_path / "a" / "c")
    assert isinstance(where, os.PathLike)
    # A URL is a location of its own kind; an unknown scheme stays a local path.
    url = location("s3://bucket/x.zarr")
    assert isinstance(url, UrlLocation) and str(url) == "s3://bucket/x.zarr"
    assert location("nosuchscheme://x").path == Path("nosuchscheme://x")


def test_exists_file_dir_and_zarr(tmp_path: Path) -> None:
    f = tmp_path / "f.bin"
    f.write_bytes(b"abc")
    assert location(f).exists() and location(f).is_file() and not location(f).is_dir()
    assert not location(tmp_path / "none").exists()
    assert location(tmp_path).is_dir() and not location(tmp_path).is_zarr()
    zarr.open_group(str(tmp_path / "g.zarr"), mode="w")
    zarr.create_array(str(tmp_path / "a.zarr"), shape=(2,), dtype="u1")
    assert location(tmp_path / "g.zarr").is_zarr() and location(tmp_path / "a.zarr").is_zarr()
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / ".zarray").write_text("{}")
    assert location(v2).is_zarr()


def test_version_changes_after_a_rewrite_in_place(tmp_path: Path) -> None:
    f = tmp_path / "img.tif"
    f.write_bytes(b"0123456789")
    before = location(f).version()
    st = f.stat()
    assert (before.size, before.mtime_ns, before.ctime_ns) == (10, st.st_mtime_ns, st.st_ctime_ns)
    time.sleep(0.02)
    f.write_bytes(b"9876543210")  # same size
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # modification time put back
    after = location(f).version()
    assert (after.size, after.mtime_ns) == (before.size, before.mtime_ns)
    assert after != before  # the change time tells the versions apart


def test_tree_version_counts_every_file(tmp_path: Path) -> None:
    (tmp_path / "s" / "c").mkdir(parents=True)
    (tmp_path / "s" / "zarr.json").write_text("{}")
    (tmp_path / "s" / "c" / "0").write_bytes(b"12345")
    files, size, latest = location(tmp_path / "s").tree_version()
    mtimes = [p.stat().st_mtime_ns for p in (tmp_path / "s").rglob("*") if p.is_file()]
    assert (files, size, latest) == (2, 7, max(mtimes))


def test_children_read_remove_and_glob(tmp_path: Path) -> None:
    store = tmp_path / "out.zarr"
    zarr.open_group(str(store), mode="w").create_array("x", data=np.arange(4))
    (tmp_path / "a.png").write_bytes(b"png")
    assert sorted(c.name for c in location(tmp_path).children()) == ["a.png", "out.zarr"]
    assert location(tmp_path / "a.png").read_bytes() == b"png"
    with location(tmp_path / "a.png").open() as f:
        assert f.read(2) == b"pn"
    assert [m.name for m in matches(str(tmp_path / "*.png"))] == ["a.png"]
    location(store).remove()
    assert not store.exists()


def test_create_writes_a_new_file_or_empties_one(tmp_path: Path) -> None:
    target = location(tmp_path / "out.png")
    with target.create() as f:
        f.write(b"0123456789")
    with target.create() as f:
        f.write(b"ab")
    assert (tmp_path / "out.png").read_bytes() == b"ab"


def test_remove_with_and_without_ignore_errors(tmp_path: Path) -> None:
    store = tmp_path / "out.zarr"
    zarr.open_group(str(store), mode="w").create_array("x", data=np.arange(4))
    location(store).remove(ignore_errors=True)
    assert not store.exists()
    location(store).remove(ignore_errors=True)  # gone already: no error
    with pytest.raises(FileNotFoundError):
        location(store).remove()


def test_writable_folder(tmp_path: Path) -> None:
    parent, is_dir, writable = location(tmp_path / "new" / "deeper" / "out.zarr").writable_folder()
    assert (parent.local(), is_dir, writable) == (tmp_path, True, True)
    (tmp_path / "file").write_bytes(b"")
    parent, is_dir, writable = location(tmp_path / "file" / "out.zarr").writable_folder()
    assert (parent.local(), is_dir, writable) == (tmp_path / "file", False, False)


def _chunk_files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in (folder / "c").rglob("*") if p.is_file()}


@pytest.mark.parametrize("path", ["labels", "labels/img"])
def test_missing_chunks_are_the_files_not_on_disk(tmp_path: Path, path: str) -> None:
    group = zarr.open_group(location(tmp_path / "s.zarr").zarr_store(), mode="w")
    parent = group.require_group("labels") if "/" in path else group
    arr = parent.create_array(
        path.split("/")[-1],
        shape=(10, 7),
        chunks=(3, 2),
        dtype="u1",
        fill_value=0,
        config={"write_empty_chunks": True},
    )
    arr[...] = 0
    folder = tmp_path / "s.zarr" / path
    files = sorted(_chunk_files(folder))
    assert len(files) == 4 * 4
    keys = store_keys(group.store, f"{path}/c")
    assert sorted(k.removeprefix(path + "/") for k in keys) == files
    for name in files[::3]:
        (folder / name).unlink()
    (folder / "c" / "1" / "1.0123abcd.partial").write_bytes(b"half")  # not a chunk
    missing = _missing_chunks(group, arr)
    on_disk = _chunk_files(folder)
    grid = [(i, j) for i in range(4) for j in range(4)]
    assert missing == [ij for ij in grid if f"c/{ij[0]}/{ij[1]}" not in on_disk]
    assert len(missing) == len(files[::3])
    delete_keys(group.store, [f"{path}/c/1/1.0123abcd.partial"])
    assert not (folder / "c" / "1" / "1.0123abcd.partial").exists()


def test_store_keys_needs_a_listing_store() -> None:
    class NoListing:
        supports_listing = False

    with pytest.raises(TypeError):
        store_keys(NoListing(), "x")  # type: ignore[arg-type]


def test_local_paths_are_absolute_for_the_workers(tmp_path, monkeypatch):
    # A worker's working folder is not the client's: what tasks open must not depend on it.
    monkeypatch.chdir(tmp_path)
    where = location("scans/a.tif")
    assert str(where) == "scans/a.tif"  # messages name it as the user did
    assert where.local() == tmp_path / "scans" / "a.tif"
    store = location("out.zarr").zarr_store()
    assert Path(str(store.root)).is_absolute()


@pytest.mark.parametrize("kind", ["local", "memory"])
def test_create_new_creates_only_what_is_absent(tmp_path: Path, kind: str) -> None:
    where = location(tmp_path / "a" / "claim" if kind == "local" else "memory://dq-new/claim")
    assert where.create_new(b"first") is True  # atomic on both
    with pytest.raises(FileExistsError):
        where.create_new(b"second")
    assert where.read_bytes() == b"first"
    where.remove()
    assert not where.exists()
    assert where.create_new(b"third") and where.read_bytes() == b"third"
    where.remove()
