"""Quality of a quantized image against its input: PSNR and mean CIEDE2000, one pass.

Each block compares its pixels with the palette colors its labels pick; the per-block sums are
combined in a tree. For integer images the sums are exact integers (squared errors exactly;
CIEDE2000 in fixed point, 2^-20 units per pixel), so the numbers do not depend on the
chunking; float images sum in float64.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import dask
import dask.array as da
import numpy as np
from numpy.typing import ArrayLike, NDArray

from daskquant._color._spaces import ciede2000, rgb_to_lab
from daskquant._engine._dask import tree_reduce
from daskquant._errors import InvalidParameterError
from daskquant._io._layout import Alpha, Layout, as_image

__all__ = ["QUALITY_MAX_PIXELS", "delta_e", "delta_e_mean", "psnr_of", "quality"]

# Images up to this size get the quality pass by default (the CLI and quantize() decide).
# Measured: 1.3 s for a 4.2-megapixel photo mosaic on 2 busy cores (about 0.6 core-seconds
# per megapixel, most of it CIEDE2000), so 2^24 pixels (16.7 MP) add about 5 s on 2 cores;
# larger images ask for it explicitly.
QUALITY_MAX_PIXELS = 1 << 24
_FIXED = float(1 << 20)  # CIEDE2000 fixed-point scale
_SLICE = 1 << 18


@dataclass(frozen=True)
class _Sums:
    sse: int | float  # squared errors over pixels and clustered channels
    delta_e: int | float  # CIEDE2000 sum (fixed point for integer images)
    n: int  # pixels compared

    def __add__(self, other: _Sums) -> _Sums:
        return _Sums(self.sse + other.sse, self.delta_e + other.delta_e, self.n + other.n)


def _combine(*parts: _Sums) -> _Sums:
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    return total


def _block_sums(
    block: NDArray,
    labels: NDArray,
    palette: NDArray,
    *,
    layout: Layout,
    exact: bool,
    scale: float | None,
) -> _Sums:
    flat = block.reshape(-1, block.shape[-1])
    lab = labels.reshape(-1)
    if layout.alpha is not None:  # fully transparent pixels are not part of the result
        keep = flat[:, layout.alpha] != 0
        flat, lab = flat[keep], lab[keep]
    sse: int | float = 0 if exact else 0.0
    de: int | float = 0 if exact else 0.0
    for start in range(0, flat.shape[0], _SLICE):
        px = flat[start : start + _SLICE, : layout.channels]
        out = palette[lab[start : start + _SLICE]]
        if exact:
            d = px.astype(np.int64) - out.astype(np.int64)
            sse += int(np.einsum("ij,ij->", d, d))
        else:
            f = px.astype(np.float64) - out.astype(np.float64)
            sse += float(np.einsum("ij,ij->", f, f))
        if scale is not None:
            e = delta_e(px, out, scale=scale)
            if exact:
                de += int(np.rint(e * _FIXED).astype(np.int64).sum())
            else:
                de += float(e.sum())
    return _Sums(sse, de, int(flat.shape[0]))


def quality(
    image: ArrayLike | da.Array | Sequence[ArrayLike | da.Array],
    labels: ArrayLike | da.Array | Sequence[ArrayLike | da.Array],
    palette: ArrayLike,
    *,
    chunks: tuple[int, ...] | int | None = None,
    alpha: Alpha = "auto",
) -> dict[str, float]:
    """PSNR and mean CIEDE2000 of a quantized image against its input, in one pass.

    Parameters
    ----------
    image : (H, W), (H, W, C) or (N, H, W, C) ndarray or dask array, or a list of them
        The input. Alpha is not compared; fully transparent pixels are left out. A list
        (a collection sharing one palette) is measured as one set of pixels.
    labels : (H, W) or (N, H, W) integer array or dask array, or a list of them
        Palette indices, for example from :func:`daskquant.apply_palette` (lazy is fine).
    palette : (K, C) array
        The colors written for the labels, in the image's values (``fit.palette``).
    chunks : int or tuple, optional
        Spatial chunk size for NumPy input.
    alpha : int, None or "auto"
        Which channel is alpha: its index (moved last), None (none is), or "auto"
        (default): the last of 2 (gray + alpha) or 4 (RGBA) channels, none otherwise. A
        4-band image of data (RGB + near-infrared) needs ``alpha=None``.

    Returns
    -------
    dict
        ``psnr``: 10 log10(peak^2 / MSE) in dB over every pixel and color channel, the peak
        being the dtype's maximum (1 for floats; inf for a perfect match); ``mse``;
        ``ciede2000``: the mean CIEDE2000 difference (sRGB, D65; NaN for signed integer
        images and for images that are not gray or RGB, such as multispectral bands);
        ``n_pixels``.

    Examples
    --------
    >>> import numpy as np, daskquant as dq
    >>> img = np.zeros((4, 4, 3), np.uint8); img[2:] = 200
    >>> q = dq.quality(img, (img[..., 0] > 0).astype(np.uint8), [[0, 0, 0], [200, 200, 190]])
    >>> round(q["mse"], 4), round(q["ciede2000"], 3)
    (16.6667, 2.516)
    """
    parts, setup = _tasks(_pairs(image, labels), palette, chunks=chunks, alpha=alpha)
    (total,) = dask.compute(tree_reduce(parts, _combine))
    return _measures(total, setup)


# What every image of one measurement shares: dtype, layout, palette (K, C), whether the
# sums are exact integers, the peak value, and the scale to Lab (None: no CIEDE2000).
_Setup = tuple[np.dtype, Layout, NDArray, bool, float, float | None]


def _pairs(image: Any, labels: Any) -> list[tuple[Any, Any]]:
    """(image, labels) of the one image, or of each image of a list (a collection)."""
    many = isinstance(image, (list, tuple))
    images: list[Any] = list(image) if many else [image]
    label_list: list[Any] = list(labels) if many else [labels]
    if len(images) != len(label_list) or not images:
        raise InvalidParameterError(
            f"labels: give one label array per image ({len(images)} images, "
            f"{len(label_list)} label arrays)"
        )
    return list(zip(images, label_list, strict=True))


def _tasks(
    pairs: list[tuple[Any, Any]],
    palette: ArrayLike,
    *,
    chunks: tuple[int, ...] | int | None,
    alpha: Alpha,
) -> tuple[list[Any], _Setup]:
    """The per-block sums of every image (lazy), and what the images share."""
    parts: list[Any] = []
    setup = None
    for img, lab in pairs:
        arr, layout = as_image(img, chunks=chunks, alpha=alpha)
        if setup is None:
            setup = _setup(arr, layout, palette)
        elif (arr.dtype, layout) != setup[:2]:
            raise InvalidParameterError(
                "image: the images of a collection must share dtype and channels"
            )
        parts += _block_tasks(arr, layout, lab, *setup[2:])
    assert setup is not None
    return parts, setup


def _measures(total: _Sums, setup: _Setup) -> dict[str, float]:
    """PSNR, MSE, mean CIEDE2000 and pixel count from the sums over every block."""
    _, layout, _, exact, peak, scale = setup
    n = max(total.n, 1)
    mse = float(total.sse) / (n * layout.channels)
    de = float(total.delta_e) / (_FIXED if exact else 1.0) / n if scale is not None else math.nan
    return {
        "psnr": psnr_of(total.sse, n * layout.channels, peak),
        "mse": mse,
        "ciede2000": de,
        "n_pixels": float(total.n),
    }


def delta_e(px: NDArray, out: NDArray, *, scale: float) -> NDArray[np.float64]:
    """CIEDE2000 of each pixel (N, C) of ``px`` against ``out``, both RGB (or gray, C = 1)
    in ``[0, scale]``."""
    if px.shape[1] == 1:
        px, out = np.repeat(px, 3, axis=1), np.repeat(out, 3, axis=1)
    return ciede2000(rgb_to_lab(px, scale=scale), rgb_to_lab(out, scale=scale))


def delta_e_mean(e: NDArray[np.float64], weights: NDArray[np.int64], *, exact: bool) -> float:
    """The mean CIEDE2000 of values ``e`` counted ``weights`` times each, summed as
    :func:`quality` sums them (fixed point for integer images)."""
    n = max(int(weights.sum()), 1)
    if exact:
        return float(int(np.dot(np.rint(e * _FIXED).astype(np.int64), weights))) / _FIXED / n
    return float(np.dot(e, weights)) / n


def psnr_of(sse: int | float, n_values: int, peak: float) -> float:
    """PSNR in dB of ``sse``, the squared errors summed over ``n_values`` values (pixels
    times channels): 10 log10(peak^2 / MSE), inf for a perfect match."""
    mse = float(sse) / max(n_values, 1)
    return 10.0 * math.log10(peak * peak / mse) if mse > 0 else math.inf


def _setup(arr: da.Array, layout: Layout, palette: ArrayLike) -> _Setup:
    pal = np.asarray(palette)
    if pal.ndim == 1 and layout.channels == 1:
        pal = pal[:, None]
    if pal.ndim != 2 or pal.shape[1] != layout.channels or pal.dtype.kind not in "uif":
        raise InvalidParameterError(
            f"palette must be a numeric (K, {layout.channels}) array for this image, got "
            f"{pal.dtype} {pal.shape}"
        )
    dtype = arr.dtype
    exact = dtype.kind in "ui" and pal.dtype.kind in "ui"
    peak = 1.0 if dtype.kind == "f" else float(np.iinfo(dtype).max)
    # CIEDE2000 compares colors: gray or RGB, not other bands
    scale = None if dtype.kind == "i" or layout.channels not in (1, 3) else peak
    return dtype, layout, pal, exact, peak, scale


def _block_tasks(
    arr: da.Array,
    layout: Layout,
    labels: ArrayLike | da.Array,
    pal: NDArray,
    exact: bool,
    peak: float,
    scale: float | None,
) -> list[Any]:
    lab = labels if isinstance(labels, da.Array) else da.from_array(np.asarray(labels))
    if tuple(lab.shape) != tuple(arr.shape[:-1]) or lab.dtype.kind not in "ui":
        raise InvalidParameterError(
            f"labels must be an integer array of shape {tuple(arr.shape[:-1])} (the image's "
            f"pixels), got {lab.dtype} {tuple(lab.shape)}"
        )
    lab = lab.rechunk(arr.chunks[:-1])
    fn = dask.delayed(partial(_block_sums, layout=layout, exact=exact, scale=scale), pure=True)
    shared = dask.delayed(pal, pure=True)
    return [
        fn(b, lb, shared)
        for b, lb in zip(
            arr.to_delayed().ravel(), lab[..., None].to_delayed().ravel(), strict=True
        )
    ]
