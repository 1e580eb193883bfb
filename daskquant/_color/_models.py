"""Device color models to sRGB: CMYK, CIELAB under any white point, YCbCr, associated alpha.

Image files hold colors in the model they were made in; the readers turn them into what a
viewer shows, with these conversions (plain NumPy, element by element, the same value for
the same color wherever it is converted):

==============  ==============================================================================
model           conversion
==============  ==============================================================================
CMYK            the uncalibrated one (no ICC profile): R = (max - C)(max - K) / max, G and B
                likewise from M and Y, rounded to the nearest integer. The same as Pillow's
                CMYK to RGB; embedded ICC profiles are not applied.
CIELAB          L*a*b* relative to the file's white point (D50 unless it says otherwise, as
                ICC and Adobe's TIFF notes have it) to XYZ, adapted to D65 by the Bradford
                transform, then to sRGB (clipped in linear RGB). LittleCMS gives the same
                8-bit values to within 1.
YCbCr           TIFF's definition (TIFF 6.0, section 21): codes scaled by ReferenceBlackWhite,
                luma coefficients from YCbCrCoefficients (ITU-R BT.601 by default).
associated      (premultiplied) alpha: color = round(stored * max / alpha), clipped; color
alpha           0 where alpha is 0.
==============  ==============================================================================
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from daskquant._color._spaces import _RGB_FROM_XYZ, _XYZ_FROM_RGB, _f_inv, _gamma, _rows

__all__ = [
    "D50",
    "associated_to_straight",
    "cmyk_to_rgb",
    "lab_to_srgb",
    "white_from_chromaticity",
    "ycbcr_to_rgb",
]

# D50 as ICC profiles (and LittleCMS) write it, XYZ with Y = 1.
D50 = (0.9642, 1.0, 0.8249)
# Bradford cone response (Lam 1985), as used by ICC for chromatic adaptation.
_BRADFORD = np.array(
    [[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]]
)
_SLICE = 1 << 18  # pixels converted at once: bounds the temporaries of a large chunk
# sRGB's white, as its matrix has it (D65 to 4 digits): neutral Lab stays exactly neutral.
_SRGB_WHITE = _XYZ_FROM_RGB @ np.ones(3)


def cmyk_to_rgb(cmyk: NDArray, *, scale: float) -> NDArray:
    """Uncalibrated CMYK to RGB, in the input's dtype.

    Parameters
    ----------
    cmyk : (..., 4) unsigned integer or float ndarray
        Ink amounts, 0 (no ink) to ``scale`` (full ink).
    scale : float
        Full intensity: the dtype's maximum for integers, 1 for floats.

    Returns
    -------
    (..., 3) ndarray of ``cmyk.dtype``
        ``(scale - C) * (scale - K) / scale`` and likewise for M and Y; integers are rounded
        to the nearest (exactly: the product is an integer and ``scale`` odd, so there are
        no ties).

    Examples
    --------
    >>> cmyk_to_rgb(np.array([[0, 0, 0, 0], [255, 0, 0, 0], [0, 0, 0, 128]], np.uint8),
    ...             scale=255).tolist()
    [[255, 255, 255], [0, 255, 255], [127, 127, 127]]
    """
    if cmyk.dtype.kind == "f":
        k = scale - cmyk[..., 3:4]
        return ((scale - cmyk[..., :3]) * k / scale).astype(cmyk.dtype)
    wide = np.uint64 if cmyk.dtype.itemsize > 1 else np.uint32
    top = int(scale)
    ink: NDArray[np.uint64] = np.subtract(top, cmyk, dtype=wide)
    out = (ink[..., :3] * ink[..., 3:4] + top // 2) // top
    return out.astype(cmyk.dtype)


def white_from_chromaticity(x: float, y: float) -> tuple[float, float, float]:
    """The XYZ (Y = 1) of a white point given by its CIE xy chromaticity, as TIFF's
    WhitePoint tag does.

    Examples
    --------
    >>> [round(v, 4) for v in white_from_chromaticity(0.3127, 0.329)]
    [0.9505, 1.0, 1.0891]
    """
    return (x / y, 1.0, (1.0 - x - y) / y)


def _adaptation(white: tuple[float, float, float]) -> NDArray[np.float64]:
    """XYZ under ``white`` to XYZ under sRGB's D65, by the Bradford transform."""
    source = _BRADFORD @ np.asarray(white, np.float64)
    target = _BRADFORD @ _SRGB_WHITE
    return np.linalg.inv(_BRADFORD) @ np.diag(target / source) @ _BRADFORD


