"""Storage anywhere (issue 16): inputs and outputs by URL, against real servers on
127.0.0.1 (moto's S3 server, an HTTP server) and fsspec's memory filesystem; every remote
result is compared with the same job on local files."""

from __future__ import annotations

import importlib.util
import json
import socket
from pathlib import Path
from typing import Any

import cv2
import dask
import numpy as np
import pytest
import s3fs
import skimage.data
import tifffile
import zarr
from _servers import SECRET, http_server, s3_server, s3_server_checking_credentials
from zarr.storage import FsspecStore

import daskquant as dq
from daskquant._api._inputs import check_inputs
from daskquant._cli import main
from daskquant._io._storage import READ_BLOCK, location
from daskquant._store._resume import path_print

BUCKET = "dq-test-bucket"
JOB: dict[str, Any] = {"n_colors": 6, "seed": 3, "max_iter": 10, "chunks": 64}


@pytest.fixture(scope="module")
def s3() -> Any:
    with s3_server() as options:
        fs = s3fs.S3FileSystem(**options)
        fs.mkdir(BUCKET)
        yield options


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiled TIFF and two PNGs of real photographs, and a palette file."""
    folder = tmp_path_factory.mktemp("inputs")
    tifffile.imwrite(folder / "in.tif", skimage.data.astronaut()[:192, :160], tile=(64, 64))
    scans = folder / "scans"
    scans.mkdir()
    for name, img in (("a", skimage.data.coffee()), ("b", skimage.data.chelsea())):
        cv2.imwrite(str(scans / f"{name}.png"), cv2.cvtColor(img[:96, :128], cv2.COLOR_RGB2BGR))
    (folder / "pal.txt").write_text("#000000\n#ffffff\n#c04020\n#2050a0\n")
    return folder


def _put(options: dict[str, Any], local: Path, key: str) -> str:
    s3fs.S3FileSystem(**options).put(str(local), f"{BUCKET}/{key}", recursive=local.is_dir())
    return f"s3://{BUCKET}/{key}"


def _arrays(group: zarr.Group) -> dict[str, np.ndarray]:
    members = group.members(max_depth=None)
    return {n: np.asarray(a) for n, a in members if isinstance(a, zarr.Array)}


def _s3_group(options: dict[str, Any], url: str) -> zarr.Group:
    return zarr.open_group(FsspecStore.from_url(url, storage_options=options), mode="r")


def _same_stores(a: zarr.Group, b: zarr.Group) -> None:
    got, want = _arrays(a), _arrays(b)
    assert sorted(got) == sorted(want)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_s3_tiff_to_s3_store_on_workers_matches_the_local_run(s3, files, tmp_path, local_cluster):
    url = _put(s3, files / "in.tif", "in.tif")
    with dask.config.set(scheduler=local_cluster.get):
        local = dq.quantize(files / "in.tif", tmp_path / "local.zarr", **JOB)
        remote = dq.quantize(url, f"s3://{BUCKET}/out.zarr", storage_options=s3, **JOB)
    assert remote.store == f"s3://{BUCKET}/out.zarr"
    group = _s3_group(s3, f"s3://{BUCKET}/out.zarr")
    _same_stores(group, zarr.open_group(tmp_path / "local.zarr", mode="r"))
    # The request names the object by URL and ETag; no storage option anywhere.
    request = group.attrs["daskquant"]["request"]
    assert request["input"][0][0] == url and len(request["input"][0]) == 4
    assert "storage_options" not in request
    said = json.dumps(dict(group.attrs)) + json.dumps(remote.as_dict()) + repr(remote)
    assert SECRET not in said and "testing" not in said
    assert local.palette == remote.palette


def test_plan_of_remote_inputs_is_what_the_job_opens(s3, files, capsys):
    # The plan reads the headers where the data is: an S3 object (by its credentials and
    # endpoint, --storage-options) and files served over HTTP, as the job opens them.
    from daskquant._api._inputs import open_inputs

    url = _put(s3, files / "in.tif", "plan/in.tif")
    opts = ["--storage-options", json.dumps(s3)]
    assert main(["plan", url, "-k", "8", "--json", "--chunks", "64", *opts]) == 0
    found = json.loads(capsys.readouterr().out)
    want = np.asarray(dq.open_image(files / "in.tif")).shape
    assert found["inputs"][0]["shape"] == list(want) and found["chunks"] == 3 * 3
    assert main(["plan", url, "-k", "8"]) == 1  # no credentials: refused, one line
    assert "in.tif" in capsys.readouterr().err
    with http_server(files) as base:
        sources = [f"{base}/in.tif", f"{base}/scans/a.png"]
        for source in sources:
            assert main(["plan", source, "-k", "8", "--json"]) == 0
            found = json.loads(capsys.readouterr().out)
            (opened,), _ = open_inputs(source, chunks=None, level=0)
            assert found["inputs"][0]["shape"] == list(opened.array.shape)
            assert found["chunks"] == int(np.prod(opened.array.numblocks))


def test_collection_by_prefix_with_a_palette_by_url(s3, files, tmp_path):
    prefix = _put(s3, files / "scans", "scans")
    palette = _put(s3, files / "pal.txt", "pal.txt")
    job = {"palette": palette, "storage_options": s3}
    local = dq.quantize(files / "scans", tmp_path / "local.zarr", palette=files / "pal.txt")
    remote = dq.quantize(prefix + "/", f"s3://{BUCKET}/coll.zarr", **job)
    assert [i["name"] for i in remote.extra["images"]] == ["a", "b"]
    assert remote.counts == local.counts
    _same_stores(
        _s3_group(s3, f"s3://{BUCKET}/coll.zarr"), zarr.open_group(tmp_path / "local.zarr")
    )
    # A glob of URLs and a list of URLs give the same collection.
    matched = dq.open_collection(f"{prefix}/*.png", storage_options=s3)
    listed = dq.open_collection([f"{prefix}/a.png", f"{prefix}/b.png"], storage_options=s3)
    assert [n for n, _ in matched] == [n for n, _ in listed] == ["a", "b"]


def test_info_export_and_preview_of_a_remote_store(s3, files, tmp_path, capsys):
    url = _put(s3, files / "in.tif", "in2.tif")
    store = f"s3://{BUCKET}/shown.zarr"
    dq.quantize(url, store, storage_options=s3, **JOB)
    dq.quantize(files / "in.tif", tmp_path / "local.zarr", **JOB)
    opts = ["--storage-options", json.dumps(s3)]
    assert main(["info", store, "--json", *opts]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["complete"] and info["chunks"]["written"] == info["chunks"]["total"]
    assert main(["export", store, f"s3://{BUCKET}/shown.png", "-q", *opts]) == 0
    assert main(["export", store, str(tmp_path / "remote.png"), "-q", *opts]) == 0
    dq.export(tmp_path / "local.zarr", tmp_path / "local.png")
    fs = s3fs.S3FileSystem(**s3)
    local_png = (tmp_path / "local.png").read_bytes()
    assert fs.cat_file(f"{BUCKET}/shown.png") == local_png
    assert (tmp_path / "remote.png").read_bytes() == local_png
    written = dq.preview(store, f"s3://{BUCKET}/preview.png", storage_options=s3)
    assert written == f"s3://{BUCKET}/preview.png"
    dq.preview(tmp_path / "local.zarr", tmp_path / "preview.png")
    assert fs.cat_file(f"{BUCKET}/preview.png") == (tmp_path / "preview.png").read_bytes()
    assert SECRET not in capsys.readouterr().err


def _interrupt(options: dict[str, Any], store: str) -> int:
    """What a job killed while writing leaves: some label chunks missing, not complete."""
    fs = s3fs.S3FileSystem(**options)
    chunks = sorted(fs.find(f"{store.removeprefix('s3://')}/labels/c"))
    fs.rm(chunks[::2])
    group = zarr.open_group(FsspecStore.from_url(store, storage_options=options), mode="r+")
    group.attrs["complete"] = False
    return len(chunks[::2])


def test_resume_on_s3_ends_bit_identical_and_refuses_a_changed_object(s3, files, tmp_path):
    url = _put(s3, files / "in.tif", "in3.tif")
    store = f"s3://{BUCKET}/resumed.zarr"
    dq.quantize(url, store, storage_options=s3, **JOB)
    dq.quantize(files / "in.tif", tmp_path / "local.zarr", **JOB)
    missing = _interrupt(s3, store)
    resumed = dq.quantize(url, store, resume=True, storage_options=s3, **JOB)
    assert (resumed.extra["chunks_written"], resumed.extra["resumed"]) == (missing, True)
    _same_stores(_s3_group(s3, store), zarr.open_group(tmp_path / "local.zarr"))
    # The same object rewritten (same size, other pixels): a new ETag refuses the resume.
    _interrupt(s3, store)
    other = tmp_path / "other.tif"
    tifffile.imwrite(other, 255 - skimage.data.astronaut()[:192, :160], tile=(64, 64))
    assert other.stat().st_size == (files / "in.tif").stat().st_size
    _put(s3, other, "in3.tif")
    with pytest.raises(dq.StoreError, match="other inputs or options.*input") as caught:
        dq.quantize(url, store, resume=True, storage_options=s3, **JOB)
    assert SECRET not in str(caught.value)


def test_http_and_memory_inputs_read_as_local_files(files):
    want = np.asarray(dq.open_image(files / "in.tif"))
    with http_server(files) as base:
        tiff = dq.open_image(f"{base}/in.tif", chunks=64)
        np.testing.assert_array_equal(np.asarray(tiff), want)
        png = dq.open_image(f"{base}/scans/a.png")
        np.testing.assert_array_equal(np.asarray(png), dq.open_image(files / "scans/a.png"))
    where = location("memory://dq/in.tif")
    with where.create() as f:
        f.write((files / "in.tif").read_bytes())
    np.testing.assert_array_equal(np.asarray(dq.open_image("memory://dq/in.tif")), want)
    summary = dq.quantize("memory://dq/in.tif", "memory://dq/out.zarr", **JOB)
    assert np.asarray(dq.open_store("memory://dq/out.zarr")["labels"]).shape == (192, 160)
    assert summary.store == "memory://dq/out.zarr"


@pytest.mark.skipif(importlib.util.find_spec("gcsfs") is not None, reason="gcsfs installed")
def test_a_scheme_whose_filesystem_is_missing_names_the_extra(files, tmp_path, capsys):
    with pytest.raises(dq.InputError, match=r"gcsfs.*pip install 'daskquant\[gcs\]'"):
        dq.open_image("gs://bucket/in.tif")
    assert main(["quantize", "gs://bucket/in.tif", str(tmp_path / "o.zarr"), "-q"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "daskquant[gcs]" in err[0] and "gs://bucket/in.tif" in err[0]
    assert not (tmp_path / "o.zarr").exists()


def test_a_missing_bucket_or_object_is_one_clear_line(s3, files, tmp_path, capsys):
    opts = ["--storage-options", json.dumps(s3), "-q"]
    missing = f"s3://{BUCKET}/nothing-here.tif"
    assert main(["quantize", missing, str(tmp_path / "o.zarr"), *opts]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"daskquant: error: {missing}: no such file or directory"]
    out = "s3://no-such-bucket-dq/out.zarr"
    assert main(["quantize", str(files / "in.tif"), out, *opts]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no-such-bucket-dq" in err[0] and SECRET not in err[0]
    # No server at the endpoint: one line naming the URL, soon (one attempt), no secret.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    nobody = {**s3, "endpoint_url": f"http://127.0.0.1:{closed}"}
    nobody["config_kwargs"] = {"retries": {"max_attempts": 1}}
    url = f"s3://{BUCKET}/in.tif"
    argv = ["quantize", url, str(tmp_path / "o.zarr"), "-q"]
    assert main([*argv, "--storage-options", json.dumps(nobody)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"daskquant: error: {url}: the storage did not")
    assert SECRET not in err[0] and not (tmp_path / "o.zarr").exists()
    assert main(["quantize", str(files / "in.tif"), "x.zarr", "--storage-options", "[1"]) == 2
    assert "JSON object" in capsys.readouterr().err


def test_wrong_credentials_are_one_clear_line(files, tmp_path, capsys):
    """A 403 from the storage (a key it does not know), for an input, an output and a
    store to inspect: one line naming the URL, without the secret; nothing written."""
    with s3_server_checking_credentials() as wrong:
        opts = ["--storage-options", json.dumps(wrong), "-q"]
        url = f"s3://{BUCKET}/in.tif"
        out = f"s3://{BUCKET}/out.zarr"
        for argv, named in (
            (["quantize", url, str(tmp_path / "o.zarr")], url),
            (["quantize", str(files / "in.tif"), out], out),
            (["info", out], out),
            (["quantize", f"s3://{BUCKET}/scans/", str(tmp_path / "o.zarr")], "scans/"),
        ):
            assert main([*argv, *opts]) == 1, argv
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and "the storage refused access" in err[0], err
            assert named in err[0] and SECRET not in err[0]
        assert not (tmp_path / "o.zarr").exists()


def test_a_url_that_is_not_an_image_is_one_clear_line(s3, files, tmp_path, capsys):
    """Text behind an image's name, an unknown suffix, and a web page: one line naming the
    URL, exit code 1, nothing written."""
    fs = s3fs.S3FileSystem(**s3)
    fs.pipe_file(f"{BUCKET}/notes.tif", b"these are notes, not a TIFF\n" * 20)
    fs.pipe_file(f"{BUCKET}/notes.txt", b"notes\n")
    (files / "page.html").write_text("<html><body>not an image</body></html>")
    opts = ["--storage-options", json.dumps(s3), "-q"]
    with http_server(files) as base:
        for url, extra in (
            (f"s3://{BUCKET}/notes.tif", opts),
            (f"s3://{BUCKET}/notes.txt", opts),
            (f"{base}/page.html", ["-q"]),
        ):
            out = tmp_path / "o.zarr"
            assert main(["quantize", url, str(out), *extra]) == 1, url
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and err[0].startswith(f"daskquant: error: {url}: "), err
            assert SECRET not in err[0] and not out.exists()


def test_a_remote_tiff_is_read_by_the_ranges_a_task_needs(tmp_path):
    """Checking and opening a TIFF by URL reads its header, not the file; a chunk reads
    about its own tiles. (With the filesystem's default 50 MiB blocks, opening a 10 MB
    TIFF fetched it three times over; fsspec's exists() of an http URL GETs the file.)"""
    image = np.tile(skimage.data.astronaut(), (2, 2, 1))  # 64 uncompressed 128 x 128 tiles
    tifffile.imwrite(tmp_path / "big.tif", image, tile=(128, 128))
    size = (tmp_path / "big.tif").stat().st_size
    served: dict[str, int] = {}
    with http_server(tmp_path, served) as base:
        url = f"{base}/big.tif"
        check_inputs(url)
        lazy = dq.open_image(url, chunks=128)
        path_print(url)
        opened = served.get("/big.tif", 0)
        assert opened <= 3 * READ_BLOCK < size // 5, (opened, size)
        corner = np.asarray(lazy[-128:, -128:])
        tile = 128 * 128 * 3
        assert served["/big.tif"] - opened <= tile + 2 * READ_BLOCK, (served, tile)
    np.testing.assert_array_equal(corner, image[-128:, -128:])
