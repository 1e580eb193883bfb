"""Device color models to sRGB, against Pillow and LittleCMS on every 8-bit value (or a
dense grid of them)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageCms

from daskquant._color._models import (
    D50,
    associated_to_straight,
    cmyk_to_rgb,
    lab_to_srgb,
    white_from_chromaticity,
    ycbcr_to_rgb,
)


def test_cmyk_is_pillows_conversion_for_every_ink_and_black_level():
    c, k = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    cmyk = np.stack([c, 255 - c, c // 2, k], -1).astype(np.uint8)  # every (ink, black) pair
    ref = np.asarray(Image.fromarray(cmyk, "CMYK").convert("RGB"))
    np.testing.assert_array_equal(cmyk_to_rgb(cmyk, scale=255), ref)


def test_cmyk_16_bit_and_float_follow_the_same_formula():
    rng = np.random.default_rng(0)
    cmyk = rng.integers(0, 65536, (500, 4), dtype=np.uint16)
    ink = 65535 - cmyk.astype(object)
    expected = ((ink[:, :3] * ink[:, 3:] + 32767) // 65535).astype(np.uint16)
    np.testing.assert_array_equal(cmyk_to_rgb(cmyk, scale=65535), expected)
    unit = cmyk / 65535.0
    got = cmyk_to_rgb(unit, scale=1.0)
    np.testing.assert_allclose(got, (1 - unit[:, :3]) * (1 - unit[:, 3:]))


def _lcms(lab_codes: np.ndarray) -> np.ndarray:
    """LittleCMS's D50 Lab to sRGB, unoptimized (no 8-bit tables), relative colorimetric."""
    transform = ImageCms.buildTransform(
        ImageCms.createProfile("LAB"),
        ImageCms.createProfile("sRGB"),
        "LAB",
        "RGB",
        renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
        flags=ImageCms.Flags.NOOPTIMIZE | ImageCms.Flags.NOCACHE,
    )
    im = Image.frombytes("LAB", (lab_codes.shape[0], 1), lab_codes.tobytes())
    return np.asarray(ImageCms.applyTransform(im, transform))[0]


def test_lab_d50_to_srgb_matches_littlecms_within_one_level():
    # L* in 8-bit codes (L * 255 / 100), a* and b* signed: a grid over all of them.
    grid = np.meshgrid(np.arange(0, 256, 5), np.arange(-128, 128, 6), np.arange(-128, 128, 6))
    codes = np.stack([g.ravel() for g in grid], -1)
    raw = np.stack([codes[:, 0], codes[:, 1] & 255, codes[:, 2] & 255], -1).astype(np.uint8)
    lab = np.stack([codes[:, 0] * 100 / 255, codes[:, 1], codes[:, 2]], -1).astype(float)
    got = np.rint(lab_to_srgb(lab, white=D50)).astype(int)
    assert np.abs(got - _lcms(raw)).max() <= 1


def test_lab_white_black_and_gray_are_neutral():
    out = lab_to_srgb([[100.0, 0, 0], [0.0, 0, 0], [50.0, 0, 0]], white=D50, scale=65535)
    assert np.abs(out[:, 0:1] - out).max() < 1e-6  # neutral: R = G = B
    # L* = 50: Y = (66 / 116) ** 3 = 0.18419, sRGB 1.055 * Y ** (1 / 2.4) - 0.055 = 0.46633
    assert np.rint(out[:, 0]).tolist() == [65535.0, 0.0, 30561.0]


def test_white_point_from_tiff_chromaticity():
    d65 = white_from_chromaticity(0.3127, 0.3290)
    np.testing.assert_allclose(d65, (0.9505, 1.0, 1.0891), atol=1e-4)
    # Lab relative to D65 needs no adaptation: its white is sRGB's white.
    assert np.rint(lab_to_srgb([[100.0, 0, 0]], white=d65)).tolist() == [[255.0, 255.0, 255.0]]


def test_ycbcr_full_range_is_pillows_jfif_conversion_within_one_level():
    grid = np.meshgrid(np.arange(0, 256, 3), np.arange(0, 256, 5), np.arange(0, 256, 5))
    ycc = np.stack([g.ravel() for g in grid], -1).astype(np.uint8)
    ref = np.asarray(Image.frombytes("YCbCr", (len(ycc), 1), ycc.tobytes()).convert("RGB"))[0]
    got = np.rint(ycbcr_to_rgb(ycc)).astype(int)
    assert np.abs(got - ref).max() <= 1


def test_ycbcr_reference_black_white_is_honored():
    # Studio range (Y 16..235, chroma 16..240 around 128): its black and white are full range.
    studio = (16.0, 235.0, 128.0, 240.0, 128.0, 240.0)
    out = ycbcr_to_rgb([[16, 128, 128], [235, 128, 128]], reference=studio)
    np.testing.assert_allclose(out, [[0, 0, 0], [255, 255, 255]], atol=1e-9)


def test_associated_alpha_against_pillow_within_one_level():
    # Every valid premultiplied (color <= alpha) pair; Pillow truncates, daskquant rounds.
    c, a = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    keep = c <= a
    rgba = np.stack([c[keep], c[keep], c[keep], a[keep]], -1).astype(np.uint8)[None]
    ref = np.asarray(Image.frombytes("RGBa", (rgba.shape[1], 1), rgba.tobytes()).convert("RGBA"))
    got = associated_to_straight(rgba[..., :3], rgba[..., 3:], scale=255)
    visible = rgba[0, :, 3] > 0
    assert np.abs(got[0, visible].astype(int) - ref[0, visible, :3]).max() <= 1
    assert (got[0, ~visible] == 0).all()
    exact = np.minimum((c[keep] * 255 + a[keep] // 2) // np.maximum(a[keep], 1), 255)
    np.testing.assert_array_equal(got[0, visible, 0], exact[visible])
