"""Pictures of a result: before/after side by side, with a palette swatch underneath.

Built from a strided view of the chunked arrays, so only the small picture is ever held in
memory, never the full image.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import dask.array as da
import numpy as np
from numpy.typing import NDArray

from daskquant._errors import StoreError

__all__ = ["preview_image", "write_preview"]

SWATCH_HEIGHT = 48


def _to_rgb8(img: NDArray, low: float, high: float) -> NDArray[np.uint8]:
    if img.dtype != np.uint8:
        scale = 255.0 / max(high - low, 1e-12)
        img = np.clip((img.astype(np.float64) - low) * scale, 0, 255).round().astype(np.uint8)
    if img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
    return np.ascontiguousarray(img[..., :3])


def preview_image(
    image: da.Array,
    labels: da.Array,
    palette: NDArray,
    counts: NDArray[np.int64],
    *,
    channels: int,
    max_side: int = 1024,
) -> NDArray[np.uint8]:
    """(h, 2w, 3) uint8 RGB: the input (left), its quantized version (right), the palette.

    ``image`` is (H, W, C) or (N, H, W, C) (the first image of a stack is shown).
    """
    if image.ndim == 4:
        image, labels = image[0], labels[0]
    step = max(1, math.ceil(max(image.shape[:2]) / max_side))
    small, small_labels = da.compute(image[::step, ::step, :channels], labels[::step, ::step])
    if image.dtype == np.uint8:
        low, high = 0.0, 255.0
    else:
        low = float(min(np.min(small), np.min(palette)))
        high = float(max(np.max(small), np.max(palette)))
    pal = np.asarray(palette).reshape(len(palette), -1)
    before = _to_rgb8(small, low, high)
    after = _to_rgb8(pal[small_labels], low, high)
    pair = np.concatenate([before, after], axis=1)
    swatch = _swatch(_to_rgb8(pal[None], low, high)[0], counts, pair.shape[1])
    return np.concatenate([pair, swatch])


def _swatch(colors: NDArray[np.uint8], counts: NDArray[np.int64], width: int) -> NDArray[np.uint8]:
    # Each palette color gets a width proportional to its share of the pixels, largest first.
    out = np.full((SWATCH_HEIGHT, width, 3), 255, np.uint8)
    order = np.argsort(-counts, kind="stable")
    edges = np.round(np.cumsum(counts[order]) / max(int(counts.sum()), 1) * width).astype(int)
    start = 0
    for k, end in zip(order, edges, strict=True):
        out[:, start:end] = colors[k]
        start = end
    return out


def write_preview(path: str | Path, picture: NDArray[np.uint8]) -> Path:
    """Write an RGB picture as PNG (OpenCV writes BGR, so channels are swapped here)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR)):
        raise StoreError(f"{path}: cannot write the preview picture")
    return path
