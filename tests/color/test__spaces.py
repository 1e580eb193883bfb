"""Perceptual color spaces: conversions against references, and fits in Lab and DIN99."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import skimage.color
from numpy.typing import NDArray

import daskquant as dq
from daskquant._cli._samples import photo as bundled_photo
from daskquant._color._spaces import (
    ciede2000,
    din99_to_lab,
    from_space,
    lab_to_din99,
    lab_to_rgb,
    rgb_to_lab,
    to_space,
)

# Sharma, Wu and Dalal (2005), "The CIEDE2000 color-difference formula: implementation
# notes, supplementary test data": pairs (L1, a1, b1), (L2, a2, b2) and their difference.
SHARMA = [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 3.1571, -77.2803), (50.0, 0.0, -82.7485), 2.8615),
    ((50.0, 2.8361, -74.0200), (50.0, 0.0, -82.7485), 3.4412),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((50.0, 2.5, 0.0), (61.0, -5.0, 29.0), 22.8977),
    ((50.0, 2.5, 0.0), (56.0, -27.0, -3.0), 31.9030),
    ((50.0, 2.5, 0.0), (58.0, 24.0, 15.0), 19.4535),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((63.0109, -31.0961, -5.8663), (62.8187, -29.7946, -4.0864), 1.2630),
    ((90.8027, -2.0831, 1.4410), (91.1528, -1.6435, 0.0447), 1.4441),
    ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
]


def test_ciede2000_sharma_data() -> None:
    lab1 = np.array([p[0] for p in SHARMA])
    lab2 = np.array([p[1] for p in SHARMA])
    want = np.array([p[2] for p in SHARMA])
    np.testing.assert_allclose(ciede2000(lab1, lab2), want, atol=5e-5)
    np.testing.assert_allclose(ciede2000(lab2, lab1), want, atol=5e-5)  # symmetric


def test_ciede2000_matches_scikit_image(photo: NDArray) -> None:
    lab = rgb_to_lab(photo)
    other = lab[::-1, ::-1]
    np.testing.assert_allclose(
        ciede2000(lab, other), skimage.color.deltaE_ciede2000(lab, other), atol=1e-6
    )
    assert (ciede2000(lab, lab) == 0).all()


def test_rgb_to_lab_matches_scikit_image(photo: NDArray) -> None:
    got = rgb_to_lab(photo)
    np.testing.assert_allclose(got, skimage.color.rgb2lab(photo), atol=2e-4)
    # Every dtype's scale: uint16 and float give the same Lab as 8-bit.
    np.testing.assert_allclose(rgb_to_lab(photo.astype(np.uint16) * 257, scale=65535.0), got)
    np.testing.assert_allclose(rgb_to_lab(photo / 255.0, scale=1.0), got, atol=1e-12)


def test_round_trips() -> None:
    rgb = np.random.default_rng(0).random((2000, 3)) * 255
    np.testing.assert_allclose(lab_to_rgb(rgb_to_lab(rgb)), rgb, atol=1e-9)
    for space in ("lab", "din99"):
        np.testing.assert_allclose(from_space(to_space(rgb, space), space), rgb, atol=1e-9)
    lab = rgb_to_lab(rgb)
    np.testing.assert_allclose(din99_to_lab(lab_to_din99(lab)), lab, atol=1e-9)
    # Out-of-gamut Lab comes back clipped to the sRGB cube.
    assert lab_to_rgb([[50.0, 120.0, -120.0]]).min() >= 0


def test_din99_polar_definition() -> None:
    # DIN 6176 in its polar form: L99, then C99 and h99 from the rotated, scaled e, f.
    lab = rgb_to_lab(np.random.default_rng(1).integers(0, 256, (500, 3)))
    t = np.radians(16.0)
    e = lab[:, 1] * np.cos(t) + lab[:, 2] * np.sin(t)
    f = 0.7 * (-lab[:, 1] * np.sin(t) + lab[:, 2] * np.cos(t))
    c99 = np.log(1 + 0.045 * np.hypot(e, f)) / 0.045
    h = np.arctan2(f, e)
    want = np.stack(
        [105.51 * np.log(1 + 0.0158 * lab[:, 0]), c99 * np.cos(h), c99 * np.sin(h)], axis=1
    )
    np.testing.assert_allclose(lab_to_din99(lab), want, atol=1e-9)


def brute_labels(img: NDArray, centers: NDArray, space: str, scale: float) -> NDArray:
    x = to_space(img.reshape(-1, 3), space, scale=scale)
    c = to_space(centers, space, scale=scale)
    d = ((x[:, None, :] - c[None]) ** 2).sum(axis=2)
    return d.argmin(axis=1).reshape(img.shape[:2])


@pytest.mark.parametrize("space", ["lab", "din99"])
def test_perceptual_fit_is_consistent(photo: NDArray, space: Any) -> None:
    fit = dq.fit_palette(photo, 8, seed=1, colorspace=space)
    assert fit.colorspace == space
    assert fit.method == "histogram"
    assert fit.palette.dtype == np.uint8
    assert fit.centers.min() >= 0 and fit.centers.max() <= 255
    labels = dq.apply_palette(photo, fit.centers, colorspace=space).compute()
    # Nearest, in the fit's space, to the colors stored (the rounded palette).
    np.testing.assert_array_equal(labels, brute_labels(photo, fit.palette, space, 255.0))
    np.testing.assert_array_equal(np.bincount(labels.ravel(), minlength=8), fit.counts)
    # The fit's own table of its colors labels the image the same way.
    arr, layout = dq._io._layout.as_image(photo)
    own = dq._api._labels.label_image(arr, layout, fit.centers, fit.color_labels, colorspace=space)
    np.testing.assert_array_equal(own.compute(), labels)
    d = to_space(photo.reshape(-1, 3), space) - to_space(fit.palette, space)[labels.ravel()]
    np.testing.assert_allclose(fit.compactness, (d * d).sum(), rtol=1e-9)


def test_lab_fit_does_not_depend_on_chunking(photo: NDArray) -> None:
    fits = [dq.fit_palette(photo, 6, seed=2, colorspace="lab", chunks=c) for c in (128, (37, 53))]
    np.testing.assert_array_equal(fits[0].centers, fits[1].centers)
    assert fits[0].compactness == fits[1].compactness


def test_lab_fit_pixels_and_uint16(astronaut: NDArray) -> None:
    img = astronaut[:96, :96]
    opts: dict[str, Any] = {"seed": 4, "colorspace": "lab", "epsilon": 0.0, "max_iter": 5}
    hist = dq.fit_palette(img, 5, **opts)
    pixels = dq.fit_palette(img, 5, method="pixels", chunks=40, **opts)
    assert hist.attempts == pixels.attempts == 8
    assert pixels.method == "pixels"
    np.testing.assert_allclose(pixels.centers, hist.centers, atol=1e-6)
    # uint16: the summary (of Lab values converted chunk by chunk) and the pixel path.
    img16 = img.astype(np.uint16) * 257
    for method in ("auto", "pixels"):
        fit16 = dq.fit_palette(img16, 5, seed=4, colorspace="lab", chunks=40, method=method)
        assert fit16.method == ("summary" if method == "auto" else "pixels")
        assert fit16.palette.dtype == np.uint16
        labels = dq.apply_palette(img16, fit16.centers, colorspace="lab", chunks=33).compute()
        want = brute_labels(img16, fit16.centers, "lab", 65535.0)
        np.testing.assert_array_equal(labels, want)
        np.testing.assert_array_equal(np.bincount(labels.ravel(), minlength=5), fit16.counts)


def test_given_start_centers_are_rgb(astronaut: NDArray) -> None:
    start = np.array([[10.0, 20.0, 30.0], [200.0, 180.0, 170.0], [90.0, 60.0, 50.0]])
    fit = dq.fit_palette(astronaut, 3, init=start, max_iter=0, colorspace="lab")
    np.testing.assert_allclose(fit.centers, start, atol=1e-9)


def test_perceptual_modes_lower_ciede2000_on_photos() -> None:
    # Whole real photographs, the same K: clustering where distances are perceptual gives a
    # lower mean CIEDE2000 than clustering in RGB (the benchmark shows all photos and K).
    for name in ("astronaut.png", "chelsea.png"):
        img = bundled_photo(name)
        de = {}
        for space in ("rgb", "lab", "din99"):
            fit = dq.fit_palette(img, 16, seed=0, colorspace=space)  # type: ignore[arg-type]
            labels = dq.apply_palette(img, fit.centers, colorspace=space)  # type: ignore[arg-type]
            de[space] = dq.quality(img, labels, fit.palette)["ciede2000"]
        assert de["din99"] < de["rgb"], (name, de)
        assert de["lab"] < de["rgb"] or name == "chelsea.png", (name, de)


@pytest.mark.parametrize(
    ("image", "space", "words"),
    [
        (np.zeros((8, 8), np.uint8), "lab", "needs RGB"),
        (np.zeros((8, 8, 3), np.int16), "lab", "unsigned integer or float"),
        (np.zeros((8, 8, 3), np.uint8), "hsv", "'rgb', 'lab', 'din99' or 'perceptual'"),
    ],
)
def test_bad_colorspace(image: NDArray, space: Any, words: str) -> None:
    with pytest.raises(dq.InvalidParameterError, match=words):
        dq.fit_palette(image, 2, colorspace=space)
    with pytest.raises(dq.InvalidParameterError, match=words):
        dq.apply_palette(
            image, np.zeros((2, image.shape[-1] if image.ndim == 3 else 1)), colorspace=space
        )
