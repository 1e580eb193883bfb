"""quantize(): real files in, real Zarr stores out, checked against NumPy references."""

from __future__ import annotations

import cv2
import dask.array as da
import numpy as np
import pytest
import zarr

import daskquant as dq
from daskquant._samples import photo as bundled_photo


def nearest(pixels: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Brute-force nearest center (ties to the lowest index), float64."""
    flat = pixels.reshape(-1, centers.shape[1]).astype(np.float64)
    d = ((flat[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    return d.argmin(axis=1).reshape(pixels.shape[: pixels.ndim - 1])


@pytest.fixture
def photo_png(tmp_path):
    rgb = bundled_photo("coffee.png")[100:300, 150:450]
    path = tmp_path / "coffee.png"
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path, rgb


def test_quantize_png_writes_complete_store_matching_reference(photo_png, tmp_path):
    path, rgb = photo_png
    out = tmp_path / "out.zarr"
    s = dq.quantize(path, out, n_colors=8, seed=3, chunks=96, max_iter=10)
    g = zarr.open_group(str(out), mode="r")
    assert g.attrs["complete"] is True
    centers = g["centers"][:]
    labels = g["labels"][:]
    assert labels.dtype == np.uint8 and labels.shape == rgb.shape[:2]
    # The file was read as RGB (OpenCV's BGR turned around) and every pixel got its nearest center.
    np.testing.assert_array_equal(labels, nearest(rgb, centers))
    np.testing.assert_array_equal(g["palette"][:], np.clip(np.rint(centers), 0, 255))
    np.testing.assert_array_equal(g["counts"][:], np.bincount(labels.ravel(), minlength=8))
    assert g["labels"].chunks == (96, 96)
    meta = g.attrs["daskquant"]
    assert meta["fit"]["seed"] == 3 and meta["fit"]["max_iter"] == 10
    assert meta["input"]["shape"] == [200, 300, 3]
    ref = ((rgb.reshape(-1, 3) - centers[labels.ravel()]) ** 2).sum()
    assert s.compactness == pytest.approx(ref, rel=1e-9)
    assert s.n_pixels == rgb.shape[0] * rgb.shape[1]


def test_write_image_carries_alpha(tmp_path):
    rgb = bundled_photo("astronaut.png")[:128, :160]
    alpha = np.where(np.arange(160) < 40, 0, 255).astype(np.uint8)[None, :].repeat(128, 0)
    rgba = np.dstack([rgb, alpha])
    out = tmp_path / "rgba.zarr"
    dq.quantize(rgba, out, n_colors=6, seed=0, chunks=64, write_image=True)
    g = zarr.open_group(str(out), mode="r")
    img = g["image"][:]
    np.testing.assert_array_equal(img[..., 3], alpha)
    np.testing.assert_array_equal(img[..., :3], g["palette"][:][g["labels"][:]])
    # Transparent pixels took no part in the fit.
    assert int(g["counts"][:].sum()) == int((alpha != 0).sum())


def test_zarr_input_is_read_lazily_and_quantized(tmp_path):
    rgb = bundled_photo("chelsea.png")
    src = zarr.create_array(
        str(tmp_path / "in.zarr"), shape=rgb.shape, chunks=(100, 150, 3), dtype=rgb.dtype
    )
    src[:] = rgb
    arr = dq.open_image(tmp_path / "in.zarr")
    assert isinstance(arr, da.Array) and arr.chunksize == (100, 150, 3)
    dq.quantize(tmp_path / "in.zarr", tmp_path / "out.zarr", n_colors=5, seed=1)
    g = zarr.open_group(str(tmp_path / "out.zarr"), mode="r")
    np.testing.assert_array_equal(g["labels"][:], nearest(rgb, g["centers"][:]))
    assert g["labels"].chunks == (100, 150)


def test_fixed_palette_skips_the_fit(tmp_path):
    rgb = bundled_photo("rocket.jpg")[::2, ::2]
    pal = np.array([[0, 0, 0], [255, 255, 255], [200, 60, 30], [30, 60, 200]], np.uint8)
    s = dq.quantize(rgb, tmp_path / "p.zarr", palette=pal)
    g = zarr.open_group(str(tmp_path / "p.zarr"), mode="r")
    np.testing.assert_array_equal(g["labels"][:], nearest(rgb, pal.astype(float)))
    np.testing.assert_array_equal(g["palette"][:], pal)
    assert s.method == "palette" and g.attrs["daskquant"]["fit"] is None


def test_stack_shares_one_palette(tmp_path):
    a, b = bundled_photo("astronaut.png")[:96, :96], bundled_photo("coffee.png")[:96, :96]
    s = dq.quantize(np.stack([a, b]), tmp_path / "s.zarr", n_colors=7, seed=0)
    g = zarr.open_group(str(tmp_path / "s.zarr"), mode="r")
    assert g["labels"].shape == (2, 96, 96)
    np.testing.assert_array_equal(g["labels"][1], nearest(b, g["centers"][:]))
    assert s.n_pixels == 2 * 96 * 96


def test_existing_output_is_refused_then_replaced_with_overwrite(photo_png, tmp_path):
    path, _ = photo_png
    out = tmp_path / "o.zarr"
    dq.quantize(path, out, n_colors=4, seed=0)
    with pytest.raises(dq.StoreError, match="already exists.*overwrite"):
        dq.quantize(path, out, n_colors=4, seed=0)
    dq.quantize(path, out, n_colors=3, seed=0, overwrite=True)
    assert zarr.open_group(str(out), mode="r")["palette"].shape == (3, 3)


def test_overwrite_never_deletes_something_that_is_not_a_store(photo_png, tmp_path):
    path, _ = photo_png
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "chapter1.tex").write_text("keep me")
    with pytest.raises(dq.StoreError, match="not a Zarr store"):
        dq.quantize(path, precious, n_colors=4, overwrite=True)
    assert (precious / "chapter1.tex").read_text() == "keep me"


@pytest.mark.parametrize(
    ("image", "kwargs", "error", "match"),
    [
        (np.zeros((8, 8, 3), np.uint8), {"n_colors": 2}, dq.TooFewColorsError, "1 distinct"),
        (np.full((8, 8, 3), np.nan, np.float32), {"n_colors": 2}, dq.InputError, "64 pixels"),
        (np.zeros((8, 8, 5), np.uint8), {"n_colors": 2}, dq.InputError, "5 channels"),
        (np.zeros((8, 8, 3), np.uint8), {"n_colors": 0}, dq.InvalidParameterError, "n_colors"),
    ],
)
def test_bad_input_writes_nothing(tmp_path, image, kwargs, error, match):
    out = tmp_path / "never.zarr"
    with pytest.raises(error, match=match):
        dq.quantize(image, out, **kwargs)
    assert not out.exists()


def test_unreadable_files_name_the_file(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(dq.InputError, match="broken.png"):
        dq.quantize(bad, tmp_path / "x.zarr")
    with pytest.raises(dq.InputError, match="no such file"):
        dq.quantize(tmp_path / "missing.png", tmp_path / "x.zarr")
    odd = tmp_path / "notes.xyz"
    odd.write_text("hello")
    with pytest.raises(dq.InputError, match="notes.xyz: unknown image format"):
        dq.quantize(odd, tmp_path / "y.zarr")
    assert not (tmp_path / "x.zarr").exists() and not (tmp_path / "y.zarr").exists()


def test_preview_shows_before_after_and_palette(photo_png, tmp_path):
    path, rgb = photo_png
    s = dq.quantize(path, tmp_path / "o.zarr", n_colors=5, seed=0, preview=tmp_path / "p.png")
    pic = cv2.imread(s.preview)
    assert pic.shape[1] == 2 * rgb.shape[1] and pic.shape[0] > rgb.shape[0]
    left = cv2.cvtColor(pic[: rgb.shape[0], : rgb.shape[1]], cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(left, rgb)
    right = cv2.cvtColor(pic[: rgb.shape[0], rgb.shape[1] :], cv2.COLOR_BGR2RGB)
    assert len(np.unique(right.reshape(-1, 3), axis=0)) <= 5
