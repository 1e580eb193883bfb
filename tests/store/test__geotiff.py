"""Georeferenced and slide inputs keep where their pixels are, through the store into the
exports: a GeoTIFF becomes a paletted COG (read back with rasterio), a slide's pixel size
becomes the OME-Zarr scale and the TIFF export's resolution tags."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

import daskquant as dq
from daskquant._io._georef import spatial_info

rasterio = pytest.importorskip("rasterio")

_TRANSFORM = (10.0, 0.0, 500000.0, 0.0, -10.0, 5000000.0)


def _scene(path: Path, *, crs: str = "EPSG:32633", transform: tuple = _TRANSFORM) -> Path:
    """A 300 x 700 three-band scene of smooth fields, written by rasterio."""
    from affine import Affine

    y, x = np.mgrid[0:300, 0:700]
    bands = np.stack([(x // 90) * 30, (y // 60) * 50, ((x + y) // 150) * 40]).astype(np.uint8)
    profile = {
        "driver": "GTiff",
        "width": 700,
        "height": 300,
        "count": 3,
        "dtype": "uint8",
        "crs": crs,
        "transform": Affine(*transform),
        "nodata": 255,
        "tiled": True,
        "blockxsize": 128,
        "blockysize": 128,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(bands)
    return path


@pytest.mark.parametrize(
    "crs, transform",
    [("EPSG:32633", _TRANSFORM), ("EPSG:4326", (0.001, 0.0, 13.0, 0.0, -0.001, 52.0))],
)
def test_geotiff_to_paletted_cog(tmp_path, crs, transform) -> None:
    scene = _scene(tmp_path / "scene.tif", crs=crs, transform=transform)
    out = tmp_path / "scene.zarr"
    dq.quantize(scene, out, n_colors=6, seed=0, chunks=128)
    record = zarr.open_group(str(out), mode="r").attrs["daskquant"]["images"][0]
    assert record["spatial"] == {"crs": crs, "transform": list(transform), "nodata": 255.0}

    cog = dq.export(out, tmp_path / "scene-6.tif")
    group = zarr.open_group(str(out), mode="r")
    labels, palette = group["labels"][...], group["palette"][...]
    with rasterio.open(cog) as ds:
        assert ds.crs.to_epsg() == int(crs[5:])
        assert tuple(ds.transform)[:6] == pytest.approx(transform)
        assert ds.count == 1 and ds.dtypes == ("uint8",)
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert ds.block_shapes == [(512, 512)]
        assert ds.overviews(1) == [2, 4]  # until the longer side fits in 256
        np.testing.assert_array_equal(ds.read(1), labels)
        colormap = ds.colormap(1)
        for i, rgb in enumerate(palette):
            assert colormap[i] == (*rgb.tolist(), 255)
    # Overviews by nearest neighbour: every pixel is one of the pixels it stands for.
    with rasterio.open(cog, overview_level=1) as ds:
        small = ds.read(1)
    assert small.shape == (75, 175)
    blocks = labels.reshape(75, 4, 175, 4)
    assert (blocks == small[:, None, :, None]).any(axis=(1, 3)).all()


def test_geotiff_export_refuses_too_many_colors(tmp_path) -> None:
    scene = _scene(tmp_path / "scene.tif")
    out = tmp_path / "many.zarr"
    rng = np.random.default_rng(0)
    dq.quantize(scene, out, palette=rng.integers(0, 256, (300, 3)), chunks=128)
    with pytest.raises(dq.InvalidParameterError, match="at most 256 colors"):
        dq.export(out, tmp_path / "many.tif")


def _svs(path: Path, mpp: float) -> Path:
    y, x = np.mgrid[0:200, 0:600]
    rgb = np.stack([(x // 50) * 20, (y // 40) * 40, 200 - (x // 100) * 30], -1).astype(np.uint8)
    description = (
        "Aperio Image Library v12.0.15\r\n600x200 [0,0 600x200] (256x256) JPEG/RGB Q=70"
        f"|AppMag = 40|MPP = {mpp}"
    )
    tifffile.imwrite(path, rgb, tile=(64, 64), description=description, photometric="rgb")
    return path


def test_slide_pixel_size_goes_to_the_ome_scale_and_the_tiff_resolution(tmp_path) -> None:
    slide = _svs(tmp_path / "slide.svs", 0.25)
    out = tmp_path / "slide.zarr"
    dq.quantize(slide, out, n_colors=5, seed=0, ome=True, chunks=64)
    group = zarr.open_group(str(out), mode="r")
    for node in (group, group["labels/slide"]):
        multiscale = node.attrs["ome"]["multiscales"][0]
        units = {a["name"]: a.get("unit") for a in multiscale["axes"]}
        assert units["y"] == units["x"] == "micrometer" and units.get("c") is None
        for i, dataset in enumerate(multiscale["datasets"]):
            scale = dataset["coordinateTransformations"][0]["scale"]
            assert scale[-2:] == [0.25 * 2**i, 0.25 * 2**i]
    assert len(group.attrs["ome"]["multiscales"][0]["datasets"]) == 3  # 600, 300, 150
    # The OME-Zarr output read as an input has the same pixel size; so has the TIFF export.
    assert spatial_info(out) == {"pixel_size": [0.25, 0.25], "unit": "micrometer"}
    tif = dq.export(out, tmp_path / "slide-5.tif")
    assert spatial_info(tif) == {"pixel_size": [0.25, 0.25], "unit": "micrometer"}
    with tifffile.TiffFile(tif) as tf:
        page = tf.pages[0]
        assert page.tags["ResolutionUnit"].value == 3  # centimeter
        assert page.tags["XResolution"].value == (40000, 1)


def test_ome_zarr_input_units_carry_to_the_output(tmp_path) -> None:
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Multiscales, Reader

    slide = _svs(tmp_path / "a.svs", 0.5)
    first = tmp_path / "a.zarr"
    dq.quantize(slide, first, n_colors=4, seed=0, ome=True, chunks=64)
    again = tmp_path / "b.zarr"
    dq.quantize(first, again, n_colors=4, seed=0, ome=True, chunks=64)
    assert spatial_info(again) == {"pixel_size": [0.5, 0.5], "unit": "micrometer"}
    # ome-zarr-py reads the scale per level.
    node = next(iter(Reader(parse_url(str(again)))()))
    assert any(isinstance(s, Multiscales) for s in node.specs)
    scales = [t[0]["scale"] for t in node.metadata["coordinateTransformations"]]
    assert scales == [[1.0, 0.5, 0.5], [1.0, 1.0, 1.0], [1.0, 2.0, 2.0]]
