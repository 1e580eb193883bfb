"""Turning what the user passes into a chunked image with a known channel layout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import dask.array as da
import numpy as np
from numpy.typing import ArrayLike

from daskquant._errors import InputError, InvalidParameterError
from daskquant._io._chunks import array_chunks, default_chunks

__all__ = ["MAX_BANDS", "Alpha", "Layout", "as_image", "check_alpha"]

MAX_BANDS = 64  # channels (bands) an image may have, alpha included

# Which channel is alpha: its index, None (none is), or "auto": the file's own metadata
# (TIFF ExtraSamples, PNG/WebP alpha) and, for arrays, the rule of :func:`as_image`.
Alpha = int | None | Literal["auto"]


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


def check_alpha(alpha: object) -> Alpha:
    """``alpha`` if it is an index, None or "auto", else InvalidParameterError."""
    if alpha is None or alpha == "auto":
        return alpha
    if isinstance(alpha, (int, np.integer)) and not isinstance(alpha, bool):
        return int(alpha)
    raise InvalidParameterError(
        f"alpha must be a channel index, None (no alpha) or 'auto', got {alpha!r}"
    )


def as_image(
    image: ArrayLike | da.Array,
    *,
    chunks: tuple[int, ...] | int | None = None,
    alpha: Alpha = "auto",
) -> tuple[da.Array, Layout]:
    """A dask array (H, W, C) or (N, H, W, C), channel axis in one chunk, and its layout.

    Accepts (H, W), (H, W, C) and (N, H, W, C) NumPy or Dask arrays with C in 1..64, of
    any integer or float dtype. ``alpha`` says which channel is alpha: an index (that
    channel is moved last, so the clustered bands come first and keep their order), None,
    or "auto": the last channel of C = 2 (gray + alpha) and C = 4 (RGBA), none otherwise.
    A 4-band array that is RGB + near-infrared needs ``alpha=None``.
    """
    alpha = check_alpha(alpha)
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
    if not 1 <= c <= MAX_BANDS:
        raise InputError(
            f"image has {c} channels (last axis); expected 1 to {MAX_BANDS} bands. Pass a "
            "stack of images as (N, H, W, C)."
        )
    if any(s == 0 for s in image.shape):
        raise InputError(f"image is empty (shape {tuple(image.shape)})")
    index = _alpha_index(alpha, c)
    if index is not None and index != c - 1:  # alpha last, the bands in their order
        order = [i for i in range(c) if i != index] + [index]
        image = image[..., order]
    has_alpha = index is not None
    layout = Layout(channels=c - has_alpha, alpha=c - 1 if has_alpha else None, squeeze=squeeze)
    spec = None if chunks is None else array_chunks(chunks, image.ndim)
    if isinstance(image, da.Array):
        arr = image if spec is None else image.rechunk(spec)
        if arr.numblocks[-1] != 1:
            arr = arr.rechunk({arr.ndim - 1: -1})
    else:
        arr = da.from_array(image, chunks=spec or default_chunks(image.shape))
    return arr, layout


def _alpha_index(alpha: Alpha, c: int) -> int | None:
    """The index of the alpha channel among ``c``, or None."""
    if alpha == "auto":
        return c - 1 if c in (2, 4) else None
    if alpha is None:
        return None
    if c < 2 or not -c <= alpha < c:
        raise InvalidParameterError(
            f"alpha={alpha}: the image has {c} channel(s); alpha must be an index from 0 to "
            f"{c - 1} of an image with at least 2 (or None)"
        )
    return alpha % c
