"""Perceptual color spaces for quantization: CIELAB (D65), DIN99, CIEDE2000.

RGB values are sRGB in the image's own scale: 0..255 for uint8, 0..65535 for uint16 (any
unsigned integer: 0..its maximum), 0..1 for floats. The conversions are plain NumPy on
float64, element by element (no matrix products whose rounding could depend on the array's
length), so one color always gets the same Lab value: a color's Lab value is the same when
the fit converts the distinct colors of the histogram and when a chunk is labelled.

DIN99 (DIN 6176) is CIELAB with lightness and chroma compressed logarithmically (and a* b*
rotated and scaled) so that Euclidean distances follow perceived differences, and CIEDE2000,
more closely than in CIELAB, where chroma differences of saturated colors count too much.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from daskquant._errors import InvalidParameterError

__all__ = [
    "ColorSpace",
    "check_colorspace",
    "ciede2000",
    "din99_to_lab",
    "from_space",
    "lab_to_din99",
    "lab_to_rgb",
    "rgb_scale",
    "rgb_to_lab",
    "to_space",
]

ColorSpace = Literal["rgb", "lab", "din99", "perceptual"]
COLORSPACES = ("rgb", "lab", "din99", "perceptual")
# Where the perceptual spaces' points live: "perceptual" clusters in DIN99 (its labels are
# chosen by CIEDE2000, see _perceptual).
_POINTS = {"lab": "lab", "din99": "din99", "perceptual": "din99"}

# sRGB primaries to XYZ, and the D65 white point (2 degree observer), as scikit-image.
_XYZ_FROM_RGB = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ]
)
_RGB_FROM_XYZ = np.linalg.inv(_XYZ_FROM_RGB)
_WHITE = np.array([0.95047, 1.0, 1.08883])
_DELTA = 6.0 / 29.0
_SLICE = 1 << 18  # pixels converted at once: bounds the temporaries of a large chunk


def check_colorspace(colorspace: str, dtype: np.dtype, channels: int) -> ColorSpace:
    """Validate ``colorspace`` for an image of ``dtype`` with ``channels`` clustered channels."""
    if colorspace not in COLORSPACES:
        raise InvalidParameterError(
            f"colorspace must be 'rgb', 'lab', 'din99' or 'perceptual', got {colorspace!r}"
        )
    if colorspace != "rgb":
        if channels != 3:
            raise InvalidParameterError(
                f"colorspace={colorspace!r} needs RGB or RGBA input; this image has "
                f"{channels} color channel(s). Use colorspace='rgb' for gray images."
            )
        rgb_scale(dtype)
    if colorspace == "perceptual" and np.dtype(dtype) != np.uint8:
        raise InvalidParameterError(
            f"colorspace='perceptual' needs 8-bit RGB(A) input (its labels are chosen on the "
            f"image's distinct colors); this image is {np.dtype(dtype)}. Use "
            "colorspace='din99' for other dtypes."
        )
    return colorspace  # type: ignore[return-value]


def rgb_scale(dtype: np.dtype | type) -> float:
    """Full intensity for ``dtype``: its maximum for unsigned integers, 1 for floats."""
    dtype = np.dtype(dtype)
    if dtype.kind == "u":
        return float(np.iinfo(dtype).max)
    if dtype.kind == "f":
        return 1.0
    raise InvalidParameterError(
        f"perceptual color spaces need unsigned integer or float RGB, got {dtype}; convert "
        "the image (for example to uint16) or use colorspace='rgb'"
    )


def _linear(v: NDArray[np.float64]) -> NDArray[np.float64]:
    # sRGB transfer function, inverted; negative values stay linear (symmetric would also do).
    return np.where(v > 0.04045, ((np.maximum(v, 0.04045) + 0.055) / 1.055) ** 2.4, v / 12.92)


def _gamma(v: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.where(
        v > 0.0031308, 1.055 * np.maximum(v, 0.0031308) ** (1 / 2.4) - 0.055, 12.92 * v
    )


def _f(t: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.where(
        t > _DELTA**3, np.cbrt(np.maximum(t, _DELTA**3)), t / (3 * _DELTA**2) + 4.0 / 29.0
    )


def _f_inv(t: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.where(t > _DELTA, t**3, 3 * _DELTA**2 * (t - 4.0 / 29.0))


def _rows(m: NDArray[np.float64], x: NDArray[np.float64]) -> list[NDArray[np.float64]]:
    # m @ x per pixel, written out so each output element is the same sum in the same order.
    return [m[i, 0] * x[:, 0] + m[i, 1] * x[:, 1] + m[i, 2] * x[:, 2] for i in range(3)]


def rgb_to_lab(rgb: ArrayLike, *, scale: float = 255.0) -> NDArray[np.float64]:
    """sRGB to CIELAB (D65, 2 degree observer).

    Parameters
    ----------
    rgb : (..., 3) array
        sRGB values; ``scale`` is full intensity (255 for uint8, 65535 for uint16, 1 for floats).

    Returns
    -------
    lab : (..., 3) float64 ndarray
        L* in [0, 100], a* and b* roughly in [-128, 127].

    Examples
    --------
    >>> rgb_to_lab([[0, 0, 0], [255, 0, 0]]).round(2).tolist()
    [[0.0, 0.0, 0.0], [53.24, 80.09, 67.2]]
    """
    a = np.asarray(rgb)
    shape = a.shape
    flat = a.reshape(-1, 3)
    out = np.empty(flat.shape, np.float64)
    lut = None
    if a.dtype == np.uint8 and scale == 255.0:
        lut = _linear(np.arange(256, dtype=np.float64) / 255.0)  # the 256 values, once
    for start in range(0, flat.shape[0], _SLICE):
        part = flat[start : start + _SLICE]
        lin = lut[part] if lut is not None else _linear(np.asarray(part, np.float64) / scale)
        x, y, z = _rows(_XYZ_FROM_RGB, lin)
        fx, fy, fz = _f(x / _WHITE[0]), _f(y / _WHITE[1]), _f(z / _WHITE[2])
        out[start : start + _SLICE, 0] = 116.0 * fy - 16.0
        out[start : start + _SLICE, 1] = 500.0 * (fx - fy)
        out[start : start + _SLICE, 2] = 200.0 * (fy - fz)
    return out.reshape(shape)


def lab_to_rgb(lab: ArrayLike, *, scale: float = 255.0) -> NDArray[np.float64]:
    """CIELAB (D65) to sRGB in ``[0, scale]``, float64; colors outside the sRGB gamut are
    clipped in linear RGB.

    Parameters
    ----------
    lab : (..., 3) array

    Returns
    -------
    rgb : (..., 3) float64 ndarray
        Not rounded: round (and clip) to the image's dtype for a palette.

    Examples
    --------
    >>> lab_to_rgb(rgb_to_lab([[12, 200, 77]])).round(6).tolist()
    [[12.0, 200.0, 77.0]]
    """
    a = np.asarray(lab, np.float64)
    flat = a.reshape(-1, 3)
    fy = (flat[:, 0] + 16.0) / 116.0
    fx = fy + flat[:, 1] / 500.0
    fz = fy - flat[:, 2] / 200.0
    xyz = np.stack([_f_inv(fx) * _WHITE[0], _f_inv(fy) * _WHITE[1], _f_inv(fz) * _WHITE[2]], 1)
    lin = np.clip(np.stack(_rows(_RGB_FROM_XYZ, xyz), axis=1), 0.0, 1.0)
    return (_gamma(lin) * scale).reshape(a.shape)


# DIN99 (DIN 6176:2001, kE = kCH = 1): a* b* rotated by 16 degrees, b* scaled by 0.7, then
# lightness and chroma compressed logarithmically.
_COS16, _SIN16 = np.cos(np.radians(16.0)), np.sin(np.radians(16.0))


def lab_to_din99(lab: ArrayLike) -> NDArray[np.float64]:
    """CIELAB to DIN99 (L99, a99, b99), (..., 3) -> (..., 3) float64.

    Examples
    --------
    >>> lab_to_din99([[100.0, 0.0, 0.0]]).round(2).tolist()
    [[100.0, 0.0, 0.0]]
    """
    x = np.asarray(lab, np.float64)
    e = x[..., 1] * _COS16 + x[..., 2] * _SIN16
    f = 0.7 * (x[..., 2] * _COS16 - x[..., 1] * _SIN16)
    g = np.hypot(e, f)
    c99 = np.log1p(0.045 * g) / 0.045
    # a99 = c99 cos(h), b99 = c99 sin(h), with h the angle of (e, f)
    ratio = np.where(g > 0, c99 / np.where(g > 0, g, 1.0), 1.0)
    return np.stack([105.51 * np.log1p(0.0158 * x[..., 0]), e * ratio, f * ratio], axis=-1)


def din99_to_lab(din: ArrayLike) -> NDArray[np.float64]:
    """DIN99 to CIELAB, the inverse of :func:`lab_to_din99`."""
    x = np.asarray(din, np.float64)
    c99 = np.hypot(x[..., 1], x[..., 2])
    g = np.expm1(0.045 * c99) / 0.045
    ratio = np.where(c99 > 0, g / np.where(c99 > 0, c99, 1.0), 1.0)
    e, f = x[..., 1] * ratio, x[..., 2] * ratio / 0.7
    a = e * _COS16 - f * _SIN16
    b = e * _SIN16 + f * _COS16
    return np.stack([np.expm1(x[..., 0] / 105.51) / 0.0158, a, b], axis=-1)


def to_space(rgb: ArrayLike, space: str, *, scale: float = 255.0) -> NDArray[np.float64]:
    """sRGB values (..., 3) in ``[0, scale]`` to ``space`` ("lab", "din99", or "perceptual":
    DIN99), float64."""
    lab = rgb_to_lab(rgb, scale=scale)
    return lab_to_din99(lab) if _POINTS[space] == "din99" else lab


def from_space(points: ArrayLike, space: str, *, scale: float = 255.0) -> NDArray[np.float64]:
    """Points of ``space`` ("lab", "din99", "perceptual") to sRGB in ``[0, scale]``
    (gamut-clipped)."""
    lab = din99_to_lab(points) if _POINTS[space] == "din99" else np.asarray(points, np.float64)
    return lab_to_rgb(lab, scale=scale)


def ciede2000(lab1: ArrayLike, lab2: ArrayLike) -> NDArray[np.float64]:
    """CIEDE2000 color difference (kL = kC = kH = 1), as in Sharma, Wu and Dalal (2005).

    Parameters
    ----------
    lab1, lab2 : (..., 3) arrays
        CIELAB colors, broadcast against each other.

    Returns
    -------
    (...) float64 ndarray

    Examples
    --------
    >>> float(ciede2000([50.0, 2.6772, -79.7751], [50.0, 0.0, -82.7485]).round(4))
    2.0425
    """
    x = np.asarray(lab1, np.float64)
    y = np.asarray(lab2, np.float64)
    l1, a1, b1 = x[..., 0], x[..., 1], x[..., 2]
    l2, a2, b2 = y[..., 0], y[..., 1], y[..., 2]
    c_bar = 0.5 * (np.hypot(a1, b1) + np.hypot(a2, b2))
    c7 = c_bar**7
    g = 0.5 * (1.0 - np.sqrt(c7 / (c7 + 25.0**7)))
    a1p, a2p = (1.0 + g) * a1, (1.0 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360.0
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360.0
    zero = (c1p * c2p) == 0
    dh = h2p - h1p
    dh = np.where(dh > 180.0, dh - 360.0, np.where(dh < -180.0, dh + 360.0, dh))
    dh = np.where(zero, 0.0, dh)
    d_l, d_c = l2 - l1, c2p - c1p
    d_h = 2.0 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh) / 2.0)
    l_bar, cp_bar = 0.5 * (l1 + l2), 0.5 * (c1p + c2p)
    h_sum = h1p + h2p
    h_bar = np.where(
        np.abs(h1p - h2p) <= 180.0,
        h_sum / 2.0,
        np.where(h_sum < 360.0, (h_sum + 360.0) / 2.0, (h_sum - 360.0) / 2.0),
    )
    h_bar = np.where(zero, h_sum, h_bar)
    t = (
        1.0
        - 0.17 * np.cos(np.radians(h_bar - 30.0))
        + 0.24 * np.cos(np.radians(2.0 * h_bar))
        + 0.32 * np.cos(np.radians(3.0 * h_bar + 6.0))
        - 0.20 * np.cos(np.radians(4.0 * h_bar - 63.0))
    )
    d_theta = 30.0 * np.exp(-(((h_bar - 275.0) / 25.0) ** 2))
    cp7 = cp_bar**7
    r_c = 2.0 * np.sqrt(cp7 / (cp7 + 25.0**7))
    l50 = (l_bar - 50.0) ** 2
    s_l = 1.0 + 0.015 * l50 / np.sqrt(20.0 + l50)
    s_c = 1.0 + 0.045 * cp_bar
    s_h = 1.0 + 0.015 * cp_bar * t
    r_t = -np.sin(np.radians(2.0 * d_theta)) * r_c
    tl, tc, th = d_l / s_l, d_c / s_c, d_h / s_h
    return np.sqrt(np.maximum(tl * tl + tc * tc + th * th + r_t * tc * th, 0.0))
