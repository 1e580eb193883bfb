"""xarray / rioxarray DataArray inputs: a DataArray opened with rioxarray from a GeoTIFF gives
the store and the GeoTIFF export that the file itself gives (rasterio reads both back); a
DataArray without a CRS is quantized with no georeferencing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import pytest
import zarr

import daskquant as dq
from daskquant._errors import InputError
from daskquant._io._xarray import dataarray_image, is_dataarray

rasterio = pytest.importorskip("rasterio")
xr = pytest.importorskip("xarray")
rioxarray = pytest.importorskip("rioxarray")


def _geotiff(path: Path, *, crs: str, transform: tuple[float, ...], interleave: str) -> Path:
    """A 180 x 260 three-band scene with a nodata corner and band descriptions."""
    from affine import Affine

    y, x = np.mgrid[0:180, 0:260]
    bands = np.stack([(x // 40) * 35, (y // 30) * 40, ((x + y) // 70) * 30]).astype(np.uint8)
    bands[:, :20, :30] = 250  # nodata
    profile = {
        "driver": "GTiff",
        "width": 260,
        "height": 180,
        "count": 3,
        "dtype": "uint8",
        "crs": crs,
        "transform": Affine(*transform),
        "nodata": 250,
        "tiled": True,
        "blockxsize": 64,
        "blockysize": 64,
        "interleave": interleave,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(bands)
        for i, name in enumerate(("red", "green", "blue"), 1):
            dst.set_band_description(i, name)
    return path


def _record(store: Path) -> dict[str, Any]:
    record = zarr.open_group(str(store), mode="r").attrs["daskquant"]["images"][0]
    return dict(record)


def _exported(tif: Path) -> tuple[dict[str, Any], np.ndarray, dict[int, tuple[int, ...]]]:
    with rasterio.open(tif) as ds:
        profile = {k: v for k, v in ds.profile.items()}
        return profile, ds.read(), ds.colormap(1)


CASES = [
    ("EPSG:32633", (10.0, 0.0, 500000.0, 0.0, -10.0, 5000000.0), "band", "numpy"),
    ("EPSG:4326", (0.001, 0.0, 13.0, 0.0, -0.001, 52.0), "pixel", "dask"),
]


@pytest.mark.parametrize("crs, transform, interleave, backing", CASES)
def test_rioxarray_dataarray_gives_the_files_store_and_export(
    tmp_path, crs, transform, interleave, backing
) -> None:
    tif = _geotiff(tmp_path / "scene.tif", crs=crs, transform=transform, interleave=interleave)
    chunks = {"band": -1, "y": 64, "x": 64} if backing == "dask" else None
    arr = rioxarray.open_rasterio(tif, chunks=chunks)
    assert isinstance(arr.data, da.Array) == (backing == "dask")

    from_file, from_array = tmp_path / "file.zarr", tmp_path / "array.zarr"
    dq.quantize(tif, from_file, n_colors=6, seed=0, chunks=64)
    dq.quantize(arr, from_array, n_colors=6, seed=0, chunks=64)
    file_record, array_record = _record(from_file), _record(from_array)
    assert array_record["spatial"] == file_record["spatial"]
    assert file_record["spatial"] == {
        "crs": crs,
        "transform": list(transform),
        "nodata": 250.0,
        "bands": ["red", "green", "blue"],
    }
    a, b = (zarr.open_group(str(s), mode="r") for s in (from_file, from_array))
    np.testing.assert_array_equal(a["palette"][...], b["palette"][...])
    np.testing.assert_array_equal(a["labels"][...], b["labels"][...])
    assert (b["labels"][:20, :30] == 255).all()  # the file's nodata, masked

    file_profile, file_pixels, file_colors = _exported(dq.export(from_file, tmp_path / "f.tif"))
    profile, pixels, colors = _exported(dq.export(from_array, tmp_path / "a.tif"))
    assert profile == file_profile
    assert profile["crs"] == rasterio.crs.CRS.from_string(crs)
    assert tuple(profile["transform"])[:6] == pytest.approx(transform)
    np.testing.assert_array_equal(pixels, file_pixels)
    assert colors == file_colors


@pytest.mark.slow  # about 20 s on a loaded 2-core machine, the cluster's start included
def test_dataarray_on_a_cluster(tmp_path, local_cluster) -> None:
    """A dask-backed DataArray's tasks (rioxarray's file handles) run on worker processes."""
    tif = _geotiff(
        tmp_path / "scene.tif",
        crs="EPSG:32633",
        transform=(10.0, 0.0, 500000.0, 0.0, -10.0, 5000000.0),
        interleave="band",
    )
    arr = rioxarray.open_rasterio(tif, chunks={"band": -1, "y": 64, "x": 64})
    dq.quantize(tif, tmp_path / "file.zarr", n_colors=5, seed=1, chunks=64)
    with dask.config.set(scheduler=local_cluster.get):
        dq.quantize(arr, tmp_path / "array.zarr", n_colors=5, seed=1, chunks=64)
    a, b = (zarr.open_group(str(tmp_path / s), mode="r") for s in ("file.zarr", "array.zarr"))
    np.testing.assert_array_equal(a["labels"][...], b["labels"][...])
    assert (
        _record(tmp_path / "array.zarr")["spatial"] == _record(tmp_path / "file.zarr")["spatial"]
    )


def test_dataarray_without_crs_has_no_georeferencing(tmp_path, astronaut) -> None:
    arr = xr.DataArray(astronaut, dims=("y", "x", "band"))
    dq.quantize(arr, tmp_path / "a.zarr", n_colors=8, seed=0)
    dq.quantize(astronaut, tmp_path / "n.zarr", n_colors=8, seed=0)
    assert "spatial" not in _record(tmp_path / "a.zarr")
    a, b = (zarr.open_group(str(tmp_path / s), mode="r") for s in ("a.zarr", "n.zarr"))
    np.testing.assert_array_equal(a["labels"][...], b["labels"][...])
    with rasterio.open(dq.export(tmp_path / "a.zarr", tmp_path / "a.tif")) as ds:
        assert ds.crs is None and ds.transform.is_identity


@pytest.mark.parametrize(
    "dims, order",
    [
        (("band", "y", "x"), (1, 2, 0)),
        (("y", "x", "band"), (0, 1, 2)),
        (("x", "y", "band"), (1, 0, 2)),  # transposed to (y, x, band)
        (("lat", "lon", "band"), (0, 1, 2)),
        (("dim_0", "dim_1", "dim_2"), (0, 1, 2)),  # by order: a last axis of 3 is bands
    ],
)
def test_dataarray_dims_to_height_width_channels(dims, order, astronaut) -> None:
    data = astronaut[:40, :50].transpose(np.argsort(order))
    pixels, spatial = dataarray_image(xr.DataArray(data, dims=dims))
    np.testing.assert_array_equal(pixels, astronaut[:40, :50])
    assert spatial is None


def test_dataarray_coordinates_without_crs_give_the_transform() -> None:
    arr = xr.DataArray(
        np.zeros((3, 4), np.uint8),
        dims=("y", "x"),
        coords={"y": [5.5, 4.5, 3.5], "x": [0.5, 1.5, 2.5, 3.5]},
    )
    pixels, spatial = dataarray_image(arr)
    assert pixels.shape == (3, 4)
    assert spatial == {"transform": [1.0, 0.0, 0.0, 0.0, -1.0, 6.0]}


def test_dataarray_refusals() -> None:
    with pytest.raises(InputError, match="dims"):
        dataarray_image(xr.DataArray(np.zeros((1, 2, 3, 4), np.uint8)))
    with pytest.raises(InputError, match="both spatial dims"):
        dataarray_image(xr.DataArray(np.zeros((2, 3), np.uint8), dims=("y", "t")))
    assert is_dataarray(xr.DataArray(np.zeros(2))) and not is_dataarray(np.zeros(2))
