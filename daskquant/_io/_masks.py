"""Leaving pixels out of a fit: nodata values and masks, carried as an alpha channel.

The engine already leaves out pixels whose alpha is 0 (fully transparent RGBA pixels), in
the fit, the counts and the compactness. A mask or a nodata value is turned into that same
channel: the image gets an alpha channel (or its own alpha is zeroed) where a pixel is
masked, so every path (exact histogram, pixels, perceptual spaces) leaves it out unchanged.

Rules
-----
nodata   a value, one value per band, or "nan". A pixel is nodata when EVERY band equals
         its nodata value (rasterio's dataset mask rule). With "nan", a pixel with NaN in
         any band is masked (a NaN cannot be clustered), and its NaNs are replaced by 0 so
         the range and NaN checks see only kept values.
mask     an (H, W) or (N, H, W) array (NumPy, Dask or Zarr) of the image's spatial shape;
         nonzero = keep, 0 = leave out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dask.array as da
import numpy as np
from numpy.typing import ArrayLike, NDArray

from daskquant._errors import InvalidParameterError
from daskquant._io._layout import Layout

__all__ = ["Nodata", "check_nodata", "masked_image"]

Nodata = float | int | str | Sequence[float] | None


def check_nodata(nodata: Nodata, channels: int) -> NDArray[np.float64] | str | None:
    """``nodata`` as None, "nan", or a (channels,) float64 array (one value broadcast)."""
    if nodata is None:
        return None
    if isinstance(nodata, str):
        if nodata.lower() == "nan":
            return "nan"
        raise InvalidParameterError(
            f"nodata must be a number, one number per band, 'nan' or None, got {nodata!r}"
        )
    try:
        values = np.atleast_1d(np.asarray(nodata, np.float64))
    except (TypeError, ValueError):
        raise InvalidParameterError(
            f"nodata must be a number, one number per band, 'nan' or None, got {nodata!r}"
        ) from None
    if values.ndim != 1 or values.size not in (1, channels):
        raise InvalidParameterError(
            f"nodata must be one value or {channels} (one per band), got {values.size}"
        )
    if np.isnan(values).any():
        return "nan"
    return np.broadcast_to(values, (channels,)).copy()


def masked_image(
    arr: da.Array,
    layout: Layout,
    *,
    nodata: Nodata = None,
    mask: ArrayLike | da.Array | None = None,
) -> tuple[da.Array, Layout]:
    """The image with its masked pixels made fully transparent (alpha 0).

    Parameters
    ----------
    arr : (H, W, C) or (N, H, W, C) dask array
        As :func:`._layout.as_image` returns it (channel axis in one chunk).
    layout : Layout
        Its channel layout.
    nodata : number, sequence of numbers, "nan" or None
        See the module docstring.
    mask : (H, W) or (N, H, W) array or None
        Nonzero = keep.

    Returns
    -------
    (H, W, C') dask array, Layout
        ``arr`` unchanged when there is nothing to mask; else with an alpha channel (its own,
        zeroed where masked, or a new last channel of the image's dtype).
    """
    values = check_nodata(nodata, layout.channels)
    keep = _mask_array(mask, arr) if mask is not None else None
    if values is None and keep is None:
        return arr, layout
    if keep is None:
        keep = da.ones(arr.shape[:-1], dtype=bool, chunks=arr.chunks[:-1])
    out = da.map_blocks(
        _masked_block,
        arr,
        keep[..., None],
        dtype=arr.dtype,
        chunks=(*arr.chunks[:-1], (layout.channels + 1,)),
        layout=layout,
        nodata=values,
        meta=np.empty((0,) * arr.ndim, arr.dtype),
    )
    return out, Layout(channels=layout.channels, alpha=layout.channels, squeeze=layout.squeeze)


def _mask_array(mask: Any, arr: da.Array) -> da.Array:
    """The mask as a bool dask array of the image's spatial shape and chunks."""
    spatial = tuple(arr.shape[:-1])
    if isinstance(mask, str):
        raise InvalidParameterError("mask: a file path is read by quantize; pass an array here")
    m = mask if isinstance(mask, da.Array) else da.from_array(mask, chunks=-1)
    if m.ndim == len(spatial) + 1 and m.shape[-1] == 1:
        m = m[..., 0]
    if tuple(m.shape) != spatial:
        raise InvalidParameterError(
            f"mask must have the image's shape {spatial} (nonzero = keep), got {tuple(m.shape)}"
        )
    return (m != 0).rechunk(arr.chunks[:-1])


def _masked_block(
    block: NDArray, keep: NDArray[np.bool_], *, layout: Layout, nodata: Any
) -> NDArray:
    color = block[..., : layout.channels]
    keep = keep[..., 0].copy()
    if layout.alpha is not None:
        keep &= block[..., layout.alpha] != 0
    if isinstance(nodata, str):  # "nan"
        bad = np.isnan(color).any(axis=-1) if color.dtype.kind == "f" else None
        if bad is not None:
            keep &= ~bad
            color = np.where(bad[..., None], 0, color).astype(block.dtype)
    elif nodata is not None:
        # Float data holds the value in its own precision (float32(0.1) != 0.1).
        value = nodata.astype(block.dtype) if block.dtype.kind == "f" else nodata
        keep &= ~(color == value).all(axis=-1)
    alpha = _opaque(block, layout)
    out = np.empty((*block.shape[:-1], layout.channels + 1), block.dtype)
    out[..., : layout.channels] = color
    out[..., layout.channels] = np.where(keep, alpha, 0)
    return out


def _opaque(block: NDArray, layout: Layout) -> NDArray:
    """The alpha of kept pixels: the image's own, else 1."""
    if layout.alpha is not None:
        return block[..., layout.alpha]
    return np.ones(block.shape[:-1], block.dtype)
