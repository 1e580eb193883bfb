"""The perceptual mode: CIEDE2000 labels among the DIN99-nearest palette colors."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

import daskquant as dq
from daskquant._color._perceptual import CANDIDATES, perceptual_labels
from daskquant._color._spaces import ciede2000, lab_to_din99, rgb_to_lab


def _brute(colors: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Brute force: the CANDIDATES DIN99-nearest (stable by index), then CIEDE2000."""
    lab, pal = rgb_to_lab(colors), rgb_to_lab(palette)
    d = ((lab_to_din99(lab)[:, None] - lab_to_din99(pal)[None]) ** 2).sum(2)
    idx = np.argsort(d, axis=1, kind="stable")[:, :CANDIDATES]
    e = np.stack([ciede2000(lab, pal[idx[:, j]]) for j in range(idx.shape[1])], 1)
    return idx[np.arange(len(idx)), e.argmin(1)]


@pytest.fixture
def img() -> np.ndarray:
    return skimage.data.astronaut()[60:188, 150:278].copy()


def test_labels_are_the_ciede2000_nearest_of_the_din99_candidates(img: np.ndarray) -> None:
    fit = dq.fit_palette(img, 16, seed=0, colorspace="perceptual")
    colors = np.unique(img.reshape(-1, 3), axis=0)
    work = lab_to_din99(rgb_to_lab(fit.palette))
    np.testing.assert_array_equal(perceptual_labels(colors, work), _brute(colors, fit.palette))
    labels = dq.apply_palette(img, fit.palette, colorspace="perceptual").compute()
    np.testing.assert_array_equal(labels.ravel(), _brute(img.reshape(-1, 3), fit.palette))
    # counts are those labels', and the mean CIEDE2000 is below DIN99's nearest labels.
    np.testing.assert_array_equal(fit.counts, np.bincount(labels.ravel(), minlength=16))
    din = dq.apply_palette(img, fit.palette, colorspace="din99")
    assert (
        dq.quality(img, labels, fit.palette)["ciede2000"]
        <= dq.quality(img, din, fit.palette)["ciede2000"]
    )


def test_perceptual_needs_8bit_and_the_histogram(img: np.ndarray) -> None:
    with pytest.raises(dq.InvalidParameterError, match="8-bit"):
        dq.fit_palette(img.astype(np.uint16) * 257, 4, colorspace="perceptual")
    with pytest.raises(dq.InvalidParameterError, match="histogram"):
        dq.fit_palette(img, 4, colorspace="perceptual", method="summary")
    with pytest.raises(dq.InvalidParameterError, match="floyd"):
        dq.apply_palette(
            img, [[0, 0, 0], [255, 255, 255]], colorspace="perceptual", dither="floyd-steinberg"
        )
