"""quality(): PSNR and mean CIEDE2000 in one pass, against NumPy and scikit-image."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import skimage.color
from numpy.typing import NDArray

import daskquant as dq


def reference(image: NDArray, labels: NDArray, palette: NDArray, peak: float) -> dict[str, float]:
    out = np.asarray(palette)[labels].astype(np.float64)
    x = image.astype(np.float64)
    mse = float(((x - out) ** 2).mean())
    de = skimage.color.deltaE_ciede2000(
        skimage.color.rgb2lab(x / peak), skimage.color.rgb2lab(out / peak)
    )
    return {"psnr": 10 * np.log10(peak * peak / mse), "ciede2000": float(de.mean())}


@pytest.fixture
def quantized(astronaut: NDArray) -> tuple[NDArray, Any, NDArray]:
    fit = dq.fit_palette(astronaut, 12, seed=0)
    return astronaut, dq.apply_palette(astronaut, fit.centers, chunks=(64, 90)), fit.palette


def test_matches_reference_in_one_compute(
    quantized: tuple[NDArray, Any, NDArray], counting_scheduler: Any
) -> None:
    image, labels, palette = quantized
    with counting_scheduler(limit=1) as counter:
        q = dq.quality(image, labels, palette, chunks=(64, 90))
    assert counter.calls == 1
    want = reference(image, labels.compute(), palette, 255.0)
    assert q["psnr"] == pytest.approx(want["psnr"], rel=1e-12)
    # scikit-image's Lab uses slightly rounded constants near black: 1e-4 of a unit.
    assert q["ciede2000"] == pytest.approx(want["ciede2000"], abs=1e-4)
    assert q["n_pixels"] == image.shape[0] * image.shape[1]


def test_does_not_depend_on_chunking(quantized: tuple[NDArray, Any, NDArray]) -> None:
    image, labels, palette = quantized
    results = [dq.quality(image, labels, palette, chunks=c) for c in ((200, 200), (33, 47))]
    assert results[0] == results[1]  # exact integer sums for 8-bit images


def test_other_dtypes_alpha_and_gray(astronaut: NDArray) -> None:
    img = astronaut[:64, :64]
    pal = dq.load_palette("web216")
    labels = dq.apply_palette(img, pal).compute()
    q8 = dq.quality(img, labels, pal)
    q16 = dq.quality(img.astype(np.uint16) * 257, labels, pal.astype(np.uint16) * 257)
    qf = dq.quality(img / 255.0, labels, pal / 255.0)
    assert q16["psnr"] == pytest.approx(q8["psnr"], rel=1e-12)
    assert qf["psnr"] == pytest.approx(q8["psnr"], rel=1e-9)
    assert q16["ciede2000"] == pytest.approx(q8["ciede2000"], abs=1e-5)
    assert qf["ciede2000"] == pytest.approx(q8["ciede2000"], abs=1e-5)
    # Fully transparent pixels are left out.
    rgba = np.concatenate([img, np.full_like(img[..., :1], 255)], axis=-1)
    rgba[:32, :, 3] = 0
    qa = dq.quality(rgba, labels, pal)
    qb = dq.quality(img[32:], labels[32:], pal)
    assert qa == qb
    # Gray images: PSNR over one channel, CIEDE2000 of the gray levels.
    gray = img[..., 1]
    gp = dq.load_palette("gray:4", channels=1)
    gl = dq.apply_palette(gray, gp).compute()
    qg = dq.quality(gray, gl, gp)
    want = reference(np.repeat(gray[..., None], 3, 2), gl, np.repeat(gp, 3, 1), 255.0)
    assert qg["psnr"] == pytest.approx(want["psnr"], rel=1e-12)
    assert qg["ciede2000"] == pytest.approx(want["ciede2000"], abs=1e-4)


def test_perfect_match() -> None:
    img = np.zeros((4, 4, 3), np.uint8)
    img[2:] = 200
    labels = (img[..., 0] > 0).astype(np.uint8)
    q = dq.quality(img, labels, [[0, 0, 0], [200, 200, 200]])
    assert q["psnr"] == np.inf and q["ciede2000"] == 0.0 and q["mse"] == 0.0


def test_bad_arguments(astronaut: NDArray) -> None:
    labels = np.zeros(astronaut.shape[:2], np.uint8)
    with pytest.raises(dq.InvalidParameterError, match="labels must be"):
        dq.quality(astronaut, labels[:10], np.zeros((2, 3)))
    with pytest.raises(dq.InvalidParameterError, match="labels must be"):
        dq.quality(astronaut, labels.astype(np.float32), np.zeros((2, 3)))
    with pytest.raises(dq.InvalidParameterError, match="palette must be"):
        dq.quality(astronaut, labels, np.zeros((2, 2)))


def test_collection_is_one_set_of_pixels(quantized: tuple[NDArray, Any, NDArray]) -> None:
    image, labels, palette = quantized
    lab = labels.compute()
    a, b = image[:80], image[80:, :150]
    q = dq.quality([a, b], [lab[:80], lab[80:, :150]], palette)
    pixels = np.concatenate([a.reshape(-1, 1, 3), b.reshape(-1, 1, 3)])
    flat = np.concatenate([lab[:80].reshape(-1, 1), lab[80:, :150].reshape(-1, 1)])
    assert q == dq.quality(pixels, flat, palette)
    with pytest.raises(dq.InvalidParameterError, match="one label array per image"):
        dq.quality([a, b], [lab[:80]], palette)
