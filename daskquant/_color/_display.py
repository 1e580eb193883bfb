"""Colors as 8-bit RGB, for what people look at (PNG, TIFF colormaps, OME, previews).

Which bands are shown as red, green and blue (``rgb_bands``): the three given, or by
default the first three; an image of one or two bands is shown as gray (its first band).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from daskquant._errors import InvalidParameterError

__all__ = ["RgbBands", "display_bands", "rgb8_palette", "to_rgb8"]

RgbBands = Sequence[int] | str | None


def display_bands(channels: int, rgb_bands: RgbBands = None) -> tuple[int, ...]:
    """The bands shown as (R, G, B) of an image of ``channels`` bands (alpha excluded).

    Parameters
    ----------
    channels : int
        Clustered bands of the image.
    rgb_bands : three ints, "R,G,B", one int (shown as gray) or None
        Band indices (0-based); None: (0, 1, 2), or (0,) (gray) for one or two bands.
        What this returns is accepted again unchanged.

    Examples
    --------
    >>> display_bands(8), display_bands(8, "4,2,1"), display_bands(2), display_bands(1, (0,))
    ((0, 1, 2), (4, 2, 1), (0,), (0,))
    """
    if rgb_bands is None:
        return (0, 1, 2) if channels >= 3 else (0,)
    try:
        text = rgb_bands.split(",") if isinstance(rgb_bands, str) else list(rgb_bands)
        bands = tuple(int(b) for b in text)
    except (TypeError, ValueError):
        bands = ()
    if len(bands) not in (1, 3) or not all(0 <= b < channels for b in bands):
        raise InvalidParameterError(
            f"rgb_bands must be three band indices from 0 to {channels - 1} (R,G,B) or one "
            f"(gray), got "
            f"{rgb_bands!r}"
        )
    return bands


def rgb8_palette(
    palette: ArrayLike, dtype: np.dtype | type, *, rgb_bands: RgbBands = None
) -> NDArray[np.uint8]:
    """A (K, C) palette as (K, 3) uint8 RGB.

    Parameters
    ----------
    palette : (K, C) array
        Colors or bands (alpha excluded) in the image's dtype.
    dtype : dtype
        The image's dtype: integers are scaled from their full range (16-bit ``v`` becomes
        ``v / 257``, so 8-bit colors stored in 16 bits come back exactly); floats in [0, 1]
        are scaled by 255, other floats from the palette's own range.
    rgb_bands : three ints, "R,G,B" or None
        The bands shown (see :func:`display_bands`).

    Returns
    -------
    (K, 3) uint8 ndarray

    Examples
    --------
    >>> rgb8_palette([[0], [65535], [257 * 10]], np.uint16).tolist()
    [[0, 0, 0], [255, 255, 255], [10, 10, 10]]
    """
    pal = np.asarray(palette, np.float64)
    pal = pal.reshape(pal.shape[0], -1)
    pal = pal[:, list(display_bands(pal.shape[1], rgb_bands))]
    dtype = np.dtype(dtype)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        low, high = float(info.min), float(info.max)
    elif pal.size and pal.min() >= 0 and pal.max() <= 1:
        low, high = 0.0, 1.0
    else:
        low, high = float(pal.min(initial=0)), float(pal.max(initial=1))
    return to_rgb8(pal, low, high)


def to_rgb8(values: NDArray, low: float, high: float) -> NDArray[np.uint8]:
    """(..., C) values as (..., 3) uint8 RGB, ``low``..``high`` stretched over 0..255.

    uint8 values are kept as they are; one channel (gray) is repeated into three, and a
    fourth (alpha) dropped.

    Examples
    --------
    >>> to_rgb8(np.array([[0.0], [0.5], [1.0]]), 0.0, 1.0).tolist()
    [[0, 0, 0], [128, 128, 128], [255, 255, 255]]
    """
    img = np.asarray(values)
    if img.dtype != np.uint8:
        scaled = (img.astype(np.float64) - low) * (255.0 / max(high - low, 1e-12))
        img = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    if img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
    return np.ascontiguousarray(img[..., :3])
