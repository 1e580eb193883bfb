"""Real photographs to work on: scikit-image's bundled photos and mosaics built from them."""

from __future__ import annotations

import os
from functools import cache

import cv2
import numpy as np
import skimage.data
from numpy.typing import NDArray

__all__ = ["PHOTOS", "photo", "photo_mosaic"]

# Photographs (not drawings or renderings) shipped inside the scikit-image wheel.
PHOTOS = (
    "astronaut.png",
    "coffee.png",
    "chelsea.png",
    "rocket.jpg",
    "hubble_deep_field.jpg",
    "retina.jpg",
    "ihc.png",
    "motorcycle_left.png",
    "motorcycle_right.png",
)


# The wheel's own data folder. ``skimage.data.data_dir`` is a download cache instead when
# pooch is installed (napari brings it), and the bundled photos are not copied there.
BUNDLED = os.path.dirname(skimage.data.__file__)


@cache
def photo(name: str) -> NDArray[np.uint8]:
    """A bundled photograph as (H, W, 3) uint8 RGB, e.g. ``photo("astronaut.png")``."""
    path = os.path.join(BUNDLED, name)
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"bundled photo {path} is missing; reinstall scikit-image")
    return np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), np.uint8)


def photo_mosaic(height: int, width: int, *, seed: int = 0) -> NDArray[np.uint8]:
    """An (height, width, 3) uint8 RGB mosaic of real photographs at varied scales.

    Rows of tiles, each tile a random crop of a randomly chosen bundled photo scaled by a
    random factor, so the color statistics are those of real photos. Deterministic for a
    given seed.
    """
    rng = np.random.default_rng(seed)
    out = np.empty((height, width, 3), np.uint8)
    y = 0
    while y < height:
        th = min(int(rng.integers(256, 769)), height - y)
        x = 0
        while x < width:
            tw = min(int(rng.integers(256, 1025)), width - x)
            src = photo(PHOTOS[int(rng.integers(len(PHOTOS)))])
            cover = max(th / src.shape[0], tw / src.shape[1])
            scale = cover * float(rng.uniform(1.0, 1.6))
            size = (max(tw, round(src.shape[1] * scale)), max(th, round(src.shape[0] * scale)))
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
            tile = cv2.resize(src, size, interpolation=interp)
            oy = int(rng.integers(tile.shape[0] - th + 1))
            ox = int(rng.integers(tile.shape[1] - tw + 1))
            out[y : y + th, x : x + tw] = tile[oy : oy + th, ox : ox + tw]
            x += tw
        y += th
    return out