def lab_to_srgb(
    lab: ArrayLike, *, white: tuple[float, float, float] = D50, scale: float = 255.0
) -> NDArray[np.float64]:
    """CIELAB relative to ``white`` to sRGB in ``[0, scale]``, float64, not rounded.

    Parameters
    ----------
    lab : (..., 3) array
        L* in [0, 100], a* and b* signed.
    white : (X, Y, Z)
        The white point the values are relative to, Y = 1; D50 by default (ICC's, and
        what TIFF CIELAB files mean when they do not say).
    scale : float
        Full intensity of the result (255 for uint8, 65535 for uint16, 1 for floats).

    Returns
    -------
    (..., 3) float64 ndarray
        Colors outside the sRGB gamut are clipped in linear RGB.

    Examples
    --------
    >>> lab_to_srgb([[100.0, 0, 0], [0.0, 0, 0], [54.29, 80.8, 69.89]]).round().tolist()
    [[255.0, 255.0, 255.0], [0.0, 0.0, 0.0], [255.0, 0.0, 0.0]]
    """
    a = np.asarray(lab, np.float64)
    flat = a.reshape(-1, 3)
    out = np.empty(flat.shape, np.float64)
    # XYZ (white) -> XYZ (D65) -> linear sRGB, one matrix
    m = _RGB_FROM_XYZ @ _adaptation(white) @ np.diag(np.asarray(white, np.float64))
    for start in range(0, flat.shape[0], _SLICE):
        part = flat[start : start + _SLICE]
        fy = (part[:, 0] + 16.0) / 116.0
        fx = fy + part[:, 1] / 500.0
        fz = fy - part[:, 2] / 200.0
        xyz = np.stack([_f_inv(fx), _f_inv(fy), _f_inv(fz)], axis=1)
        lin = np.clip(np.stack(_rows(m, xyz), axis=1), 0.0, 1.0)
        out[start : start + _SLICE] = _gamma(lin) * scale
    return out.reshape(a.shape)


def ycbcr_to_rgb(
    ycbcr: ArrayLike,
    *,
    coefficients: tuple[float, float, float] = (0.299, 0.587, 0.114),
    reference: tuple[float, ...] = (0.0, 255.0, 128.0, 255.0, 128.0, 255.0),
    scale: float = 255.0,
) -> NDArray[np.float64]:
    """YCbCr codes to RGB in ``[0, scale]`` (clipped, not rounded), as TIFF defines them.

    Parameters
    ----------
    ycbcr : (..., 3) array
        Y, Cb and Cr codes as stored.
    coefficients : (LumaRed, LumaGreen, LumaBlue)
        TIFF's YCbCrCoefficients; ITU-R BT.601 by default.
    reference : (Yblack, Ywhite, Cbblack, Cbwhite, Crblack, Crwhite)
        TIFF's ReferenceBlackWhite: the codes of black and white luma and of zero and
        full chroma. The default is full range (JPEG's JFIF).
    scale : float
        Full intensity: 255 for 8-bit codes.

    Examples
    --------
    >>> ycbcr_to_rgb([[255, 128, 128], [76.245, 84.97, 255.5]]).round().tolist()
    [[255.0, 255.0, 255.0], [255.0, 0.0, 0.0]]
    """
    a = np.asarray(ycbcr, np.float64)
    red, green, blue = coefficients
    yb, yw, cbb, cbw, crb, crw = reference
    chroma = np.floor(scale / 2)  # 127 for 8 bits
    y = (a[..., 0] - yb) * scale / (yw - yb)
    cb = (a[..., 1] - cbb) * chroma / (cbw - cbb)
    cr = (a[..., 2] - crb) * chroma / (crw - crb)
    r = cr * (2 - 2 * red) + y
    b = cb * (2 - 2 * blue) + y
    g = (y - blue * b - red * r) / green
    return np.clip(np.stack([r, g, b], axis=-1), 0.0, scale)


def associated_to_straight(color: NDArray, alpha: NDArray, *, scale: float) -> NDArray:
    """Premultiplied (associated-alpha) colors to straight ones, in ``color``'s dtype.

    Parameters
    ----------
    color : (..., C) ndarray
        Stored colors, each at most its pixel's alpha.
    alpha : (..., 1) ndarray
        Alpha of the same dtype and scale.
    scale : float
        Full intensity: the dtype's maximum for integers, 1 for floats.

    Returns
    -------
    (..., C) ndarray
        ``round(color * scale / alpha)``, at most ``scale``; 0 where alpha is 0.

    Examples
    --------
    >>> associated_to_straight(np.array([[[64, 0]], [[9, 0]]], np.uint8),
    ...                        np.array([[[128]], [[0]]], np.uint8), scale=255).tolist()
    [[[128, 0]], [[0, 0]]]
    """
    if color.dtype.kind == "f":
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(alpha > 0, color * scale / alpha, 0)
        return np.minimum(out, scale).astype(color.dtype)
    top = int(scale)
    c = color.astype(np.uint64)
    a = alpha.astype(np.uint64)
    safe = np.maximum(a, 1)
    out = np.where(a > 0, np.minimum((c * top + safe // 2) // safe, top), 0)
    return out.astype(color.dtype)
