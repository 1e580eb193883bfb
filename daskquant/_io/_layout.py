"""Turning what the user passes into a chunked image with a known channel layout."""

from __future__ import annotations

from dataclasses import dataclass

import dask.array as da
import numpy as np
from numpy.typing import ArrayLike

from daskquant._errors import InputError
from daskquant._io._chunks import array_chunks, default_chunks

__all__ = ["Layout", "as_image"]


@dataclass(frozen=True)
class Layout:
    """How the channels of an image are used.

    ``channels`` leading channels are clustered; ``alpha`` is the index of an alpha channel
    (carried, not clustered) or None; ``squeeze`` says the input had no channel axis.
    """

    channels: int
    alpha: int | None
    squeeze: bool

    @property
    def total(self) -> int:
        return self.channels + (self.alpha is not None)


def as_image(
    image: ArrayLike | da.Array, *, chunks: tuple[int, ...] | int | None = None
) -> tuple[da.Array, Layout]:
    """A dask array (H, W, C) or (N, H, W, C), channel axis in one chunk, and its layout.

    Accepts (H, W), (H, W, C) and (N, H, W, C) NumPy or Dask arrays with C in 1..4; C = 2 and
    C = 4 are gray + alpha and RGBA.
    """
    if not isinstance(image, da.Array):
        image = np.asarray(image)
    dtype = np.dtype(image.dtype)
    if dtype.kind not in "uif":
        raise InputError(
            f"image has dtype {dtype}, which is not numeric; pass an integer or float array"
        )
    ndim = image.ndim
    squeeze = ndim == 2
    if squeeze:
        image = image[..., None]
    elif ndim not in (3, 4):
        raise InputError(
            f"image has {ndim} dimensions; expected (H, W), (H, W, C) or (N, H, W, C)"
        )
    c = image.shape[-1]
    if not 1 <= c <= 4:
        raise InputError(
            f"image has {c} channels (last axis); expected 1 (gray), 2 (gray + alpha), "
            "3 (RGB) or 4 (RGBA). Pass a stack of images as (N, H, W, C)."
        )
    if any(s == 0 for s in image.shape):
        raise InputError(f"image is empty (shape {tuple(image.shape)})")
    has_alpha = c in (2, 4)
    layout = Layout(channels=c - has_alpha, alpha=c - 1 if has_alpha else None, squeeze=squeeze)
    spec = None if chunks is None else array_chunks(chunks, image.ndim)
    if isinstance(image, da.Array):
        arr = image if spec is None else image.rechunk(spec)
        if arr.numblocks[-1] != 1:
            arr = arr.rechunk({arr.ndim - 1: -1})
    else:
        arr = da.from_array(image, chunks=spec or default_chunks(image.shape))
    return arr, layout
