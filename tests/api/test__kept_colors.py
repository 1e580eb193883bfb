"""Images with at most K distinct colors keep exactly their own colors (K reduced), unless
``strict``; checked against the image's distinct colors found by NumPy (np.unique)."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest
import skimage.data
import zarr
from _oracles import nearest

import daskquant as dq


def _posterized(dtype: type, n: int) -> np.ndarray:
    """A real photo (skimage's coffee) reduced to ``n`` colors by a palette of its own
    pixels, in ``dtype`` (8-bit, full-range 16-bit, or float in [0, 1])."""
    rgb = skimage.data.coffee()[100:164, 200:296]
    pal = rgb.reshape(-1, 3)[np.random.default_rng(0).choice(rgb.shape[0] * rgb.shape[1], n)]
    pal = np.unique(pal, axis=0)
    img = pal[nearest(rgb, pal)]
    if dtype == np.uint16:
        return img.astype(np.uint16) * 257 + 3
    if dtype == np.float32:
        return (img / np.float32(255)).astype(np.float32)
    return img


def _own_colors(img: np.ndarray) -> np.ndarray:
    return np.unique(img.reshape(-1, img.shape[-1]), axis=0)


@pytest.mark.parametrize(
    ("dtype", "method", "space"),
    [
        (np.uint8, "histogram", "rgb"),
        (np.uint8, "pixels", "rgb"),
        (np.uint8, "histogram", "lab"),
        (np.uint16, "auto", "rgb"),
        (np.uint16, "auto", "din99"),
        (np.float32, "auto", "rgb"),
    ],
)
def test_few_colors_kept_exactly(dtype: type, method: str, space: str) -> None:
    img = _posterized(dtype, 7)
    own = _own_colors(img)
    for k in (own.shape[0], 12):
        fit = dq.fit_palette(img, k, seed=0, method=method, colorspace=space, chunks=32)
        assert fit.kept_exactly and fit.n_colors == own.shape[0] and fit.n_iter == 0
        np.testing.assert_array_equal(np.unique(fit.palette, axis=0), own)
        assert fit.palette.dtype == img.dtype
        labels = dq.apply_palette(img, fit.palette, colorspace=space, chunks=32).compute()
        np.testing.assert_array_equal(fit.palette[labels], img)  # every pixel kept
        np.testing.assert_array_equal(
            fit.counts, np.bincount(labels.ravel(), minlength=fit.n_colors)
        )
        assert fit.compactness == 0
    with pytest.raises(dq.TooFewColorsError, match=f"only {own.shape[0]} distinct colors"):
        dq.fit_palette(img, 12, seed=0, method=method, colorspace=space, strict=True)
    # One color more than K: a real fit, not kept.
    fit = dq.fit_palette(img, own.shape[0] - 1, seed=0, method=method, colorspace=space)
    assert not fit.kept_exactly and fit.n_colors == own.shape[0] - 1


def test_transparent_pixels_do_not_count() -> None:
    img = _posterized(np.uint8, 5)
    alpha = np.full((*img.shape[:2], 1), 255, np.uint8)
    rgba = np.concatenate([img, alpha], axis=-1)
    rgba[:8, :, :3] = (1, 2, 3)  # a color seen only where transparent
    rgba[:8, :, 3] = 0
    fit = dq.fit_palette(rgba, 16, seed=0)
    np.testing.assert_array_equal(np.unique(fit.palette, axis=0), _own_colors(img[8:]))


def test_quantize_says_k_was_reduced_in_summary_and_attributes(tmp_path) -> None:
    img = _posterized(np.uint8, 6)
    own = _own_colors(img)
    s = dq.quantize(img, tmp_path / "o.zarr", n_colors=32, seed=0, metrics=True)
    g = zarr.open_group(str(tmp_path / "o.zarr"), mode="r")
    fit = g.attrs["daskquant"]["fit"]
    assert fit["kept_exactly"] is True and fit["n_colors_requested"] == 32
    assert g.attrs["daskquant"]["n_colors"] == s.n_colors == own.shape[0]
    assert s.extra["kept_exactly"] and s.extra["n_colors_requested"] == 32
    np.testing.assert_array_equal(g["palette"][:][g["labels"][:]], img)
    assert s.extra["quality"]["psnr"] == float("inf") or s.extra["quality"]["psnr"] > 99


def test_collection_of_few_colors_shares_its_colors(tmp_path) -> None:
    a, b = _posterized(np.uint8, 4), _posterized(np.uint8, 9)[::-1]
    for name, im in (("a", a), ("b", b)):
        assert cv2.imwrite(str(tmp_path / f"{name}.png"), cv2.cvtColor(im, cv2.COLOR_RGB2BGR))
    s = dq.quantize([tmp_path / "a.png", tmp_path / "b.png"], tmp_path / "c.zarr", n_colors=64)
    g = zarr.open_group(str(tmp_path / "c.zarr"), mode="r")
    both = np.unique(np.concatenate([_own_colors(a), _own_colors(b)]), axis=0)
    assert s.n_colors == both.shape[0] and s.extra["kept_exactly"]
    pal = g["palette"][:]
    np.testing.assert_array_equal(pal[g["labels/a"][:]], a)
    np.testing.assert_array_equal(pal[g["labels/b"][:]], b)


@pytest.mark.slow  # two command-line runs with their own clusters (~10 s)
def test_cli_strict_refuses_and_default_says_kept(tmp_path, capsys: Any) -> None:
    from daskquant._cli._main import main

    img = _posterized(np.uint8, 3)
    assert cv2.imwrite(str(tmp_path / "in.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    n = _own_colors(img).shape[0]
    assert main(["quantize", str(tmp_path / "in.png"), str(tmp_path / "o.zarr"), "-k", "8"]) == 0
    out = capsys.readouterr().out
    assert f"{n} (the image's own colors, exactly; 8 asked for, see --strict)" in out
    args = ["quantize", str(tmp_path / "in.png"), str(tmp_path / "s.zarr"), "-k", "8"]
    assert main([*args, "--strict"]) == 1
    assert f"only {n} distinct colors" in capsys.readouterr().err


@pytest.mark.parametrize("flags", [cv2.KMEANS_PP_CENTERS, cv2.KMEANS_RANDOM_CENTERS])
def test_kmeans_keeps_opencv_behaviour_with_fewer_distinct_points_than_k(flags: int) -> None:
    # cv2.kmeans accepts N >= K points with fewer distinct values: no error, zero
    # compactness, K centers that are all data points (some repeated). dq.kmeans, its
    # drop-in, does the same and does not reduce K.
    pts = np.repeat(np.array([[0, 0, 0], [9, 9, 9], [40, 2, 7]], np.float32), 10, axis=0)
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 1.0)
    cv2.setRNGSeed(0)
    want = cv2.kmeans(pts, 5, None, crit, 1, flags)
    got = dq.kmeans(pts, 5, None, crit, 1, flags)
    for ret, labels, centers in (want, got):
        assert ret == 0 and centers.shape == (5, 3)
        np.testing.assert_array_equal(centers[labels.ravel()], pts)
    with pytest.raises(cv2.error):
        cv2.kmeans(pts[:4], 5, None, crit, 1, flags)
    with pytest.raises(dq.InputError):
        dq.kmeans(pts[:4], 5, None, crit, 1, flags)


def test_few_colors_kept_exactly_on_a_cluster(local_cluster: Any) -> None:
    import dask

    img = _posterized(np.uint8, 6)
    with dask.config.set(scheduler=local_cluster.get):
        fit = dq.fit_palette(img, 20, seed=0, chunks=32)
        with pytest.raises(dq.TooFewColorsError):
            dq.fit_palette(img, 20, seed=0, chunks=32, strict=True)
    assert fit.kept_exactly
    np.testing.assert_array_equal(np.unique(fit.palette, axis=0), _own_colors(img))
    labels = dq.apply_palette(img, fit.palette).compute()
    np.testing.assert_array_equal(fit.counts, np.bincount(labels.ravel(), minlength=fit.n_colors))
