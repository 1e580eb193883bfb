"""Images of N bands (1..64 channels, any numeric dtype): fits against a brute-force NumPy
Lloyd and scikit-learn's KMeans on a real photo stacked to 5 and 8 bands; which band is
alpha (``alpha=``), from TIFF files written with and without ExtraSamples; which bands the
preview and the exports show (``rgb_bands=``)."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import pytest
import tifffile
import zarr
from _oracles import assert_same_fit, brute_compactness, nearest
from conftest import PHOTOS
from numpy.typing import NDArray
from PIL import Image
from sklearn.cluster import KMeans

import daskquant as dq
from daskquant._cli._main import main
from daskquant._store._preview import render


def stacked(photo: NDArray[np.uint8], n: int, dtype: type) -> NDArray:
    """RGB plus derived bands (brightness, channel differences, inverses), (H, W, n)."""
    r, g, b = (photo[..., i].astype(np.float64) for i in range(3))
    derived = [(r + g + b) / 3, np.abs(r - g), np.abs(g - b), 255 - r, r * g / 255]
    bands = np.stack([r, g, b, *derived][:n], axis=-1)
    if dtype == np.uint16:  # the full 16-bit range, low bits not a copy of the high ones
        ramp = (np.arange(photo.shape[0]) % 251)[:, None, None]
        return np.clip(np.rint(bands * 257 - ramp), 0, 65535).astype(np.uint16)
    return (bands / 255).astype(np.float32)


def numpy_lloyd(pixels: NDArray, centers: NDArray, iterations: int) -> NDArray[np.float64]:
    """Plain Lloyd in float64: nearest center (ties to the lowest index), then the means."""
    x = pixels.reshape(-1, pixels.shape[-1]).astype(np.float64)
    c = np.asarray(centers, np.float64).copy()
    for _ in range(iterations):
        lab = nearest(x, c)
        for j in range(len(c)):
            if np.any(lab == j):
                c[j] = x[lab == j].mean(axis=0)
    return c


@pytest.mark.parametrize("n", [5, 8])
@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_pixel_fit_is_numpy_lloyd(astronaut: NDArray[np.uint8], n: int, dtype: type) -> None:
    image = stacked(astronaut, n, dtype)
    flat = image.reshape(-1, n)
    start = flat[np.random.default_rng(1).choice(len(flat), 8, replace=False)]
    fit = dq.fit_palette(
        image, 8, init=start, max_iter=6, epsilon=1e-12, chunks=64, method="pixels"
    )
    assert fit.method == "pixels"
    assert fit.palette.shape == (8, n) and fit.palette.dtype == dtype
    want = numpy_lloyd(flat, start, fit.n_iter)
    np.testing.assert_allclose(fit.centers, want, rtol=1e-9, atol=1e-9)
    assert fit.counts.sum() == fit.n_pixels == flat.shape[0]
    np.testing.assert_array_equal(fit.counts, np.bincount(nearest(flat, fit.palette), minlength=8))
    assert fit.compactness == pytest.approx(brute_compactness(flat, fit.palette), rel=1e-9)


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_compactness_against_scikit_learn(dtype: type) -> None:
    image = stacked(PHOTOS["coffee"](), 8, dtype)  # 128 x 128
    flat = image.reshape(-1, 8).astype(np.float64)
    fit = dq.fit_palette(image, 8, seed=0, attempts=2, max_iter=50, epsilon=1e-6)
    ours = brute_compactness(flat, fit.centers)
    best = KMeans(8, n_init=3, random_state=0, tol=1e-9, max_iter=100).fit(flat).inertia_
    # As good as scikit-learn's best of 3 local optima (which are a few percent apart) ...
    assert ours <= 1.03 * best
    # ... and a fixed point: scikit-learn's Lloyd started from our centers stays there.
    again = KMeans(8, init=fit.centers, n_init=1, max_iter=1, tol=0).fit(flat)
    scale = float(np.ptp(flat))
    np.testing.assert_allclose(again.cluster_centers_, fit.centers, atol=1e-4 * scale)


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_same_fit_for_every_chunking(astronaut: NDArray[np.uint8], dtype: type) -> None:
    image = stacked(astronaut, 8, dtype)
    fits = [dq.fit_palette(image, 6, seed=3, chunks=c, max_iter=5) for c in (200, 64, (37, 150))]
    fits.append(dq.fit_palette(da.from_array(image, chunks=(50, 200, 8)), 6, seed=3, max_iter=5))
    for other in fits[1:]:
        if dtype == np.uint16:  # integer sums: bit for bit
            assert_same_fit(fits[0], other)
        else:  # float64 sums in another order: the same fit, compactness to rounding
            np.testing.assert_array_equal(fits[0].centers, other.centers)
            np.testing.assert_array_equal(fits[0].counts, other.counts)
            assert fits[0].n_iter == other.n_iter
            assert fits[0].compactness == pytest.approx(other.compactness, rel=1e-12)


def test_quantize_store_and_labels_of_eight_bands(
    astronaut: NDArray[np.uint8], tmp_path: Path
) -> None:
    image = stacked(astronaut, 8, np.uint16)
    store = tmp_path / "bands.zarr"
    summary = dq.quantize(image, store, n_colors=8, seed=0, max_iter=5)
    group = zarr.open_group(store, mode="r")
    palette = np.asarray(group["palette"][...])
    assert palette.shape == (8, 8) and palette.dtype == np.uint16
    labels = np.asarray(group["labels"][...])
    np.testing.assert_array_equal(labels, nearest(image, palette))
    counts = np.asarray(group["counts"][...])
    np.testing.assert_array_equal(counts, np.bincount(labels.ravel(), minlength=8))
    assert np.asarray(summary.palette).shape == (8, 8)
    lazy = dq.apply_palette(image, palette, chunks=77)
    np.testing.assert_array_equal(lazy.compute(), labels)


def test_pinned_and_fixed_palettes_of_eight_bands(
    astronaut: NDArray[np.uint8], tmp_path: Path
) -> None:
    image = stacked(astronaut, 8, np.uint16)
    pinned = image[[10, 150], [20, 100]]  # two of the image's own pixels, (2, 8)
    fit = dq.fit_palette(image, 5, seed=0, max_iter=4, pin=pinned)
    np.testing.assert_array_equal(fit.palette[:2], pinned)
    with pytest.raises(dq.InvalidParameterError, match=r"expected \(K, 8\) colors"):
        dq.fit_palette(image, 5, pin=pinned[:, :3])
    summary = dq.quantize(image, tmp_path / "f.zarr", palette=fit.palette)
    labels = np.asarray(zarr.open_group(tmp_path / "f.zarr", mode="r")["labels"][...])
    np.testing.assert_array_equal(labels, nearest(image, fit.palette))
    np.testing.assert_array_equal(np.asarray(summary.palette), fit.palette)


def test_quality_of_bands_has_no_color_difference(astronaut: NDArray[np.uint8]) -> None:
    image = stacked(astronaut, 5, np.uint16)
    fit = dq.fit_palette(image, 4, seed=0, max_iter=3)
    labels = nearest(image, fit.palette)
    q = dq.quality(image, labels, fit.palette)
    diff = image.astype(np.float64) - fit.palette[labels].astype(np.float64)
    assert q["mse"] == pytest.approx(float((diff**2).mean()), rel=1e-12)
    assert np.isnan(q["ciede2000"])  # CIEDE2000 is for gray and RGB only


def test_sixty_four_bands_and_no_more() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 50, (12, 10, 64), dtype=np.uint8)
    fit = dq.fit_palette(image, 3, seed=0, max_iter=2)
    assert fit.palette.shape == (3, 64)
    with pytest.raises(dq.InputError, match="65 channels.*1 to 64 bands"):
        dq.fit_palette(np.zeros((4, 4, 65), np.uint8), 2)


# --- alpha: which band is alpha, from the file's own metadata or as given ---


def _rgb_nir(astronaut: NDArray[np.uint8]) -> NDArray[np.uint16]:
    """RGB + near-infrared, uint16, with NIR 0 on a third of the pixels (as alpha, they
    would all be transparent)."""
    image = stacked(astronaut, 4, np.uint16)
    image[..., 3] = np.where(np.random.default_rng(5).random(image.shape[:2]) < 0.33, 0, 40000)
    return image


def _without_extrasamples(path: Path) -> None:
    """Rename the ExtraSamples tag of a TIFF to a private one (a writer that omits it)."""
    with tifffile.TiffFile(path) as tf:
        offset = tf.pages[0].tags["ExtraSamples"].offset
    raw = bytearray(path.read_bytes())
    raw[offset : offset + 2] = struct.pack("<H", 65000)
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("tagged", [True, False])
def test_tiff_fourth_band_without_alpha_mark_is_data(
    astronaut: NDArray[np.uint8], tmp_path: Path, tagged: bool
) -> None:
    image = _rgb_nir(astronaut)
    path = tmp_path / "rgbn.tif"
    tifffile.imwrite(path, image, photometric="rgb", extrasamples=[0], tile=(64, 64))
    if not tagged:
        _without_extrasamples(path)
    with tifffile.TiffFile(path) as tf:  # what the file says, read back by tifffile
        assert [int(e) for e in tf.pages[0].extrasamples] == ([0] if tagged else [])
    summary = dq.quantize(path, tmp_path / "o.zarr", n_colors=6, seed=1, max_iter=4)
    assert summary.n_pixels == image.shape[0] * image.shape[1]  # no pixel lost to NIR = 0
    want = dq.fit_palette(image, 6, seed=1, max_iter=4, alpha=None)
    np.testing.assert_array_equal(np.asarray(summary.palette), want.palette)
    group = zarr.open_group(tmp_path / "o.zarr", mode="r")
    assert group.attrs["daskquant"]["input"]["alpha"] is None
    labels = np.asarray(group["labels"][...])
    np.testing.assert_array_equal(labels, nearest(image, want.palette))


def test_tiff_extra_sample_marked_alpha_is_alpha(
    astronaut: NDArray[np.uint8], tmp_path: Path
) -> None:
    image = _rgb_nir(astronaut)
    path = tmp_path / "rgba.tif"
    tifffile.imwrite(path, image, photometric="rgb", extrasamples=[2], tile=(64, 64))
    summary = dq.quantize(path, tmp_path / "o.zarr", n_colors=6, seed=1, max_iter=4)
    assert summary.n_pixels == int((image[..., 3] != 0).sum())
    assert np.asarray(summary.palette).shape == (6, 3)
    want = dq.fit_palette(image, 6, seed=1, max_iter=4)  # "auto": 4 channels are RGBA
    np.testing.assert_array_equal(np.asarray(summary.palette), want.palette)
    # Told otherwise, the 4th sample is a band like the others.
    told = dq.quantize(path, tmp_path / "told.zarr", n_colors=6, seed=1, max_iter=4, alpha=None)
    assert told.n_pixels == image.shape[0] * image.shape[1]
    assert np.asarray(told.palette).shape == (6, 4)


def test_multispectral_minisblack_tiff_reads_every_band(
    astronaut: NDArray[np.uint8], tmp_path: Path
) -> None:
    image = stacked(astronaut, 8, np.uint16)
    path = tmp_path / "ms.tif"
    tifffile.imwrite(
        path,
        np.moveaxis(image, -1, 0),
        photometric="minisblack",
        planarconfig="separate",
        tile=(64, 64),
    )
    np.testing.assert_array_equal(dq.open_image(path).compute(), image)
    summary = dq.quantize(path, tmp_path / "o.zarr", n_colors=5, seed=2, max_iter=3)
    want = dq.fit_palette(image, 5, seed=2, max_iter=3)
    np.testing.assert_array_equal(np.asarray(summary.palette), want.palette)


def test_array_alpha_auto_none_and_index(astronaut: NDArray[np.uint8]) -> None:
    image = _rgb_nir(astronaut)
    kept = int((image[..., 3] != 0).sum())
    auto = dq.fit_palette(image, 4, seed=0, max_iter=3)  # documented: 4 channels = RGBA
    assert auto.n_pixels == kept and auto.palette.shape == (4, 3)
    none = dq.fit_palette(image, 4, seed=0, max_iter=3, alpha=None)
    assert none.n_pixels == image.shape[0] * image.shape[1] and none.palette.shape == (4, 4)
    # alpha=0: band 0 is alpha, the others are clustered in their order
    moved = dq.fit_palette(image, 4, seed=0, max_iter=3, alpha=0)
    assert_same_fit(moved, dq.fit_palette(image[..., [1, 2, 3, 0]], 4, seed=0, max_iter=3))
    labels = dq.apply_palette(image, moved.palette, alpha=0).compute()
    np.testing.assert_array_equal(labels, nearest(image[..., 1:], moved.palette))
    five = np.concatenate([image, image[..., :1]], axis=-1)  # 5 bands: no alpha by default
    assert dq.fit_palette(five, 3, seed=0, max_iter=2).palette.shape == (3, 5)


@pytest.mark.parametrize(
    ("alpha", "words"),
    [(4, "alpha=4: the image has 4 channel"), (-5, "alpha=-5"), ("last", "alpha must be")],
)
def test_bad_alpha_is_refused(alpha: object, words: str) -> None:
    with pytest.raises(dq.InvalidParameterError, match=words):
        dq.fit_palette(np.zeros((4, 4, 4), np.uint8), 2, alpha=alpha)  # type: ignore[arg-type]


def test_cli_alpha_none(astronaut: NDArray[np.uint8], tmp_path: Path, local_cluster: Any) -> None:
    image = _rgb_nir(astronaut)
    src = tmp_path / "rgbn.zarr"
    zarr.create_array(src, data=image, chunks=(100, 100, 4))
    out = tmp_path / "o.zarr"
    argv = ["quantize", str(src), str(out), "-k", "4", "--seed", "0", "--max-iter", "3", "-q"]
    on = ["--scheduler", local_cluster.scheduler.address]
    assert main([*argv, "--alpha", "none", *on]) == 0
    palette = np.asarray(zarr.open_group(out, mode="r")["palette"][...])
    want = dq.fit_palette(image, 4, seed=0, max_iter=3, alpha=None)
    np.testing.assert_array_equal(palette, want.palette)
    assert main([*argv[:2], str(tmp_path / "x.zarr"), *argv[3:], "--alpha", "two"]) == 2


# --- rgb_bands: which three bands the preview and the exports show ---


def _png_pixels(path: Path) -> NDArray[np.uint8]:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def test_preview_of_eight_bands_shows_the_chosen_bands(
    astronaut: NDArray[np.uint8], tmp_path: Path
) -> None:
    image = stacked(astronaut, 8, np.uint16)
    store, shown = tmp_path / "b.zarr", tmp_path / "q.png"
    dq.quantize(image, store, n_colors=5, seed=0, max_iter=3, preview=shown, rgb_bands=(4, 2, 1))
    group = zarr.open_group(store, mode="r")
    palette = np.asarray(group["palette"][...])
    labels = np.asarray(group["labels"][...])
    counts = np.asarray(group["counts"][...])
    # The picture of the 3-band image of those bands with those columns of the palette.
    want = render(image[..., [4, 2, 1]], labels, palette[:, [4, 2, 1]], counts)
    np.testing.assert_array_equal(_png_pixels(shown), want)
    for bands in [(4, 2, 1), (0, 1, 2)]:  # from the store alone (an array has no "before")
        written = dq.preview(store, tmp_path / f"p{bands[0]}.png", rgb_bands=bands)
        want = render(None, labels, palette[:, list(bands)], counts)
        np.testing.assert_array_equal(_png_pixels(written), want)
    default = _png_pixels(dq.preview(store, tmp_path / "d.png"))
    np.testing.assert_array_equal(default, _png_pixels(tmp_path / "p0.png"))
    with pytest.raises(dq.InvalidParameterError, match="rgb_bands must be three band"):
        dq.preview(store, tmp_path / "x.png", rgb_bands=(0, 1, 8))


def test_exports_show_the_chosen_bands(astronaut: NDArray[np.uint8], tmp_path: Path) -> None:
    image = stacked(astronaut, 8, np.uint16)
    store = tmp_path / "b.zarr"
    dq.quantize(image, store, n_colors=5, seed=0, max_iter=3)
    palette = np.asarray(zarr.open_group(store, mode="r")["palette"][...])
    want = np.rint(palette[:, [5, 3, 0]] / 257).astype(np.uint8)  # 16-bit v shown as v / 257
    png = dq.export(store, tmp_path / "b.png", rgb_bands="5,3,0")
    with Image.open(png) as im:
        colors = np.asarray(im.getpalette()[: 3 * 5], np.uint8).reshape(5, 3)
    np.testing.assert_array_equal(colors, want)
    tif = dq.export(store, tmp_path / "b.tif", rgb_bands=(5, 3, 0))
    with tifffile.TiffFile(tif) as tf:
        colormap = np.asarray(tf.pages[0].colormap)[:, :5].T
    np.testing.assert_array_equal(colormap, want.astype(np.uint16) * 257)
    # Two bands (no alpha): shown as gray, the first band.
    two = stacked(astronaut, 2, np.uint16)
    dq.quantize(two, tmp_path / "two.zarr", n_colors=3, seed=0, max_iter=2, alpha=None)
    pal2 = np.asarray(zarr.open_group(tmp_path / "two.zarr", mode="r")["palette"][...])
    assert pal2.shape == (3, 2)
    gray = dq.export(tmp_path / "two.zarr", tmp_path / "two.png")
    with Image.open(gray) as im:
        colors = np.asarray(im.getpalette()[:9], np.uint8).reshape(3, 3)
    np.testing.assert_array_equal(colors, np.rint(pal2[:, [0, 0, 0]] / 257).astype(np.uint8))


def test_nodata_border_of_five_bands(astronaut: NDArray[np.uint8], tmp_path: Path) -> None:
    image = stacked(astronaut[:96, :96], 5, np.uint16)
    image[:20] = 0  # a nodata border, every band 0
    nodata = (image == 0).all(axis=-1)  # the border, and any pixel 0 in every band
    summary = dq.quantize(image, tmp_path / "n.zarr", n_colors=4, seed=0, max_iter=3, nodata=0)
    group = zarr.open_group(tmp_path / "n.zarr", mode="r")
    labels, palette = np.asarray(group["labels"][...]), np.asarray(group["palette"][...])
    assert summary.n_pixels == int((~nodata).sum()) and palette.shape == (4, 5)
    assert (labels[nodata] == 255).all()
    np.testing.assert_array_equal(labels[~nodata], nearest(image[~nodata], palette))
    counts = np.asarray(group["counts"][...])
    np.testing.assert_array_equal(counts, np.bincount(labels[~nodata], minlength=4))
