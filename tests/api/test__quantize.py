"""quantize(): real files in, real Zarr stores out, checked against NumPy references."""

from __future__ import annotations

import cv2
import dask.array as da
import numpy as np
import pytest
import tifffile
import zarr
from _oracles import nearest

import daskquant as dq
from daskquant._cli._samples import photo as bundled_photo
from daskquant._store._preview import SWATCH_HEIGHT


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
    # The file was read as RGB (OpenCV's BGR turned around) and every pixel got its nearest
    # stored palette color.
    palette = g["palette"][:]
    np.testing.assert_array_equal(palette, np.clip(np.rint(centers), 0, 255))
    np.testing.assert_array_equal(labels, nearest(rgb, palette))
    np.testing.assert_array_equal(g["counts"][:], np.bincount(labels.ravel(), minlength=8))
    assert g["labels"].chunks == (96, 96)
    meta = g.attrs["daskquant"]
    assert meta["fit"]["seed"] == 3 and meta["fit"]["max_iter"] == 10
    assert meta["input"]["shape"] == [200, 300, 3]
    ref = ((rgb.reshape(-1, 3) - palette[labels.ravel()].astype(float)) ** 2).sum()
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
    # Small Zarr chunks are grouped, whole, up to the default chunk size (here: all).
    assert isinstance(arr, da.Array) and arr.chunksize == (300, 451, 3)
    assert dq.open_image(tmp_path / "in.zarr", chunks=(100, 150)).chunksize == (100, 150, 3)
    dq.quantize(tmp_path / "in.zarr", tmp_path / "out.zarr", n_colors=5, seed=1, chunks=(100, 150))
    g = zarr.open_group(str(tmp_path / "out.zarr"), mode="r")
    np.testing.assert_array_equal(g["labels"][:], nearest(rgb, g["palette"][:]))
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
    np.testing.assert_array_equal(g["labels"][1], nearest(b, g["palette"][:]))
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


