"""Labels point at the nearest color of the palette as stored (rounded to the image's dtype),
on every path, against brute force on real photos (``skimage.data``)."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import zarr
from _oracles import brute_compactness, nearest

import daskquant as dq
from daskquant._api import _labels
from daskquant._color._dither import dither_spread, floyd_steinberg, ordered_dither
from daskquant._color._spaces import to_space

PHOTOS = {
    "astronaut": lambda: skimage.data.astronaut()[60:188, 150:278],
    "coffee": lambda: skimage.data.coffee()[100:228, 200:328],
    "chelsea": lambda: skimage.data.chelsea()[50:178, 150:278],
}


def _brute(pixels: np.ndarray, palette: np.ndarray, space: str) -> np.ndarray:
    """Nearest stored palette color, measured in ``space`` (both sides converted)."""
    if space == "rgb":
        return nearest(pixels, palette)
    return nearest(to_space(pixels, space), to_space(palette, space))


@pytest.mark.parametrize("name", sorted(PHOTOS))
@pytest.mark.parametrize(
    ("k", "method", "space"),
    [
        (5, "histogram", "rgb"),
        (64, "histogram", "rgb"),
        (16, "pixels", "rgb"),
        (16, "histogram", "lab"),
        (24, "histogram", "din99"),
        (16, "pixels", "din99"),
    ],
)
def test_quantize_labels_nearest_stored_palette(
    tmp_path, name: str, k: int, method: str, space: str
) -> None:
    rgb = PHOTOS[name]()
    out = tmp_path / "out.zarr"
    s = dq.quantize(
        rgb, out, n_colors=k, seed=1, max_iter=6, chunks=64, method=method, colorspace=space
    )
    g = zarr.open_group(str(out), mode="r")
    palette, labels = g["palette"][:], g["labels"][:]
    assert palette.dtype == np.uint8
    np.testing.assert_array_equal(labels, _brute(rgb, palette, space))
    np.testing.assert_array_equal(g["counts"][:], np.bincount(labels.ravel(), minlength=k))
    if space == "rgb":
        assert s.compactness == pytest.approx(brute_compactness(rgb, palette), rel=1e-12)


def test_fit_counts_and_compactness_are_those_of_the_stored_palette() -> None:
    rgb = PHOTOS["coffee"]()
    for method in ("histogram", "pixels"):
        fit = dq.fit_palette(rgb, 32, seed=2, max_iter=8, method=method)
        labels = nearest(rgb, fit.palette)
        np.testing.assert_array_equal(fit.counts, np.bincount(labels.ravel(), minlength=32))
        assert fit.compactness == pytest.approx(brute_compactness(rgb, fit.palette), rel=1e-12)
        # The float centers are not what is stored, and some pixels are nearer to another
        # center than to the one of their stored color: the case this is about.
        assert (fit.centers != fit.palette).any()


@pytest.mark.parametrize("dither", ["none", "bayer4", "floyd-steinberg"])
@pytest.mark.parametrize("space", ["rgb", "lab"])
def test_fractional_palette_labels_as_its_rounded_colors(dither: str, space: str) -> None:
    # Every path labels against the colors stored: a palette of fractional values gives the
    # labels of its rounded colors, dithered or not, in any color space.
    rgb = PHOTOS["astronaut"]()
    fractional = dq.fit_palette(rgb, 12, seed=0, max_iter=4).centers
    rounded = np.rint(fractional).astype(np.uint8)
    got = dq.apply_palette(rgb, fractional, colorspace=space, dither=dither).compute()
    want = dq.apply_palette(rgb, rounded, colorspace=space, dither=dither).compute()
    np.testing.assert_array_equal(got, want)
    if dither == "none":
        np.testing.assert_array_equal(got, _brute(rgb, rounded, space))


@pytest.mark.parametrize("method", ["summary", "pixels"])
@pytest.mark.parametrize("kind", ["uint16", "float32"])
def test_wide_dtype_labels_nearest_stored_palette(kind: str, method: str) -> None:
    base = PHOTOS["chelsea"]()
    if kind == "uint16":
        img = base.astype(np.uint16) * 257 - (np.arange(128) % 7).astype(np.uint16)[:, None, None]
    else:
        img = (base / np.float32(255)).astype(np.float32)
    fit = dq.fit_palette(img, 16, seed=0, max_iter=6, chunks=64, method=method)
    assert fit.method == method and fit.palette.dtype == img.dtype
    labels = dq.apply_palette(img, fit.centers, chunks=64).compute()
    np.testing.assert_array_equal(labels, nearest(img, fit.palette))
    np.testing.assert_array_equal(fit.counts, np.bincount(labels.ravel(), minlength=16))
    assert fit.compactness == pytest.approx(brute_compactness(img, fit.palette), rel=1e-9)


def test_cluster_fit_labels_nearest_stored_palette(tmp_path, local_cluster) -> None:
    import dask

    rgb = PHOTOS["coffee"]()
    with dask.config.set(scheduler=local_cluster.get):
        dq.quantize(rgb, tmp_path / "c.zarr", n_colors=40, seed=4, max_iter=6, chunks=64)
    g = zarr.open_group(str(tmp_path / "c.zarr"), mode="r")
    labels = g["labels"][:]
    np.testing.assert_array_equal(labels, nearest(rgb, g["palette"][:]))
    np.testing.assert_array_equal(g["counts"][:], np.bincount(labels.ravel(), minlength=40))


def test_full_table_path_uses_stored_palette(monkeypatch) -> None:
    rgb = PHOTOS["astronaut"]()
    centers = dq.fit_palette(rgb, 32, seed=4, max_iter=5).centers
    stored = np.clip(np.rint(centers), 0, 255)
    monkeypatch.setattr(_labels, "GLOBAL_TABLE_PIXELS", 1)  # the full 2^24-entry table
    labels = dq.apply_palette(rgb, centers, chunks=64).compute()
    np.testing.assert_array_equal(labels, nearest(rgb, stored))
    assert (nearest(rgb, centers) != labels).any()  # rounding moved some labels


@pytest.mark.parametrize("dither", ["bayer4", "floyd-steinberg"])
def test_dithering_against_stored_palette_brute_force(dither: str) -> None:
    rgb = PHOTOS["coffee"]()
    centers = dq.fit_palette(rgb, 16, seed=5, max_iter=5).centers
    stored = np.clip(np.rint(centers), 0, 255)
    chunks = 128 if dither == "floyd-steinberg" else 48
    labels = dq.apply_palette(rgb, centers, dither=dither, chunks=chunks).compute()
    if dither == "floyd-steinberg":
        want = floyd_steinberg(rgb.astype(np.float64), stored, np.dtype(np.uint8))
    else:
        want = nearest(ordered_dither(rgb, 4, dither_spread(stored), (0, 128), (0, 128)), stored)
    np.testing.assert_array_equal(labels, want)
