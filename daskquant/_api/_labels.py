"""Labelling: every pixel to its nearest palette color, lazily, per chunk.

Distances where nothing better applies; lookup tables for 8-bit colors (exact, no
per-pixel distances); ordered dithering from the pixel's position only, so chunks stay
independent.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import dask
import dask.array as da
import numpy as np
from numpy.typing import ArrayLike, NDArray

from daskquant._api._fit import (
    SharedTable,
    _check_int,
    label_dtype,
    stored_centers,
    to_palette,
)
from daskquant._color._dither import (
    Dither,
    bayer_size,
    check_dither,
    dither_spread,
    floyd_steinberg,
    ordered_dither,
)
from daskquant._color._palettes import MAX_COLORS
from daskquant._color._perceptual import perceptual_labels
from daskquant._color._spaces import (
    ColorSpace,
    check_colorspace,
    rgb_scale,
    to_space,
)
from daskquant._engine import _kernels as K
from daskquant._engine._codes import ColorCoding, coding_for
from daskquant._engine._dask import share_once
from daskquant._engine._lookup import Labeller, Points, distinct_labels, table_piece
from daskquant._engine._sources import integer_colors
from daskquant._errors import InvalidParameterError
from daskquant._io._layout import Alpha, Layout, as_image
from daskquant._io._masks import Nodata, masked_image
from daskquant._io._xarray import dataarray_pixels, is_dataarray, labels_like

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["apply_palette", "label_image", "masked_label", "palette_centers", "with_masked"]


def apply_palette(
    image: ArrayLike | da.Array,
    palette: ArrayLike,
    *,
    chunks: tuple[int, ...] | int | None = None,
    colorspace: ColorSpace = "rgb",
    dither: Dither = "none",
    nodata: Nodata = None,
    mask: ArrayLike | da.Array | None = None,
    alpha: Alpha = "auto",
) -> da.Array | xr.DataArray:
    """Label every pixel with the index of its nearest palette color. Lazy: computes nothing.

    Parameters
    ----------
    image : (H, W), (H, W, C) or (N, H, W, C) ndarray or dask array, or xarray DataArray
        A DataArray has dims (y, x[, band]) or (band, y, x) (see
        :func:`daskquant.quantize`); its own nodata (``rio.nodata``) is used when
        ``nodata`` is None, and the labels come back as a DataArray (below).
    palette : (K, C) array
        Colors in the image's channel order and values (alpha excluded); K up to 65535.
        A gray palette fits an RGB image and a (K, 3) palette with R = G = B a gray one.
        See :func:`daskquant.load_palette` for palettes from files and names.
    chunks : int or tuple, optional
        Spatial chunk size for NumPy input, or a rechunk of Dask input.
    colorspace : {"rgb", "lab", "din99"}
        Where "nearest" is measured: in the image's values, or in CIELAB or DIN99 (RGB input
        only; use the ``colorspace`` the palette was fitted in).
    dither : {"none", "bayer2", "bayer4", "bayer8", "floyd-steinberg"}
        Ordered dithering adds an n x n Bayer threshold to each pixel before the search:
        it depends only on the pixel's position, so the labels do not depend on the
        chunking. Its amplitude is the palette's spacing (see ``_dither.dither_spread``);
        integer pixels are rounded and clipped to their dtype after it. Floyd-Steinberg
        error diffusion needs the whole image in one chunk (``chunks=(H, W)``).
    nodata : number, sequence of numbers, "nan", "none" or None
        Pixels whose every band equals its nodata value (see :func:`fit_palette`) get the
        reserved label :func:`masked_label` instead of a palette index. None: a
        DataArray's own nodata, else none; "none": none.
    mask : (H, W) or (N, H, W) array, dask array or Zarr array, optional
        Nonzero = keep; 0 = the reserved label (as for ``nodata``).
    alpha : int, None or "auto"
        Which channel is alpha: its index (moved last), None (none is), or "auto"
        (default): the last of 2 (gray + alpha) or 4 (RGBA) channels, none otherwise. A
        4-band image of data (RGB + near-infrared) needs ``alpha=None``.

    Returns
    -------
    labels : (H, W) or (N, H, W) dask array, or (y, x) xarray DataArray
        A DataArray for a DataArray image: the labels on its y and x coordinates and its
        ``spatial_ref`` (so ``rio.crs`` and ``rio.transform()`` are the image's), with the
        reserved label as ``_FillValue`` where pixels were masked.
        uint8 for K <= 256, else uint16; ties go to the lowest index. The palette is first
        rounded to the image's dtype (as a store keeps it), so each label points at the
        nearest color the output shows. 8-bit images are
        labelled through lookup tables of their colors, with the same result as a search
        per pixel. Masked pixels (``nodata``, ``mask``) are 255 (uint8) or 65535 (uint16).
    """
    pixels, nodata = dataarray_pixels(image, nodata)
    arr, layout = as_image(pixels, chunks=chunks, alpha=alpha)
    centers = palette_centers(palette, layout)
    masked, masked_layout = masked_image(arr, layout, nodata=nodata, mask=mask)
    reserved = None
    if masked is arr:
        labels = label_image(arr, layout, centers, colorspace=colorspace, dither=dither)
    else:
        reserved = masked_label(centers.shape[0])
        labels = label_image(masked, masked_layout, centers, colorspace=colorspace, dither=dither)
        labels = with_masked(labels, arr, layout, masked, reserved)
    return labels_like(labels, image, nodata=reserved) if is_dataarray(image) else labels


def masked_label(n_colors: int) -> int:
    """The label of masked pixels (``nodata=``, ``mask=``): the largest value of the labels'
    dtype, 255 (K <= 255) or 65535, so K = 256 cannot be asked together with a mask."""
    value = int(np.iinfo(label_dtype(n_colors)).max)
    if n_colors > value:
        raise InvalidParameterError(
            f"n_colors={n_colors} leaves no label for masked pixels (nodata=, mask=); ask "
            f"for at most {value} colors"
        )
    return value


def with_masked(
    labels: da.Array, arr: da.Array, layout: Layout, masked: da.Array, reserved: int
) -> da.Array:
    """``labels`` with ``reserved`` where :func:`masked_image` left a pixel of ``arr`` out
    (its alpha made 0) that its own alpha kept: transparent pixels keep their label."""
    dropped = masked[..., -1] == 0
    if layout.alpha is not None:
        dropped &= arr[..., layout.alpha] != 0
    return da.where(dropped, labels.dtype.type(reserved), labels)


def palette_centers(palette: ArrayLike, layout: Layout) -> NDArray[np.float64]:
    """A user's palette as (K, C) float64 centers, checked against the image's channels.

    A (K, 1) gray palette is repeated for an RGB image; a (K, 3) palette whose colors are
    all gray (R = G = B) is taken as (K, 1) for a gray image.
    """
    centers = np.asarray(palette, np.float64)
    if centers.ndim == 1 and layout.channels == 1:
        centers = centers[:, None]
    if centers.ndim == 2 and centers.shape[1] == 1 and layout.channels == 3:
        centers = np.repeat(centers, 3, axis=1)
    if (
        centers.ndim == 2
        and centers.shape[1] == 3
        and layout.channels == 1
        and (centers == centers[:, :1]).all()
    ):
        centers = centers[:, :1].copy()
    if centers.ndim != 2 or centers.shape[1] != layout.channels:
        raise InvalidParameterError(
            f"palette must have shape (K, {layout.channels}) for this image, got {centers.shape}"
        )
    _check_int("palette length", centers.shape[0], 1, MAX_COLORS)
    if not np.isfinite(centers).all():
        raise InvalidParameterError("palette has NaN or inf values")
    return centers


# 8-bit images of at least this many pixels label through one full 2^24-entry table, built
# once in parallel pieces; smaller ones through a table of each block's own distinct colors
# (measurements in daskquant/_engine/_lookup.py: the full table pays for itself after
# ~10-30 blocks of 4 MP).
GLOBAL_TABLE_PIXELS = 1 << 27
_TABLE_PIECE = 1 << 20


def label_image(
    arr: da.Array,
    layout: Layout,
    centers: NDArray[np.float64],
    color_labels: tuple[NDArray[np.uint32], NDArray] | SharedTable | None = None,
    *,
    colorspace: ColorSpace = "rgb",
    dither: Dither = "none",
) -> da.Array:
    """Lazy labels of a prepared image (see :func:`apply_palette`).

    A table lookup where ``color_labels`` is known (every color of the image, from the
    histogram path of the fit, in the fit's colorspace, or the table itself, already on the
    workers where the fit ran on them) and there is no dithering; a table
    of colors for other 8-bit images; else nearest-center distances per pixel (in Lab after
    a per-block conversion in the perceptual spaces).
    """
    dither = check_dither(dither)
    space = check_colorspace(colorspace, arr.dtype, layout.channels)
    dtype = label_dtype(centers.shape[0])
    meta = np.empty((0,) * (arr.ndim - 1), dtype)
    # Nearest to the colors the output shows: the centers rounded to the image's dtype.
    stored = to_palette(centers, arr.dtype)
    centers = stored.astype(np.float64)
    work = stored_centers(stored, space)
    if dither == "floyd-steinberg":
        if space == "perceptual":
            raise InvalidParameterError(
                "dither='floyd-steinberg' diffuses the error to the nearest color, not the "
                "perceptual mode's CIEDE2000 choice; use colorspace='din99' with it, or an "
                "ordered dither ('bayer8')"
            )
        return _diffused(arr, layout, work, space=space, dtype=dtype, meta=meta)
    n = bayer_size(dither)
    opts: dict[str, Any] = {
        "channels": layout.channels,
        "n": n,
        "spread": dither_spread(centers) if n else 0.0,
    }
    shared: Any
    if color_labels is not None and n == 0:
        fn: Callable[..., NDArray] = partial(_block_lookup, **opts)
        if arr.dtype.kind == "f":  # fitted as 8-bit: its values are integers in 0..255
            arr = integer_colors(arr, channels=layout.channels, alpha=layout.alpha)
        if isinstance(color_labels, SharedTable):
            shared = color_labels.future
        else:
            codes, labels = color_labels
            shared = share_once(ColorCoding(layout.channels).table(codes, labels, dtype))
    elif coding_for(arr.dtype, layout.channels) is not None:
        if arr.size // arr.shape[-1] >= GLOBAL_TABLE_PIXELS:
            fn = partial(_block_lookup, **opts)
            shared = _full_table(work, channels=layout.channels, space=space, dtype=dtype)
        else:
            fn = partial(_block_distinct, space=space, dtype=dtype, **opts)
            shared = dask.delayed(work, pure=True)
    else:
        fn = partial(_block_labels, space=space, dtype=dtype, **opts)
        shared = dask.delayed(work, pure=True)
    return da.map_blocks(fn, arr, shared, drop_axis=arr.ndim - 1, dtype=dtype, meta=meta)


def _full_table(
    work: NDArray[np.float64], *, channels: int, space: ColorSpace, dtype: np.dtype
) -> Any:
    bins = ColorCoding(channels).bins
    fn = partial(
        table_piece,
        channels=channels,
        dtype=dtype,
        points=_points(space),
        labeller=_labeller(space),
    )
    piece = dask.delayed(fn, pure=True)
    shared = dask.delayed(work, pure=True)
    parts = [piece(a, min(a + _TABLE_PIECE, bins), shared) for a in range(0, bins, _TABLE_PIECE)]
    return dask.delayed(np.concatenate, pure=True)(parts)


def _block_pixels(
    block: NDArray, *, channels: int, n: int, spread: float, block_info: Any
) -> NDArray:
    """The block's clustered channels as (P, C) rows, after ordered dithering if asked."""
    px = block[..., :channels]
    if n:
        loc = block_info[0]["array-location"]
        px = ordered_dither(px, n, spread, loc[block.ndim - 3], loc[block.ndim - 2])
    flat = px.reshape(-1, channels)
    return flat.astype(np.float32) if flat.dtype == np.float16 else flat


def _block_labels(
    block: NDArray,
    centers: NDArray[np.float64],
    *,
    space: ColorSpace,
    dtype: np.dtype,
    block_info: Any = None,
    **opts: Any,
) -> NDArray:
    flat = _block_pixels(block, block_info=block_info, **opts)
    if space == "perceptual":
        labels = perceptual_labels(flat, centers, scale=rgb_scale(block.dtype))
        return labels.astype(dtype).reshape(block.shape[:-1])
    if space != "rgb":
        flat = to_space(flat, space, scale=rgb_scale(block.dtype))
    return K.assign_labels(flat, centers, dtype).reshape(block.shape[:-1])


def _block_distinct(
    block: NDArray,
    centers: NDArray[np.float64],
    *,
    space: ColorSpace,
    dtype: np.dtype,
    block_info: Any = None,
    **opts: Any,
) -> NDArray:
    flat = _block_pixels(block, block_info=block_info, **opts)
    labels = distinct_labels(
        flat, centers, dtype=dtype, points=_points(space), labeller=_labeller(space)
    )
    return labels.reshape(block.shape[:-1])


def _points(space: ColorSpace) -> Points | None:
    """How 8-bit colors become points of ``space`` for the lookup tables (None: as they are)."""
    return None if space == "rgb" else partial(to_space, space=space)


def _labeller(space: ColorSpace) -> Labeller | None:
    """The labels of the perceptual mode (CIEDE2000 among the DIN99-nearest palette
    colors); None: the nearest center."""
    return perceptual_labels if space == "perceptual" else None


def _block_lookup(
    block: NDArray, table: NDArray, *, block_info: Any = None, **opts: Any
) -> NDArray:
    flat = _block_pixels(block, block_info=block_info, **opts)
    return K.lookup_labels(flat, table).reshape(block.shape[:-1])


def _diffused(
    arr: da.Array,
    layout: Layout,
    work: NDArray[np.float64],
    *,
    space: ColorSpace,
    dtype: np.dtype,
    meta: NDArray,
) -> da.Array:
    if arr.numblocks[-3] != 1 or arr.numblocks[-2] != 1:
        raise InvalidParameterError(
            "dither='floyd-steinberg' is sequential over the whole image, so it runs only "
            f"on an image held in one chunk; this one has {arr.numblocks[-3]} x "
            f"{arr.numblocks[-2]} chunks. Pass chunks=(H, W) for an image that fits in "
            "memory, or use an ordered dither ('bayer8'), which works on any chunking."
        )
    fn = partial(_block_diffused, channels=layout.channels, space=space, dtype=dtype)
    shared = dask.delayed(work, pure=True)
    return da.map_blocks(fn, arr, shared, drop_axis=arr.ndim - 1, dtype=dtype, meta=meta)


def _block_diffused(
    block: NDArray,
    work: NDArray[np.float64],
    *,
    channels: int,
    space: ColorSpace,
    dtype: np.dtype,
) -> NDArray:
    px = block[..., :channels]
    images = px.reshape(-1, *px.shape[-3:])  # a stack: each image on its own
    out = np.empty(images.shape[:-1], dtype)
    for i, img in enumerate(images):
        points = to_space(img, space, scale=rgb_scale(block.dtype)) if space != "rgb" else img
        out[i] = floyd_steinberg(np.asarray(points, np.float64), work, dtype)
    return out.reshape(block.shape[:-1])
