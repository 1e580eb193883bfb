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
from daskquant._store._store import image_records, palette_indices, store_attrs


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
    dq.quantize(img, out, n_colors=k, nodata=0, seed=0, chunks=128, metrics=False)
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
    dq.quantize(src, out, n_colors=5, seed=0, metrics=False)  # the GeoTIFF's own nodata
    path = dq.export(out, tmp_path / "scene-5.tif")
    with rasterio.open(path) as ds:
        assert ds.nodata == 255 and ds.crs.to_epsg() == 32633
        np.testing.assert_array_equal(ds.dataset_mask(), want)
        assert ds.colormap(1)[255][3] == 0


def _rgba_file(tmp_path: Path) -> tuple[Path, NDArray[np.uint8]]:
    """An RGBA PNG of a photo, written by Pillow: a transparent corner (alpha 0), a band
    of alpha 128; the alpha as Pillow reads it back."""
    rgb = photo("chelsea.png")[:200, :300]
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[:50, :70] = 0
    alpha[120:140] = 128
    path = tmp_path / "rgba.png"
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(path)
    with Image.open(path) as im:
        return path, np.asarray(im)[..., 3]


@pytest.mark.parametrize("layout", ["labels", "write_image", "ome"])
def test_alpha_zero_pixels_are_transparent(tmp_path, layout) -> None:
    rasterio = pytest.importorskip("rasterio")
    src, alpha = _rgba_file(tmp_path)
    clear = alpha == 0
    out = tmp_path / "q.zarr"
    options = {"write_image": layout == "write_image", "ome": layout == "ome"}
    dq.quantize(src, out, n_colors=7, seed=0, chunks=64, metrics=False, **options)
    g = zarr.open_group(str(out), mode="r")
    assert ("alpha" in g) == (layout == "labels")  # else the stored image holds the alpha
    (record,) = image_records(g)
    labels = palette_indices(g, record)[:]  # an OME label image holds index + 1
    palette = g["palette"][:]
    with Image.open(dq.export(out, tmp_path / "q.png")) as im:
        assert im.mode == "P"
        np.testing.assert_array_equal(np.asarray(im), np.where(clear, 7, labels))
        rgba = np.asarray(im.convert("RGBA"))
    # Fully transparent where the input's alpha is 0; opaque elsewhere (one opacity per index).
    np.testing.assert_array_equal(rgba[..., 3], np.where(clear, 0, 255))
    np.testing.assert_array_equal(rgba[~clear][:, :3], palette[labels[~clear]])
    path = dq.export(out, tmp_path / "q.tif")
    with tifffile.TiffFile(path) as tf:
        assert tf.pages[0].tags[GDAL_NODATA].value == "255"
        np.testing.assert_array_equal(tf.pages[0].asarray(), np.where(clear, 255, labels))
    with rasterio.open(path) as ds:
        np.testing.assert_array_equal(ds.dataset_mask(), np.where(clear, 0, 255))


def test_opaque_alpha_spends_no_index(tmp_path) -> None:
    rgba = np.dstack([photo("chelsea.png")[:64, :64], np.full((64, 64), 255, np.uint8)])
    out = tmp_path / "o.zarr"
    dq.quantize(rgba, out, n_colors=4, seed=0, metrics=False)
    data = dq.export(out, tmp_path / "o.png").read_bytes()
    chunks = header_chunks(data)
    assert chunks[b"IHDR"][8] == 2 and b"tRNS" not in chunks  # 4 colors: 2 bits, opaque
    path = dq.export(out, tmp_path / "o.tif")
    with tifffile.TiffFile(path) as tf:
        assert GDAL_NODATA not in tf.pages[0].tags


def test_masked_and_transparent_pixels_together(tmp_path) -> None:
    img, keep = _bordered(photo("chelsea.png"))
    alpha = np.full(img.shape[:2], 255, np.uint8)
    alpha[100:150, 200:260] = 0
    out = tmp_path / "both.zarr"
    dq.quantize(np.dstack([img, alpha]), out, n_colors=5, nodata=0, seed=0, metrics=False)
    with Image.open(dq.export(out, tmp_path / "both.png")) as im:
        shown = np.asarray(im.convert("RGBA"))[..., 3]
    np.testing.assert_array_equal(shown, np.where(keep & (alpha != 0), 255, 0))


def test_256_colors_and_transparent_pixels(tmp_path) -> None:
    rng = np.random.default_rng(0)
    rgba = np.dstack([rng.integers(0, 256, (40, 50, 3), np.uint8), np.full((40, 50), 255)])
    rgba = rgba.astype(np.uint8)
    rgba[:5, :, 3] = 0
    out = tmp_path / "k256.zarr"
    dq.quantize(rgba, out, n_colors=256, seed=0, max_iter=2, metrics=False)
    with pytest.raises(dq.InvalidParameterError, match="256 and transparent pixels.*tif"):
        dq.export(out, tmp_path / "k256.png")
    path = dq.export(out, tmp_path / "k256.tif")  # no free 8-bit index: 16-bit, 65535
    labels = zarr.open_group(str(out), mode="r")["labels"][:]
    with tifffile.TiffFile(path) as tf:
        page = tf.pages[0]
        assert page.dtype == np.uint16 and page.tags[GDAL_NODATA].value == "65535"
        np.testing.assert_array_equal(page.asarray(), np.where(rgba[..., 3] == 0, 65535, labels))


def test_cli_quantize_nodata_then_export(tmp_path) -> None:
    from daskquant._cli._main import main

    img, keep = _bordered(photo("chelsea.png"))
    src = tmp_path / "in.png"
    Image.fromarray(img).save(src)
    store = tmp_path / "c.zarr"
    args = ["quantize", str(src), str(store), "-k", "6", "--nodata", "0,0,0", "--seed", "1"]
    assert main([*args, "-q"]) == 0
    assert main(["export", str(store), str(tmp_path / "c.png"), "-q"]) == 0
    with Image.open(tmp_path / "c.png") as im:
        assert "transparency" in im.info
        alpha = np.asarray(im.convert("RGBA"))[..., 3]
    np.testing.assert_array_equal(alpha, np.where(keep, 255, 0))
