"""``daskquant plan``: what a job will do, from the headers only, against the job itself."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import skimage.data
import tifffile
import zarr
from _corpus import CASES, DECODED, build

from daskquant._api._inputs import open_inputs
from daskquant._api._options import QuantizeOptions
from daskquant._api._plan import job_plan
from daskquant._cli._main import main
from daskquant._errors import InputError


def _png(path: Path, rgb: np.ndarray) -> Path:
    cv2.imwrite(str(path), rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def _rgba_png(path: Path) -> Path:
    rgba = np.dstack([skimage.data.astronaut(), np.full((512, 512), 200, np.uint8)])
    cv2.imwrite(str(path), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    return path


def _inputs(tmp: Path, kind: str) -> Any:
    photo = skimage.data.astronaut()
    if kind == "png":
        return str(_png(tmp / "a.png", photo))
    if kind == "png-gray-16":
        path = tmp / "g.png"
        cv2.imwrite(str(path), photo[..., 1].astype(np.uint16) * 257)
        return str(path)
    if kind == "png-rgba":
        return str(_rgba_png(tmp / "rgba.png"))
    if kind == "jpeg":
        path = tmp / "a.jpg"
        cv2.imwrite(str(path), photo)
        return str(path)
    if kind == "tiff-tiled":
        path = tmp / "t.tif"
        tifffile.imwrite(path, photo, tile=(128, 128), compression="zlib")
        return str(path)
    if kind == "zarr":
        zarr.create_array(str(tmp / "z.zarr"), data=photo, chunks=(100, 100, 3))
        return str(tmp / "z.zarr")
    if kind == "geotiff-uint16-5band":  # remote sensing: 16 bits, 5 bands, nodata borders
        return str(_geotiff(tmp / "scene.tif", photo))
    assert kind == "collection"
    a = _png(tmp / "a.png", photo)
    b = _png(tmp / "b.png", skimage.data.coffee())
    return [str(a), str(b)]


def _geotiff(path: Path, photo: np.ndarray) -> Path:
    import rasterio
    from affine import Affine

    bands = np.concatenate([photo, photo[..., :2] // 2], axis=2).astype(np.uint16) * 200
    bands[:20] = 0  # a nodata border
    profile = {
        "driver": "GTiff",
        "width": photo.shape[1],
        "height": photo.shape[0],
        "count": 5,
        "dtype": "uint16",
        "crs": "EPSG:32633",
        "transform": Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 5000000.0),
        "nodata": 0,
        "tiled": True,
        "blockxsize": 128,
        "blockysize": 128,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(bands.transpose(2, 0, 1))
    return path


KINDS = ["png", "png-gray-16", "png-rgba", "jpeg", "tiff-tiled", "zarr", "collection"]
KINDS += ["geotiff-uint16-5band"]


@pytest.mark.parametrize("chunks", [None, 96])
@pytest.mark.parametrize("kind", KINDS)
def test_plan_gives_the_jobs_shapes_and_chunks(tmp_path: Path, kind: str, chunks: Any) -> None:
    source = _inputs(tmp_path, kind)
    plan = job_plan(source, QuantizeOptions.of({"n_colors": 8, "chunks": chunks}))
    inputs, _ = open_inputs(source, chunks=chunks, level=0)  # what the job opens
    assert [d["shape"] for d in plan.inputs] == [list(i.array.shape) for i in inputs]
    assert [d["dtype"] for d in plan.inputs] == [str(i.array.dtype) for i in inputs]
    assert plan.chunks == sum(int(np.prod(i.array.numblocks)) for i in inputs)
    assert [d["chunk"] for d in plan.inputs] == [[max(c) for c in i.array.chunks] for i in inputs]
    assert plan.pixels == sum(int(np.prod(i.array.shape[:-1])) for i in inputs)
    assert plan.tasks["loading"] == plan.tasks["labels"] == plan.chunks
    capable = inputs[0].array.dtype == np.uint8
    assert plan.fit == ("histogram" if capable else "summary")


def _same_as_the_job(plan: Any, source: Any, *, level: int = 0, alpha: Any = "auto") -> None:
    inputs, _ = open_inputs(source, chunks=None, level=level, alpha=alpha)
    assert [d["shape"] for d in plan.inputs] == [list(i.array.shape) for i in inputs]
    assert [d["dtype"] for d in plan.inputs] == [str(i.array.dtype) for i in inputs]
    assert plan.chunks == sum(int(np.prod(i.array.numblocks)) for i in inputs)


@pytest.mark.parametrize("name", sorted(CASES))
def test_plan_of_every_file_of_the_corpus_is_what_the_job_opens(tmp_path: Path, name: str) -> None:
    # Every bit depth, color model, compression and format the readers take (the corpus
    # of tests/_corpus.py, with its refusals).
    case = build(name, tmp_path)
    source, options = str(case.path), QuantizeOptions.of({"n_colors": 4, "alpha": case.alpha})
    try:
        open_inputs(source, chunks=None, level=0, alpha=case.alpha)
    except InputError:
        assert case.refused, "the job refused a file the corpus reads"
        # A refusal the header shows (a color model, the pixel limit, a TIFF whose strips
        # pass its end), the plan shows too; a PNG, JPEG or BMP cut off in its pixels only
        # the job finds (the plan reads no pixels of a file decoded whole).
        if name in DECODED and ("truncated" in name or "without-end" in name):
            job_plan(source, options)
        else:
            with pytest.raises(InputError, match=re.escape(source)):
                job_plan(source, options)
        return
    assert case.refused is None
    _same_as_the_job(job_plan(source, options), source, alpha=case.alpha)


def _pyramid(tmp: Path, kind: str) -> str:
    photo = skimage.data.astronaut()
    if kind == "pyramid-tiff":  # a whole-slide layout: JPEG tiles, levels in SubIFDs
        path = tmp / "slide.tif"
        with tifffile.TiffWriter(path, bigtiff=True) as tw:
            opts = {"tile": (128, 128), "compression": "jpeg", "photometric": "rgb"}
            tw.write(photo, subifds=2, **opts)
            tw.write(photo[::2, ::2], subfiletype=1, **opts)
            tw.write(photo[::4, ::4], subfiletype=1, **opts)
        return str(path)
    from ome_zarr.format import FormatV05
    from ome_zarr.writer import write_image

    root = zarr.open_group(str(tmp / "slide.ome.zarr"), mode="w")
    cyx = np.ascontiguousarray(photo.transpose(2, 0, 1))
    write_image(cyx, root, axes="cyx", fmt=FormatV05(), storage_options={"chunks": (3, 96, 96)})
    return str(tmp / "slide.ome.zarr")


@pytest.mark.parametrize("level", [0, 1, 2])
@pytest.mark.parametrize("kind", ["pyramid-tiff", "ome-zarr"])
def test_plan_of_a_pyramid_level_is_what_the_job_opens(
    tmp_path: Path, kind: str, level: int
) -> None:
    source = _pyramid(tmp_path, kind)
    plan = job_plan(source, QuantizeOptions.of({"n_colors": 8, "level": level}))
    _same_as_the_job(plan, source, level=level)
    assert plan.pixels == (512 >> level) ** 2


@pytest.mark.parametrize("kind", ["png", "tiff-tiled", "zarr", "collection"])
def test_plan_bytes_written_are_the_stores_labels(tmp_path: Path, kind: str) -> None:
    import daskquant as dq

    source = _inputs(tmp_path, kind)
    plan = job_plan(source, QuantizeOptions.of({"n_colors": 8, "write_image": True}))
    dq.quantize(source, tmp_path / "out.zarr", n_colors=8, seed=0, write_image=True)
    group = zarr.open_group(str(tmp_path / "out.zarr"), mode="r")
    arrays = [a for _, a in group.members(max_depth=None) if isinstance(a, zarr.Array)]
    stored = sum(a.nbytes for a in arrays if a.ndim >= 2 and a.shape[0] > 64)
    assert plan.bytes_written == stored


def test_plan_reads_only_headers(tmp_path: Path) -> None:
    # A PNG whose pixel data is cut off: the job refuses it, the plan does not read it.
    whole = Path(_inputs(tmp_path, "png")).read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole[: len(whole) // 3])
    plan = job_plan(str(cut), QuantizeOptions.of({"n_colors": 8}))
    assert plan.inputs[0]["shape"] == [512, 512, 3]
    assert plan.inputs[0]["decoded whole"]


def test_plan_fit_paths_and_attempts(tmp_path: Path) -> None:
    source = _inputs(tmp_path, "png")
    of = QuantizeOptions.of
    # The most: 12 with the defaults (fewer where the distinct colors are many), 4 where
    # the criteria are given.
    assert job_plan(source, of({"n_colors": 8})).attempts == 12
    assert job_plan(source, of({"n_colors": 8, "epsilon": 1.0})).attempts == 4
    lab = job_plan(source, of({"n_colors": 8, "colorspace": "lab"}))
    assert (lab.fit, lab.attempts) == ("histogram", 8)
    pixels = job_plan(source, of({"n_colors": 8, "method": "pixels", "max_iter": 5}))
    assert (pixels.fit, pixels.attempts) == ("pixels", 1)
    assert pixels.tasks["iterations"] == 5 * (pixels.chunks + (pixels.chunks > 1))
    summary = job_plan(source, of({"n_colors": 8, "method": "summary", "max_iter": 5}))
    assert (summary.fit, summary.attempts) == ("summary", 4)
    assert summary.tasks["iterations"] == 5 * (summary.chunks + (summary.chunks > 1))
    assert summary.tasks["attempts"] == 4
    fixed = job_plan(source, of({"palette": "web216"}))
    assert fixed.fit.startswith("none") and "attempts" not in fixed.tasks


def test_plan_command_prints_the_plan_and_json(tmp_path: Path, capsys: Any) -> None:
    source = _inputs(tmp_path, "tiff-tiled")
    assert main(["plan", source, "-k", "16"]) == 0
    out = capsys.readouterr().out
    assert "512 x 512 x 3 uint8" in out and "fit: histogram, 12 attempts" in out
    assert "peak memory per worker" in out
    assert main(["plan", source, "-k", "16", "--json", "--chunks", "128"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["chunks"] == 16 and found["pixels"] == 512 * 512


def test_plan_command_refuses_a_missing_input(tmp_path: Path, capsys: Any) -> None:
    assert main(["plan", str(tmp_path / "nope.png"), "-k", "4"]) == 1
    assert "nope.png" in capsys.readouterr().err


def test_plan_says_where_the_command_runs_the_job(tmp_path: Path, monkeypatch: Any) -> None:
    # A small job runs in the command's own process (no attempt or table tasks, the
    # client holds the worker's memory too); past IN_PROCESS_PIXELS, on a cluster.
    import daskquant._api._plan as plan_module
    from daskquant._api._plan import job_pixels

    source = _inputs(tmp_path, "collection")
    options = QuantizeOptions.of({"n_colors": 8})
    assert job_pixels(source, options) == 512 * 512 + 400 * 600
    assert job_pixels(source, options, limit=10) == 512 * 512  # stops past the limit
    here = job_plan(source, options)
    assert here.runs == "threads" and "attempts" not in here.tasks
    monkeypatch.setattr(plan_module, "IN_PROCESS_PIXELS", 1000)
    there = job_plan(source, options)
    assert there.runs == "cluster" and there.tasks["attempts"] == 12 + 1 + 3 + 1
    assert here.client_peak == there.client_peak + here.worker_peak


def test_plan_command_prints_where_it_runs(tmp_path: Path, monkeypatch: Any, capsys: Any) -> None:
    import daskquant._api._plan as plan_module

    source = _inputs(tmp_path, "png")
    assert main(["plan", source, "-k", "8"]) == 0
    assert "runs: in the command's own process" in capsys.readouterr().out
    assert main(["plan", source, "-k", "8", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"] == "threads"
    monkeypatch.setattr(plan_module, "IN_PROCESS_PIXELS", 1000)
    assert main(["plan", source, "-k", "8"]) == 0
    assert "runs: on a Dask cluster" in capsys.readouterr().out
