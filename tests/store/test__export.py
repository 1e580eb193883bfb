"""export(): paletted PNG and TIFF files, opened with OpenCV, tifffile and Pillow, compared
with the store's labels and palette."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest
import tifffile
import zarr
from PIL import Image

import daskquant as dq
from daskquant._cli._samples import photo
from daskquant._io._png import header_chunks


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A finished store of a 300 x 451 photo at K = 9, chunks of 128."""
    out = tmp_path_factory.mktemp("export") / "cat.zarr"
    dq.quantize(photo("chelsea.png"), out, n_colors=9, seed=0, chunks=128)
    g = zarr.open_group(str(out), mode="r")
    return out, g["labels"][:], g["palette"][:]


def test_png_is_4bit_indexed_with_the_palette_inside(store, tmp_path):
    out, labels, palette = store
    path = dq.export(out, tmp_path / "cat.png")  # K = 9: 4 bits per pixel, odd width
    assert header_chunks(path.read_bytes())[b"IHDR"][8] == 4
    with Image.open(path) as im:
        assert im.mode == "P" and im.size == (451, 300)
        np.testing.assert_array_equal(np.asarray(im), labels)
        pil_palette = np.array(im.getpalette()[: 3 * 9]).reshape(9, 3)
    np.testing.assert_array_equal(pil_palette, palette)
    # OpenCV shows the colors: every pixel is its palette color (OpenCV gives BGR).
    shown = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(shown, palette[labels])


def test_tiff_is_tiled_compressed_with_a_colormap(store, tmp_path):
    out, labels, palette = store
    path = dq.export(out, tmp_path / "cat.tif")
    with tifffile.TiffFile(path) as tf:
        page = tf.pages[0]
        assert page.is_tiled and page.photometric == tifffile.PHOTOMETRIC.PALETTE
        assert page.compression == tifffile.COMPRESSION.ADOBE_DEFLATE
        np.testing.assert_array_equal(page.asarray(), labels)
        np.testing.assert_array_equal(page.colormap[:, :9].T, palette.astype(np.uint16) * 257)
    with Image.open(path) as im:
        assert im.mode == "P"
        np.testing.assert_array_equal(np.asarray(im.convert("RGB")), palette[labels])
    shown = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(shown, palette[labels])
    # And daskquant reads its own export back as colors.
    np.testing.assert_array_equal(dq.open_image(path).compute(), palette[labels])


def test_more_than_256_colors_go_to_tiff_only(tmp_path):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    out = tmp_path / "many.zarr"
    dq.quantize(img, out, n_colors=300, seed=0, max_iter=2)
    with pytest.raises(dq.InvalidParameterError, match="at most 256 colors.*tif"):
        dq.export(out, tmp_path / "many.png")
    assert not (tmp_path / "many.png").exists()
    path = dq.export(out, tmp_path / "many.tif")
    g = zarr.open_group(str(out), mode="r")
    with tifffile.TiffFile(path) as tf:
        assert tf.pages[0].dtype == np.uint16
        np.testing.assert_array_equal(tf.asarray(), g["labels"][:])


def test_16bit_palette_is_scaled_to_8bit_colors(tmp_path):
    img = photo("astronaut.png")[:64, :64].astype(np.uint16) * 257
    out = tmp_path / "deep.zarr"
    dq.quantize(img, out, n_colors=4, seed=0)
    palette = zarr.open_group(str(out), mode="r")["palette"][:]
    with Image.open(dq.export(out, tmp_path / "deep.png")) as im:
        got = np.array(im.getpalette()[:12]).reshape(4, 3)
    np.testing.assert_array_equal(got, np.rint(palette / 257))


def test_incomplete_store_is_refused(store, tmp_path):
    out, _, _ = store
    broken = tmp_path / "broken.zarr"
    shutil.copytree(out, broken)
    zarr.open_group(str(broken), mode="r+").attrs["complete"] = False
    with pytest.raises(dq.StoreError, match="broken.zarr: the store is incomplete") as caught:
        dq.export(broken, tmp_path / "x.png")
    assert str(caught.value).endswith("with resume=True")  # a parameter, not a flag
    with pytest.raises(dq.StoreError, match="incomplete"):
        dq.preview(broken, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_existing_file_and_unknown_suffix(store, tmp_path):
    out, labels, _ = store
    target = tmp_path / "a.png"
    target.write_bytes(b"precious")
    with pytest.raises(dq.StoreError, match="already exists"):
        dq.export(out, target)
    assert target.read_bytes() == b"precious"
    dq.export(out, target, overwrite=True)
    with Image.open(target) as im:
        np.testing.assert_array_equal(np.asarray(im), labels)
    with pytest.raises(dq.InvalidParameterError, match=".jpg is neither"):
        dq.export(out, tmp_path / "a.jpg")
    with pytest.raises(dq.StoreError, match="no such store"):
        dq.export(tmp_path / "missing.zarr", tmp_path / "b.png")
