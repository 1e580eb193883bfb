"""export() of stores with pixels left out (nodata=, mask=): transparent in the PNG (tRNS),
the file's nodata in the TIFF and GeoTIFF, read back with Pillow, tifffile and rasterio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr
from numpy.typing import NDArray
from PIL import Image

import daskquant as dq
from daskquant._cli._samples import photo
from daskquant._io._png import header_chunks
from daskquant._store._pyramid import GDAL_NODATA
from daskquant._store._store import store_attrs


def _bordered(img: NDArray[np.uint8]) -> tuple[NDArray[np.uint8], NDArray[np.bool_]]:
    """``img`` with a border and a hole of 0 in every band (nodata=0); the pixels kept."""
    img = img.copy()
    keep = np.ones(img.shape[:2], bool)
    keep[:17] = keep[:, -23:] = keep[60:70, 60:90] = False
    img[~keep] = 0
    return img, keep & ~(img == 0).all(axis=-1)


def _masked_store(
    tmp_path: Path, img: NDArray[np.uint8], k: int
) -> tuple[Path, NDArray, NDArray, NDArray[np.bool_]]:
    img, keep = _bordered(img)
    out = tmp_path / "masked.zarr"
    dq.quantize(img, out, n_colors=k, nodata=0, seed=0, chunks=128, quality=False)
    g = zarr.open_group(str(out), mode="r")
    assert store_attrs(g)["labels"]["nodata"] == 255
    labels = g["labels"][:]
    np.testing.assert_array_equal(labels == 255, ~keep)
    return out, labels, g["palette"][:], keep


@pytest.mark.parametrize("k", [3, 255])
def test_png_masked_pixels_are_transparent(tmp_path, k) -> None:
    img = photo("chelsea.png")
    out, labels, palette, keep = _masked_store(tmp_path, img, k)
    path = dq.export(out, tmp_path / "m.png")
    # One more palette entry, index K, transparent: K = 3 fits 2 bits per pixel.
    assert header_chunks(path.read_bytes())[b"IHDR"][8] == (2 if k == 3 else 8)
    with Image.open(path) as im:
        assert im.mode == "P"
        np.testing.assert_array_equal(np.asarray(im), np.where(keep, labels, k))
        rgba = np.asarray(im.convert("RGBA"))
    np.testing.assert_array_equal(rgba[..., 3], np.where(keep, 255, 0))
    np.testing.assert_array_equal(rgba[keep][:, :3], palette[labels[keep]])


def test_tiff_masked_pixels_are_the_files_nodata(tmp_path) -> None:
    rasterio = pytest.importorskip("rasterio")
    chelsea = photo("chelsea.png")
    img = np.hstack([chelsea, chelsea, chelsea])  # 300 x 1353: a pyramid of 2 levels
    out, labels, palette, keep = _masked_store(tmp_path, img, 6)
    path = dq.export(out, tmp_path / "m.tif")
    with tifffile.TiffFile(path) as tf:
        assert len(tf.pages) == 2
        for page in tf.pages:
            assert page.tags[GDAL_NODATA].value == "255"
        np.testing.assert_array_equal(tf.pages[0].asarray(), labels)  # the reserved index
    with rasterio.open(path) as ds:  # GDAL's reading: nodata and the dataset mask
        assert ds.nodata == 255
        np.testing.assert_array_equal(ds.dataset_mask(), np.where(keep, 255, 0))
        colormap = ds.colormap(1)
    assert [colormap[i][:3] for i in range(6)] == [tuple(c) for c in palette.tolist()]


def test_geotiff_masked_pixels_keep_the_inputs_dataset_mask(tmp_path) -> None:
    rasterio = pytest.importorskip("rasterio")
    from affine import Affine

    img, _ = _bordered(photo("chelsea.png"))
    src = tmp_path / "scene.tif"
    profile = {"driver": "GTiff", "width": img.shape[1], "height": img.shape[0], "count": 3}
    profile |= {"dtype": "uint8", "crs": "EPSG:32633", "nodata": 0}
    with rasterio.open(src, "w", transform=Affine(10, 0, 5e5, 0, -10, 5e6), **profile) as dst:
        dst.write(img.transpose(2, 0, 1))
    with rasterio.open(src) as ds:
        want = ds.dataset_mask()
    assert (want == 0).sum() > 10_000
    out = tmp_path / "scene.zarr"
    dq.quantize(src, out, n_colors=5, seed=0, quality=False)  # the GeoTIFF's own nodata
    path = dq.export(out, tmp_path / "scene-5.tif")
    with rasterio.open(path) as ds:
        assert ds.nodata == 255 and ds.crs.to_epsg() == 32633
        np.testing.assert_array_equal(ds.dataset_mask(), want)
        assert ds.colormap(1)[255][3] == 0
