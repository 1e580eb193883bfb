"""spatial_info: GeoTIFF georeferencing (rasterio, and tifffile's tags with the same result)
and pixel sizes of slides (Aperio MPP, OME-TIFF PhysicalSize, resolution tags, OME-Zarr)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from daskquant._io._georef import GEO_READERS, spatial_info, tiff_spatial

rasterio = pytest.importorskip("rasterio")

_RNG = np.random.default_rng(0)
_BANDS = _RNG.integers(1, 255, (3, 40, 56), np.uint8)


def _geotiff(path: Path, crs: str, transform: tuple[float, ...], interleave: str) -> Path:
    from affine import Affine

    profile = {
        "driver": "GTiff",
        "width": 56,
        "height": 40,
        "count": 3,
        "dtype": "uint8",
        "crs": crs,
        "transform": Affine(*transform),
        "nodata": 0,
        "interleave": interleave,
        "tiled": True,
        "blockxsize": 16,
        "blockysize": 16,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(_BANDS)
        for i, name in enumerate(("red", "green", "nir"), start=1):
            dst.set_band_description(i, name)
    return path


_CASES = {
    "projected-pixel": ("EPSG:32633", (10.0, 0.0, 500000.0, 0.0, -10.0, 5000000.0), "pixel"),
    "geographic-band": ("EPSG:4326", (0.001, 0.0, 13.0, 0.0, -0.002, 52.0), "band"),
}


@pytest.mark.parametrize("case", sorted(_CASES))
def test_geotiff_as_rasterio_reads_it_with_either_reader(tmp_path, case) -> None:
    crs, transform, interleave = _CASES[case]
    path = _geotiff(tmp_path / "g.tif", crs, transform, interleave)
    with rasterio.open(path) as ds:  # the reference
        want = {
            "crs": f"EPSG:{ds.crs.to_epsg()}",
            "transform": list(tuple(ds.transform)[:6]),
            "nodata": ds.nodata,
            "bands": list(ds.descriptions),
        }
    assert want["crs"] == crs and want["bands"] == ["red", "green", "nir"]
    with tifffile.TiffFile(path) as tf:
        for reader in GEO_READERS:
            assert tiff_spatial(tf, path=str(path), reader=reader) == want, reader
    assert spatial_info(path) == want


def test_pixel_is_point_is_shifted_to_the_corner_as_gdal_does(tmp_path) -> None:
    path = tmp_path / "point.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=8,
        height=6,
        count=1,
        dtype="uint8",
        crs="EPSG:32633",
        transform=rasterio.transform.from_origin(1000, 2000, 2, 2),
    ) as dst:
        dst.update_tags(AREA_OR_POINT="Point")
        dst.write(np.ones((1, 6, 8), np.uint8))
    with rasterio.open(path) as ds:
        want = list(tuple(ds.transform)[:6])
    with tifffile.TiffFile(path) as tf:
        assert tf.pages[0].geotiff_tags["GTRasterTypeGeoKey"] == 2  # PixelIsPoint
        assert tiff_spatial(tf, path=str(path), reader="tifffile")["transform"] == want


def test_aperio_mpp(tmp_path) -> None:
    path = tmp_path / "slide.svs"
    description = (
        "Aperio Image Library v12.0.15\r\n64x48 [0,0 64x48] (240x240) JPEG/RGB Q=70"
        "|AppMag = 40|MPP = 0.2497|Filename = slide"
    )
    tifffile.imwrite(path, _BANDS.transpose(1, 2, 0), description=description, tile=(16, 16))
    assert spatial_info(path) == {"pixel_size": [0.2497, 0.2497], "unit": "micrometer"}


def test_ome_tiff_physical_sizes_and_units(tmp_path) -> None:
    path = tmp_path / "scan.ome.tif"
    meta = {
        "axes": "YXS",
        "PhysicalSizeX": 0.5,
        "PhysicalSizeXUnit": "µm",
        "PhysicalSizeY": 0.75,
        "PhysicalSizeYUnit": "nm",
    }
    tifffile.imwrite(path, _BANDS.transpose(1, 2, 0), metadata=meta, photometric="rgb")
    assert spatial_info(path) == {"pixel_size": [0.75e-3, 0.5], "unit": "micrometer"}


def test_resolution_in_centimeters_and_levels_scale(tmp_path) -> None:
    # NDPI files carry their pixel size in pixels per centimeter, as here (tifffile does
    # not write NDPI; the same tags decide for it).
    path = tmp_path / "pyramid.tif"
    image = _BANDS.transpose(1, 2, 0)
    with tifffile.TiffWriter(path) as tw:
        opts = {"tile": (16, 16), "photometric": "rgb", "resolutionunit": "CENTIMETER"}
        tw.write(image, subifds=1, resolution=(40000, 20000), **opts)
        tw.write(image[::2, ::2], subfiletype=1, resolution=(20000, 10000), **opts)
    assert spatial_info(path) == {"pixel_size": [0.5, 0.25], "unit": "micrometer"}
    assert spatial_info(path, level=1) == {"pixel_size": [1.0, 0.5], "unit": "micrometer"}


def test_resolution_in_inches_is_no_pixel_size(tmp_path) -> None:
    path = tmp_path / "dpi.tif"
    tifffile.imwrite(path, _BANDS[0], resolution=(300, 300), resolutionunit="INCH")
    assert spatial_info(path) is None


def ome_zarr_with_units(path: Path, sizes: tuple[float, float]) -> Path:
    """A two-level NGFF 0.5 image whose y and x are in micrometers, pixel size ``sizes``."""
    group = zarr.open_group(str(path), mode="w")
    image = _BANDS
    datasets = []
    for i in range(2):
        group.create_array(str(i), data=image[:, :: 2**i, :: 2**i], chunks=(3, 16, 16))
        scale = [1.0, sizes[0] * 2**i, sizes[1] * 2**i]
        datasets.append(
            {"path": str(i), "coordinateTransformations": [{"type": "scale", "scale": scale}]}
        )
    axes = [
        {"name": "c", "type": "channel"},
        {"name": "y", "type": "space", "unit": "micrometer"},
        {"name": "x", "type": "space", "unit": "micrometer"},
    ]
    group.attrs["ome"] = {"version": "0.5", "multiscales": [{"axes": axes, "datasets": datasets}]}
    return path


def test_ome_zarr_coordinate_transformations(tmp_path) -> None:
    path = ome_zarr_with_units(tmp_path / "in.ome.zarr", (0.25, 0.3))
    assert spatial_info(path) == {"pixel_size": [0.25, 0.3], "unit": "micrometer"}
    assert spatial_info(path, level=1) == {"pixel_size": [0.5, 0.6], "unit": "micrometer"}
