"""The default epsilon in the image's own scale (issue 18): one 8-bit level at every dtype."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr
from _oracles import nearest
from numpy.typing import NDArray

import daskquant as dq


def test_default_epsilon_is_one_8bit_level_of_the_dtype() -> None:
    assert dq.fit_palette(np.zeros((1, 1, 3), np.uint8), 1).epsilon == 1.0
    for dtype in (np.uint8, np.uint16, np.int16, np.uint32):
        info = np.iinfo(dtype)
        assert dq._api._fit.image_epsilon(np.dtype(dtype), None, None) == pytest.approx(
            (int(info.max) - int(info.min)) / 255, rel=1e-15
        )


def test_16bit_photo_converges_like_the_8bit_photo(astronaut: NDArray) -> None:
    # The same photo in 16 bits (every value x 257), fitted the same way (the pixel path,
    # one attempt, the same seed) stops at the same update with the centers x 257. Its
    # labels are those of the 8-bit fit by the nearest CENTER; by the stored palette they
    # differ in a few near-tie pixels, because the 8-bit palette is rounded to whole 8-bit
    # levels and the 16-bit one to 1/257 of a level (so the 8-bit stored labels differ from
    # its own nearest-center labels just as much).
    u16 = astronaut.astype(np.uint16) * 257
    for init in ("k-means++", "random"):
        kw = {"seed": 0, "method": "pixels", "attempts": 1, "init": init, "chunks": 64}
        fit8 = dq.fit_palette(astronaut, 8, **kw)
        fit16 = dq.fit_palette(u16, 8, **kw)
        assert fit16.epsilon == 257.0 and fit8.epsilon == 1.0
        assert (fit16.n_iter, fit16.converged) == (fit8.n_iter, fit8.converged)
        np.testing.assert_allclose(fit16.centers, fit8.centers * 257, rtol=1e-12, atol=1e-9)
        want = nearest(astronaut, fit8.centers)
        np.testing.assert_array_equal(nearest(u16, fit16.centers), want)
        if init == "k-means++":
            assert fit16.converged and fit16.n_iter < 20
    # The recipe's absolute 1.0 (1/65535 of the range) did not stop this fit.
    fixed = dq.fit_palette(u16, 8, seed=0, method="pixels", attempts=1, epsilon=1.0)
    auto = dq.fit_palette(u16, 8, seed=0, method="pixels", attempts=1)
    assert auto.converged and auto.n_iter < fixed.n_iter


def test_float_epsilon_is_of_the_data_range(float32_photo: NDArray) -> None:
    image = float32_photo * np.float32(0.5) + np.float32(0.25)
    fit = dq.fit_palette(image, 8, seed=0)
    span = float(np.max(image.reshape(-1, 3).max(0) - image.reshape(-1, 3).min(0)))
    assert fit.method == "summary"
    assert fit.epsilon == pytest.approx(span / 255, rel=1e-12)
    # A float image of 8-bit values is fitted as uint8: one 8-bit level is 1.0.
    assert dq.fit_palette(np.rint(image * 255), 8, seed=0).epsilon == 1.0
    # Perceptual spaces keep their own default; a given epsilon is kept as given.
    assert dq.fit_palette(image, 8, seed=0, colorspace="lab").epsilon == 0.2
    assert dq.fit_palette(image, 8, seed=0, epsilon=0.5).epsilon == 0.5


def test_store_records_the_epsilon_used(tmp_path: Path, astronaut: NDArray) -> None:
    u16 = astronaut.astype(np.uint16) * 257
    dq.quantize(u16, tmp_path / "out.zarr", n_colors=6, seed=1, method="pixels")
    fit = zarr.open_group(str(tmp_path / "out.zarr"), mode="r").attrs["daskquant"]["fit"]
    assert fit["epsilon"] == 257.0


def test_kmeans_keeps_opencv_units(astronaut: NDArray) -> None:
    # dq.kmeans's epsilon is the criteria's, in absolute units, on 16-bit values too: with
    # 1.0 it runs as long as cv2.kmeans does (same compactness from the same labels), and
    # an epsilon of one 8-bit level (257) stops it earlier, with a worse compactness.
    import cv2

    data = astronaut.reshape(-1, 3).astype(np.float32)[::7] * 257
    start = (np.arange(data.shape[0], dtype=np.int32) % 6)[:, None]
    flags = cv2.KMEANS_USE_INITIAL_LABELS
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 1.0)
    got, _, _ = dq.kmeans(data, 6, start.copy(), crit, 1, flags, seed=0)
    want, _, _ = cv2.kmeans(data, 6, start.copy(), crit, 1, flags)
    assert got == pytest.approx(want, rel=1e-4)
    coarse = (crit[0], 50, 257.0)
    early, _, _ = dq.kmeans(data, 6, start.copy(), coarse, 1, flags, seed=0)
    assert early > got
