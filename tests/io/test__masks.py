"""nodata= and mask=: masked pixels take no part in the fit, checked against the kept pixels."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import zarr
import zarr.storage
from _oracles import brute_compactness, nearest
from numpy.typing import NDArray

import daskquant as dq
from daskquant._io._layout import as_image
from daskquant._io._masks import masked_image


def lloyd(pixels: NDArray, centers: NDArray, max_iter: int) -> NDArray[np.float64]:
    """Plain float64 Lloyd from given centers on (n, C) pixels, stopping on zero shift."""
    c = np.asarray(centers, np.float64).copy()
    x = pixels.astype(np.float64)
    for _ in range(max_iter):
        lab = nearest(x, c)
        new = np.stack([x[lab == j].mean(axis=0) for j in range(c.shape[0])])
        shift = np.sqrt(((new - c) ** 2).sum(axis=1)).max()
        c = new
        if shift == 0:
            break
    return c


def bordered(photo: NDArray, value: int | float) -> tuple[NDArray, NDArray[np.bool_]]:
    """The photo with a nodata border (and a hole) of ``value`` in every band; kept pixels."""
    img = photo.copy()
    keep = np.ones(img.shape[:2], bool)
    keep[:20] = keep[:, -30:] = keep[60:70, 60:90] = False
    img[~keep] = value
    # Pixels of the photo that happen to equal the nodata value in every band are nodata too.
    return img, keep & ~(img == value).all(axis=-1)


def test_nodata_fit_equals_the_fit_on_the_kept_pixels(astronaut: NDArray[np.uint8]) -> None:
    img, keep = bordered(astronaut, 0)
    fit = dq.fit_palette(img, 8, nodata=0, seed=3, chunks=64)
    alone = dq.fit_palette(img[keep][None], 8, seed=3)  # (1, n, 3): only the kept pixels
    np.testing.assert_array_equal(fit.centers, alone.centers)
    assert fit.n_pixels == keep.sum() == fit.counts.sum()
    kept = img[keep]
    stored = fit.palette.astype(np.float64)  # counts are those of the palette as stored
    np.testing.assert_array_equal(fit.counts, np.bincount(nearest(kept, stored), minlength=8))
    assert fit.compactness == pytest.approx(brute_compactness(kept, stored), rel=1e-12)
    # Without nodata the border is a color of its own: the fit differs.
    assert dq.fit_palette(img, 8, seed=3).n_pixels == img.shape[0] * img.shape[1]


def test_nodata_needs_every_band(astronaut: NDArray[np.uint8]) -> None:
    img = astronaut.copy()
    img[:10, :, 0] = 7  # only band 0 equals the nodata value: kept
    img[10:20] = (7, 8, 9)
    fit = dq.fit_palette(img, 4, nodata=(7, 8, 9), seed=0)
    assert fit.n_pixels == img.shape[0] * img.shape[1] - 10 * img.shape[1]


def test_nan_is_masked_and_mask_array_on_the_pixel_path(
    float32_photo: NDArray[np.float32],
) -> None:
    img = float32_photo.copy()
    img[:15] = np.nan
    img[50:60, :, 1] = np.nan  # NaN in one band masks the pixel too
    mask = np.ones(img.shape[:2], np.uint8)
    mask[:, :25] = 0
    keep = ~np.isnan(img).any(axis=-1) & (mask != 0)
    start = img[keep][[0, 5000, 10000, 20000]].astype(np.float64)
    fit = dq.fit_palette(
        da.from_array(img, chunks=(70, 90, 3)),
        4,
        nodata="nan",
        mask=da.from_array(mask, chunks=50),
        init=start,
        max_iter=6,
        epsilon=0.0,
        attempts=1,
        method="pixels",
    )
    assert fit.method == "pixels" and fit.n_pixels == keep.sum()
    np.testing.assert_allclose(fit.centers, lloyd(img[keep], start, fit.n_iter), atol=1e-9)
    assert np.isfinite(fit.compactness)
    assert fit.compactness == pytest.approx(brute_compactness(img[keep], fit.centers))


def test_own_alpha_combines_with_the_mask(astronaut: NDArray[np.uint8]) -> None:
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)])
    rgba[:30, :, 3] = 0
    mask = np.ones(astronaut.shape[:2], bool)
    mask[-40:] = False
    arr, layout = as_image(rgba)
    out, new = masked_image(arr, layout, mask=mask)
    assert (new.channels, new.alpha) == (3, 3)
    alpha = out.compute()[..., 3]
    np.testing.assert_array_equal(alpha != 0, (rgba[..., 3] != 0) & mask)
    stored = zarr.create_array(zarr.storage.MemoryStore(), shape=mask.shape, dtype="u1")
    stored[:] = mask
    assert dq.fit_palette(rgba, 4, mask=stored, seed=0).n_pixels == (alpha != 0).sum()


def test_fully_masked_and_bad_arguments_are_refused(astronaut: NDArray[np.uint8]) -> None:
    with pytest.raises(dq.InputError, match="fully transparent or masked"):
        dq.fit_palette(astronaut, 4, mask=np.zeros(astronaut.shape[:2]))
    with pytest.raises(dq.InvalidParameterError, match="nodata must be one value or 3"):
        dq.fit_palette(astronaut, 4, nodata=(1, 2))
    with pytest.raises(dq.InvalidParameterError, match="nodata must be a number"):
        dq.fit_palette(astronaut, 4, nodata="none?")
    with pytest.raises(dq.InvalidParameterError, match="mask must have the image's shape"):
        dq.fit_palette(astronaut, 4, mask=np.ones((3, 3)))
