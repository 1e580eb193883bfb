"""Pictures of a result: before and after side by side, with a palette swatch underneath.

Only the small picture is ever held in memory: the labels are read from the coarsest
OME-Zarr level that has the pixels wanted, or otherwise by keeping every ``step``-th row and
column of each chunk as it is read (block-wise, one chunk in memory per task). The "before"
half comes from the input recorded in the store, through its own pyramid where it has one;
if the input is gone or has changed, the picture shows the result alone.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import cv2
import dask
import dask.array as da
import numpy as np
import zarr
from numpy.typing import NDArray

from daskquant._color._display import RgbBands, display_bands, to_rgb8
from daskquant._errors import DaskQuantError, InvalidParameterError, StoreError
from daskquant._io._readers import level_count, open_image
from daskquant._io._storage import LocalLocation, location, storage_context
from daskquant._store._store import (
    ImageRecord,
    get_array,
    open_finished,
    palette_indices,
    pick_record,
)

__all__ = ["preview", "render", "store_preview", "write_preview"]

log = logging.getLogger("daskquant")

SWATCH_HEIGHT = 48
_MIN_LABEL_WIDTH = 44  # pixels a swatch color needs before its share is written on it


def preview(
    store: str | Path,
    path: str | Path,
    *,
    max_side: int = 1024,
    name: str | None = None,
    storage_options: dict[str, Any] | None = None,
    rgb_bands: RgbBands = None,
) -> Path | str:
    """Write a PNG picture of a finished store: before | after, palette swatch below.

    Parameters
    ----------
    store : path
        A complete daskquant store.
    path : path
        The PNG to write (replaced if it exists).
    max_side : int
        Longest side of each half, in pixels; the image is downsampled by a whole factor.
    name : str, optional
        Which image of a collection (default: the only one; required for several).
    storage_options : dict, optional
        Options of the filesystem of a URL ``store`` or ``path`` (and of the input it
        reads the "before" half from), as fsspec takes them; see the "Storage and URLs" page.
    rgb_bands : three ints, "R,G,B" or None
        Which bands are shown as red, green and blue (0-based, alpha not counted). None:
        the first three; an image of one or two bands is shown as gray (its first band).

    Returns
    -------
    Path or str
        ``path`` (a Path, or the URL).

    Raises
    ------
    StoreError
        The store is missing, not a daskquant store, or incomplete; or the PNG cannot be
        written.
    InvalidParameterError
        ``max_side`` below 1, or ``name`` unknown.
    """
    with storage_context(storage_options):
        group = open_finished(store)
        record = pick_record(group, name, store=store)
        return store_preview(group, record, path, max_side=max_side, rgb_bands=rgb_bands)


def store_preview(
    group: zarr.Group,
    record: ImageRecord,
    path: str | Path,
    *,
    max_side: int = 1024,
    before: da.Array | None = None,
    rgb_bands: RgbBands = None,
) -> Path | str:
    """:func:`preview` for an open store; ``before`` is the input if the caller has it."""
    if isinstance(max_side, bool) or not isinstance(max_side, int) or max_side < 1:
        raise InvalidParameterError(f"max_side must be a positive integer, got {max_side!r}")
    palette = np.asarray(get_array(group, "palette")[...])
    counts = np.asarray(get_array(group, "counts")[...])
    bands = display_bands(palette.reshape(len(palette), -1).shape[1], rgb_bands)
    full = palette_indices(group, record)
    h, w = full.shape[-2:]
    step = max(1, math.ceil(max(h, w) / max_side))
    labels = _small_labels(group, record, step)
    if before is None:
        before = _input_image(record, step)
        small = None if before is None else _strided(before, 1)
    else:
        small = _strided(before[0] if before.ndim == 4 else before, step)
    if small is not None and small.shape[:2] != labels.shape:
        small = cv2.resize(small, labels.shape[::-1], interpolation=cv2.INTER_AREA)
    picture = render(small, labels, palette, counts, rgb_bands=bands)
    return write_preview(path, picture)


def _strided(image: da.Array, step: int) -> NDArray:
    (small,) = dask.compute(image[::step, ::step])
    return np.asarray(small)


def _small_labels(group: zarr.Group, record: ImageRecord, step: int) -> NDArray:
    # Level k of an OME pyramid is the labels at every 2^k-th pixel: use the coarsest whose
    # factor divides the step, so the result equals striding the full resolution.
    k = 0
    while k + 1 < len(record.labels) and step % (2 ** (k + 1)) == 0:
        k += 1
    arr = palette_indices(group, record, k).to_dask()
    if arr.ndim == 3:  # a stack: its first image
        arr = arr[0]
    return _strided(arr, step // 2**k)


def _input_image(record: ImageRecord, step: int) -> da.Array | None:
    """The input at about 1/step of its size: from its pyramid where it has one."""
    if record.source is None:
        return None
    try:
        full = open_image(record.source, level=record.level)
        # The recorded shape has a channel axis even for gray images; compare the others.
        if record.shape and tuple(full.shape)[: len(record.shape) - 1] != record.shape[:-1]:
            log.warning("%s changed since it was quantized; preview shows the result", record)
            return None
        best, best_factor = full, 1.0
        for level in range(record.level + 1, level_count(record.source)):
            arr = open_image(record.source, level=level)
            factor = full.shape[0] / arr.shape[0]
            if factor <= step:
                best, best_factor = arr, factor
        if best.ndim == 4:
            best = best[0]
        sub = max(1, int(step // best_factor))  # at least the size wanted, then resized
        return best[::sub, ::sub]
    except (DaskQuantError, OSError) as exc:
        log.warning("cannot read %s (%s); preview shows the result only", record.source, exc)
        return None


def render(
    before: NDArray | None,
    labels: NDArray,
    palette: NDArray,
    counts: NDArray,
    *,
    rgb_bands: RgbBands = None,
) -> NDArray[np.uint8]:
    """(h, 2w, 3) uint8 RGB: ``before`` left, its quantized version right, swatch below.

    Parameters
    ----------
    before : (h, w[, C]) ndarray or None
        The downsampled input; None shows the quantized image alone, (h, w, 3).
    labels : (h, w) ndarray
        Palette index of each pixel at the same size.
    palette : (K, C) ndarray
        The palette, in the input's dtype.
    counts : (K,) ndarray
        Pixels per palette color in the whole result.
    rgb_bands : three ints, "R,G,B" or None
        The bands shown (see :func:`daskquant._color._display.display_bands`).
    """
    pal = np.asarray(palette).reshape(len(palette), -1)
    shown = list(display_bands(pal.shape[1], rgb_bands))
    masked = np.asarray(labels) >= len(pal)  # the reserved label of nodata= / mask=
    pal = pal[:, shown]
    after = pal[np.where(masked, 0, labels)]
    if before is not None:
        before = before.reshape(*before.shape[:2], -1)[..., shown]
    if pal.dtype == np.uint8:
        low, high = 0.0, 255.0
    else:  # stretch other dtypes over what is shown, so both halves get the same scale
        values = [pal] if before is None else [pal, before]
        low = float(min(np.min(v) for v in values))
        high = float(max(np.max(v) for v in values))
    shown_after = to_rgb8(after, low, high)
    shown_after[masked] = checkerboard(masked.shape)[masked]
    halves = [shown_after]
    if before is not None:
        halves.insert(0, to_rgb8(before, low, high))
    pair = np.concatenate(halves, axis=1)  # the recipe's side by side
    colors = to_rgb8(pal[None], low, high)[0]
    return np.concatenate([pair, swatch(colors, np.asarray(counts), pair.shape[1])])


def checkerboard(shape: tuple[int, ...], square: int = 8) -> NDArray[np.uint8]:
    """(h, w, 3) light and dark gray squares: how the preview shows masked pixels."""
    yy, xx = np.indices(shape[:2])
    light = ((yy // square + xx // square) % 2 == 0)[..., None]
    return np.where(light, np.uint8(204), np.uint8(153)).repeat(3, axis=-1)


def swatch(colors: NDArray[np.uint8], counts: NDArray, width: int) -> NDArray[np.uint8]:
    """A strip where each color is as wide as its share of the pixels, largest first, its
    share written on it where it is wide enough."""
    out = np.full((SWATCH_HEIGHT, width, 3), 255, np.uint8)
    total = max(int(counts.sum()), 1)
    order = np.argsort(-counts, kind="stable")
    edges = np.round(np.cumsum(counts[order]) / total * width).astype(int)
    start = 0
    for k, end in zip(order, edges, strict=True):
        out[:, start:end] = colors[k]
        if end - start >= _MIN_LABEL_WIDTH:
            luma = colors[k].astype(float) @ [0.299, 0.587, 0.114]
            ink = (0, 0, 0) if luma > 128 else (255, 255, 255)
            text = f"{100 * counts[k] / total:.0f}%"
            cv2.putText(
                out,
                text,
                (start + 4, SWATCH_HEIGHT // 2 + 5),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.45,
                ink,
                1,
                cv2.LINE_AA,
            )
        start = end
    return out


def write_preview(path: str | Path, picture: NDArray[np.uint8]) -> Path | str:
    """Write an RGB picture as PNG (OpenCV writes BGR, so channels are swapped here):
    through a local temporary file (OpenCV writes local files only), put in place whole."""
    where = location(path)
    if where.suffix.lower() != ".png":
        raise StoreError(f"{where}: cannot write the preview picture (it must be a .png)")
    try:
        with where.writing() as tmp:
            if not cv2.imwrite(str(tmp.local()), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR)):
                raise OSError("OpenCV could not write it")
    except OSError as exc:
        raise StoreError(
            f"{where}: cannot write the preview picture ({exc.strerror or exc}; check the folder)"
        ) from exc
    return where.local() if isinstance(where, LocalLocation) else str(where)