def test_preview_shows_before_after_and_palette(photo_png, tmp_path):
    path, rgb = photo_png
    s = dq.quantize(path, tmp_path / "o.zarr", n_colors=5, seed=0, preview=tmp_path / "p.png")
    pic = cv2.imread(s.preview)
    assert pic.shape[1] == 2 * rgb.shape[1] and pic.shape[0] > rgb.shape[0]
    left = cv2.cvtColor(pic[: rgb.shape[0], : rgb.shape[1]], cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(left, rgb)
    right = cv2.cvtColor(pic[: rgb.shape[0], rgb.shape[1] :], cv2.COLOR_BGR2RGB)
    assert len(np.unique(right.reshape(-1, 3), axis=0)) <= 5


# -- previews from finished stores ----------------------------------------------------------


def _swatch_widths(pic: np.ndarray, colors: np.ndarray) -> list[int]:
    top = cv2.cvtColor(pic[-SWATCH_HEIGHT:][:1], cv2.COLOR_BGR2RGB)[0]  # no text on row 0
    return [int((top == c).all(axis=1).sum()) for c in colors]


def test_preview_from_a_store_and_without_its_input(photo_png, tmp_path):
    path, rgb = photo_png
    out = tmp_path / "o.zarr"
    dq.quantize(path, out, n_colors=4, seed=0)
    g = zarr.open_group(str(out), mode="r")
    labels, palette, counts = g["labels"][:], g["palette"][:], g["counts"][:]
    pic = cv2.imread(str(dq.preview(out, tmp_path / "p.png", max_side=100)))
    step = 3  # ceil(300 / 100)
    small = labels[::step, ::step]
    h, w = small.shape
    assert pic.shape == (h + SWATCH_HEIGHT, 2 * w, 3)
    np.testing.assert_array_equal(
        cv2.cvtColor(pic[:h, :w], cv2.COLOR_BGR2RGB), rgb[::step, ::step]
    )
    np.testing.assert_array_equal(cv2.cvtColor(pic[:h, w:], cv2.COLOR_BGR2RGB), palette[small])
    # Each color is as wide as its share of the pixels.
    widths = _swatch_widths(pic, palette)
    np.testing.assert_allclose(widths, counts / counts.sum() * 2 * w, atol=1)
    path.unlink()  # the input is gone: the picture shows the result alone
    pic = cv2.imread(str(dq.preview(out, tmp_path / "q.png", max_side=100)))
    assert pic.shape == (h + SWATCH_HEIGHT, w, 3)
    np.testing.assert_array_equal(cv2.cvtColor(pic[:h], cv2.COLOR_BGR2RGB), palette[small])


def test_preview_takes_the_before_from_the_input_pyramid(tmp_path):
    rgb = bundled_photo("astronaut.png")
    scan = tmp_path / "scan.tif"
    with tifffile.TiffWriter(scan) as tw:
        opts = {"tile": (64, 64), "compression": "jpeg", "photometric": "rgb"}
        tw.write(rgb, subifds=2, **opts)
        tw.write(rgb[::2, ::2], subfiletype=1, **opts)
        tw.write(rgb[::4, ::4], subfiletype=1, **opts)
    out = tmp_path / "scan.zarr"
    dq.quantize(scan, out, n_colors=6, seed=0, ome=True)
    pic = cv2.imread(str(dq.preview(out, tmp_path / "p.png", max_side=128)))
    before = cv2.cvtColor(pic[:128, :128], cv2.COLOR_BGR2RGB)
    # Level 2 of the file (its own JPEG tiles), not the full resolution strided.
    np.testing.assert_array_equal(before, tifffile.imread(scan, level=2))
    g = zarr.open_group(str(out), mode="r")
    labels = g["labels/scan/0"][:] - 1  # the label image holds palette index + 1
    after = cv2.cvtColor(pic[:128, 128:], cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(after, g["palette"][:][labels[::4, ::4]])


def test_preview_of_a_collection_needs_a_name(tmp_path):
    a, b = bundled_photo("astronaut.png")[:60, :80], bundled_photo("coffee.png")[:40, :50]
    files = [tmp_path / "a.png", tmp_path / "b.png"]
    for f, im in zip(files, (a, b), strict=True):
        cv2.imwrite(str(f), cv2.cvtColor(im, cv2.COLOR_RGB2BGR))
    s = dq.quantize(files, tmp_path / "c.zarr", n_colors=3, seed=0, preview=tmp_path / "c.png")
    assert cv2.imread(s.preview).shape[:2] == (60 + SWATCH_HEIGHT, 160)  # the first image
    with pytest.raises(dq.InvalidParameterError, match="holds 2 images.*a, b"):
        dq.preview(tmp_path / "c.zarr", tmp_path / "x.png")
    pic = cv2.imread(str(dq.preview(tmp_path / "c.zarr", tmp_path / "x.png", name="b")))
    np.testing.assert_array_equal(cv2.cvtColor(pic[:40, :50], cv2.COLOR_BGR2RGB), b)


def test_gray_file_preview_shows_its_input(tmp_path):
    gray = cv2.cvtColor(bundled_photo("coffee.png")[:90, :120], cv2.COLOR_RGB2GRAY)
    path = tmp_path / "gray.png"
    cv2.imwrite(str(path), gray)
    out = tmp_path / "g.zarr"
    dq.quantize(path, out, n_colors=3, seed=0)
    pic = cv2.imread(str(dq.preview(out, tmp_path / "p.png")))
    assert pic.shape[1] == 240
    np.testing.assert_array_equal(pic[:90, :120], np.repeat(gray[..., None], 3, axis=2))


def test_quality_is_the_deprecated_name_of_metrics(tmp_path):
    rgb = bundled_photo("astronaut.png")[:64, :64]
    with pytest.warns(FutureWarning, match="quality= is deprecated: use metrics="):
        old = dq.quantize(rgb, tmp_path / "old.zarr", palette="gray:4", quality=True)
    new = dq.quantize(rgb, tmp_path / "new.zarr", palette="gray:4", metrics=True)
    assert old.extra["quality"] == new.extra["quality"]
    with pytest.warns(FutureWarning):
        off = dq.quantize(rgb, tmp_path / "off.zarr", palette="gray:4", quality=False)
    assert "quality" not in off.extra


def test_palette_source_dither_and_metrics_through_quantize(tmp_path):
    rgb = bundled_photo("astronaut.png")[:160, :200]
    gray8 = np.linspace(0, 255, 8).round()
    out = []
    for i, chunks in enumerate((64, (100, 37))):
        s = dq.quantize(
            rgb,
            tmp_path / f"d{i}.zarr",
            palette="gray:8",
            dither="bayer4",
            chunks=chunks,
            metrics=True,
        )
        g = zarr.open_group(str(tmp_path / f"d{i}.zarr"), mode="r")
        out.append(g["labels"][:])
        np.testing.assert_array_equal(g["palette"][:, 0], gray8)
        assert g.attrs["daskquant"]["labels"] == {"colorspace": "rgb", "dither": "bayer4"}
        # PSNR of the written result, computed here from the store against the input.
        err = rgb.astype(float) - g["palette"][:][g["labels"][:]]
        psnr = 10 * np.log10(255**2 / np.mean(err**2))
        assert s.extra["quality"]["psnr"] == pytest.approx(psnr, rel=1e-9)
        assert np.bincount(out[-1].ravel(), minlength=8).tolist() == s.counts
    # Ordered dithering depends only on the position: the same labels for any chunking,
    # and not the undithered nearest-color labels.
    np.testing.assert_array_equal(out[0], out[1])
    assert (out[0] != nearest(rgb, np.repeat(gray8[:, None], 3, axis=1))).any()


def test_lab_fit_through_quantize_records_its_colorspace(tmp_path):
    rgb = bundled_photo("coffee.png")[::4, ::4]
    s = dq.quantize(rgb, tmp_path / "lab.zarr", n_colors=6, seed=0, colorspace="lab")
    g = zarr.open_group(str(tmp_path / "lab.zarr"), mode="r")
    assert g.attrs["daskquant"]["labels"]["colorspace"] == "lab"
    ref = dq.apply_palette(rgb, g["centers"][:], colorspace="lab").compute()
    np.testing.assert_array_equal(g["labels"][:], ref)
    assert s.as_dict()["compactness"] is not None


def test_integer_valued_float_image_gives_the_8bit_store(photo_png, tmp_path):
    # np.float32(img) is fitted as img itself: same centers and fit record; its palette is
    # the float centers (not rounded), and its labels are the nearest of those.
    _, rgb = photo_png
    stores = {}
    for name, img in (("u8", rgb), ("f32", rgb.astype(np.float32))):
        dq.quantize(img, tmp_path / f"{name}.zarr", n_colors=8, seed=2, chunks=96)
        stores[name] = zarr.open_group(str(tmp_path / f"{name}.zarr"), mode="r")
    u8, f32 = stores["u8"], stores["f32"]
    np.testing.assert_array_equal(f32["centers"][:], u8["centers"][:])
    assert f32["palette"].dtype == np.float32
    np.testing.assert_array_equal(f32["palette"][:], u8["centers"][:].astype(np.float32))
    brute = nearest(rgb, f32["palette"][:].astype(np.float64))
    np.testing.assert_array_equal(f32["labels"][:], brute)
    np.testing.assert_array_equal(f32["counts"][:], np.bincount(brute.ravel(), minlength=8))
    fit_u8, fit_f32 = u8.attrs["daskquant"]["fit"], f32.attrs["daskquant"]["fit"]
    assert fit_f32["method"] == "histogram"
    assert fit_f32.pop("compactness") != fit_u8.pop("compactness")  # of its own palette
    assert fit_f32 == fit_u8
