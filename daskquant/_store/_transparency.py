"""Which pixels an export writes as transparent, and the labels it writes for them.

Two kinds of pixel are transparent in an export: the masked pixels of ``nodata=`` /
``mask=``, which hold the reserved label ``labels.nodata``, and the fully transparent
pixels of an input with an alpha channel (alpha 0: those the fit left out), which keep a
palette label in the store. Their alpha is read from the store: the quantized image's
alpha channel (``write_image``, OME-Zarr), else the ``alpha`` array written for them.

A paletted file holds one opacity per index, so both become one index (:func:`clear_index`)
marked transparent; other alpha values are written opaque.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dask.array as da
import numpy as np
import zarr
from numpy.typing import NDArray

from daskquant._store._store import ImageRecord, PaletteIndices, get_array, store_attrs

__all__ = ["ClearedLabels", "Transparency", "clear_index", "transparency"]

_Key = Callable[[slice], tuple[Any, ...]]


@dataclass(frozen=True)
class Transparency:
    """What makes a pixel of one stored image transparent: its label is ``reserved``, or
    the alpha read by ``alpha[key(rows)]`` is 0."""

    reserved: int | None = None
    alpha: zarr.Array | None = None
    key: _Key | None = None

    def rows(self, labels: NDArray, rows: slice) -> NDArray[np.bool_]:
        """Which pixels of ``labels``, the stored ``rows``, are transparent."""
        out = np.zeros(labels.shape, bool)
        if self.reserved is not None:
            out |= labels == self.reserved
        if self.alpha is not None and self.key is not None:
            out |= np.asarray(self.alpha[self.key(rows)]) == 0
        return out


def transparency(group: zarr.Group, record: ImageRecord) -> Transparency | None:
    """The transparent pixels of ``record``'s image, or None if it has none."""
    attrs = store_attrs(group)
    reserved = attrs.get("labels", {}).get("nodata")
    alpha, key = _alpha_source(group, record, attrs)
    if alpha is not None and key is not None:
        if not bool((da.from_zarr(alpha)[key(slice(None))] == 0).any().compute()):
            alpha = key = None  # every pixel opaque: no index spent on transparency
    if reserved is None and alpha is None:
        return None
    return Transparency(reserved, alpha, key)


def _alpha_source(
    group: zarr.Group, record: ImageRecord, attrs: dict[str, Any]
) -> tuple[zarr.Array | None, _Key | None]:
    """The array holding the image's alpha and how to index rows of it, or (None, None)."""
    if record.alpha:
        return get_array(group, record.alpha[0]), lambda rows: (rows,)
    channel = attrs.get("input", {}).get("alpha")
    if channel is None or not record.image:
        return None, None
    image = get_array(group, record.image[0])
    if str(attrs.get("layout", "")).startswith("ome-"):  # (C, H, W)
        return image, lambda rows: (channel, rows)
    return image, lambda rows: (rows, slice(None), channel)  # (H, W, C)


def clear_index(suffix: str, n_colors: int) -> int:
    """The index of transparent pixels in an export: K, one more PNG palette entry; in a
    TIFF the reserved label of masked pixels (255, or 65535 past 255 colors)."""
    if suffix == ".png":
        return n_colors
    return 255 if n_colors <= 255 else 65535


class ClearedLabels:
    """Stored palette indices read by rows (as :class:`PaletteIndices`), with ``clear``
    where a pixel is transparent."""

    def __init__(self, labels: PaletteIndices, seen: Transparency, clear: int) -> None:
        self.labels = labels
        self.seen = seen
        self.clear = clear
        self.shape = labels.shape
        self.chunks = labels.chunks
        self.ndim = labels.ndim
        self.dtype = np.dtype(np.uint8 if clear <= 255 and labels.dtype == np.uint8 else np.uint16)

    def __getitem__(self, rows: slice) -> NDArray:
        lab = self.labels[rows]
        return np.where(self.seen.rows(lab, rows), self.clear, lab).astype(self.dtype)
