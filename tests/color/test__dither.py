"""Dithering: Bayer matrices, chunking independence, brute-force references, real photos."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest
from _oracles import nearest
from numpy.typing import NDArray

import daskquant as dq
from daskquant._color import _dither
from daskquant._color._spaces import to_space


def dithered(img: NDArray, n: int, spread: float) -> NDArray:
    """The whole image plus its Bayer thresholds: the reference, with no chunks at all."""
    m = _dither.bayer_matrix(n)
    t = (m + 0.5) / (n * n) - 0.5
    h, w = img.shape[:2]
    off = spread * np.tile(t, (h // n + 1, w // n + 1))[:h, :w, None]
    if img.dtype.kind == "f":
        return img + off
    info = np.iinfo(img.dtype)
    return np.clip(img + np.rint(off), info.min, info.max).astype(img.dtype)


def test_bayer_matrices() -> None:
    np.testing.assert_array_equal(_dither.bayer_matrix(2), [[0, 2], [3, 1]])
    for n in (2, 4, 8):
        m = _dither.bayer_matrix(n)
        assert sorted(m.ravel().tolist()) == list(range(n * n))
        t = _dither.thresholds(n, (0, n), (0, n))
        assert abs(t.mean()) < 1e-12 and -0.5 < t.min() and t.max() < 0.5
    # Thresholds depend on the global position only.
    whole = _dither.thresholds(4, (0, 13), (0, 9))
    np.testing.assert_array_equal(_dither.thresholds(4, (5, 13), (3, 9)), whole[5:, 3:])


def test_spread_is_the_palette_spacing() -> None:
    assert _dither.dither_spread(dq.load_palette("gray:4")) == pytest.approx(85 * np.sqrt(3))
    assert _dither.dither_spread(dq.load_palette("web216")) == pytest.approx(51.0)
    assert _dither.dither_spread(np.zeros((1, 3))) == 0.0


@pytest.mark.parametrize("dither", ["bayer2", "bayer4", "bayer8"])
def test_ordered_dither_matches_reference_and_ignores_chunks(
    astronaut: NDArray, dither: Any
) -> None:
    pal = dq.fit_palette(astronaut, 6, seed=0).palette
    n = _dither.bayer_size(dither)
    want = nearest(dithered(astronaut, n, _dither.dither_spread(pal)), pal)
    for chunks in ((200, 200), (37, 53), (64, 100)):
        got = dq.apply_palette(astronaut, pal, dither=dither, chunks=chunks).compute()
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("colorspace", ["rgb", "lab"])
def test_ordered_dither_other_dtypes_and_spaces(astronaut: NDArray, colorspace: Any) -> None:
    img = astronaut[:90, :90]
    pal = dq.load_palette("web216")
    for image, scale in ((img.astype(np.uint16) * 257, 65535.0), (img / 255.0, 1.0)):
        p = pal.astype(np.float64) * (scale / 255.0)
        runs = [
            dq.apply_palette(image, p, dither="bayer4", colorspace=colorspace, chunks=c).compute()
            for c in ((90, 90), (31, 47))
        ]
        np.testing.assert_array_equal(runs[0], runs[1])
        x = dithered(image, 4, _dither.dither_spread(p))
        if colorspace == "lab":
            want = nearest(to_space(x, "lab", scale=scale), to_space(p, "lab", scale=scale))
        else:
            want = nearest(x, p)
        np.testing.assert_array_equal(runs[0], want)


def blurred_error(a: NDArray, b: NDArray) -> float:
    """RMS difference once both images are blurred as the eye does (Gaussian, 1.5 px)."""
    blur = [cv2.GaussianBlur(x.astype(np.float64), (0, 0), 1.5) for x in (a, b)]
    return float(np.sqrt(((blur[0] - blur[1]) ** 2).mean()))


def test_dither_brings_a_photo_closer_at_a_distance(
    photo: NDArray, monkeypatch: pytest.MonkeyPatch
) -> None:
    pal = dq.load_palette("web216")
    errors = {}
    for spread in (0.5, 1.0, 2.0):
        monkeypatch.setattr(_dither, "SPREAD", spread)
        out = pal[dq.apply_palette(photo, pal, dither="bayer8").compute()]
        errors[spread] = blurred_error(out, photo)
    plain = blurred_error(pal[dq.apply_palette(photo, pal).compute()], photo)
    assert errors[1.0] < 0.5 * plain
    assert errors[1.0] < min(errors[0.5], errors[2.0])  # the chosen amplitude


def floyd_steinberg_reference(x: NDArray, pal: NDArray) -> NDArray:
    img = x.astype(np.float64).copy()
    h, w, _ = img.shape
    out = np.zeros((h, w), np.intp)
    for y in range(h):
        for i in range(w):
            k = int(((img[y, i] - pal) ** 2).sum(axis=1).argmin())
            out[y, i] = k
            e = img[y, i] - pal[k]
            for dy, dx, wt in ((0, 1, 7), (1, -1, 3), (1, 0, 5), (1, 1, 1)):
                if 0 <= y + dy < h and 0 <= i + dx < w:
                    img[y + dy, i + dx] += e * wt / 16
    return out


def test_floyd_steinberg_single_chunk_only(astronaut: NDArray) -> None:
    img = astronaut[:40, :50]
    pal = dq.load_palette("#000,#fff,#f00,#0f0,#00f,#888").astype(np.float64)
    got = dq.apply_palette(img, pal, dither="floyd-steinberg", chunks=(40, 50)).compute()
    np.testing.assert_array_equal(got, floyd_steinberg_reference(img, pal))
    with pytest.raises(dq.InvalidParameterError, match="one chunk"):
        dq.apply_palette(img, pal, dither="floyd-steinberg", chunks=20)


def test_bad_dither(astronaut: NDArray) -> None:
    with pytest.raises(dq.InvalidParameterError, match="dither must be one of"):
        dq.apply_palette(astronaut, np.zeros((2, 3)), dither="bayer3")  # type: ignore[arg-type]
