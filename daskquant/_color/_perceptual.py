"""The perceptual mode (``colorspace="perceptual"``): DIN99 k-means, labels by CIEDE2000.

The fit clusters in DIN99 exactly as ``"din99"`` does (seeding, attempts, Lloyd updates to
a fixed point); then it judges by CIEDE2000, the color difference the quality figures
report. A color's label is the CIEDE2000-nearest of its ``CANDIDATES`` nearest palette
colors in DIN99 (:func:`perceptual_labels`; ties go to the DIN99-nearer, then the lower
index), and the fit ends with up to ``REFINE_ROUNDS`` updates in which every free center
becomes the DIN99 mean of the colors so labelled (:func:`refine_centers`). Both run on the
distinct colors of an 8-bit image (its exact histogram), so they cost O(distinct colors x
K), not O(pixels), and the labels of a pixel depend on its color alone, never on the
chunking.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from daskquant._color._spaces import (
    ciede2000,
    din99_to_lab,
    from_space,
    lab_to_din99,
    rgb_to_lab,
    to_space,
)

__all__ = ["CANDIDATES", "REFINE_ROUNDS", "perceptual_labels", "refine_centers"]

CANDIDATES = 4  # DIN99-nearest palette colors among which CIEDE2000 chooses
REFINE_ROUNDS = 10  # most center updates under those labels at the end of a fit
_ROWS = 1 << 15  # colors labelled at once: bounds the (rows, K) distance matrix


def perceptual_labels(
    colors: NDArray, work: NDArray[np.float64], *, scale: float = 255.0
) -> NDArray[np.intp]:
    """The label of each sRGB color: the CIEDE2000-nearest of its ``CANDIDATES`` nearest
    palette colors in DIN99.

    Parameters
    ----------
    colors : (M, 3) array
        sRGB colors in ``[0, scale]``.
    work : (K, 3) float64 ndarray
        The palette's colors (as stored) in DIN99.

    Returns
    -------
    (M,) intp ndarray
    """
    flat = np.asarray(colors).reshape(-1, 3)
    work = np.asarray(work, np.float64)
    pal_lab = din99_to_lab(work)
    k = work.shape[0]
    c = min(CANDIDATES, k)
    out = np.empty(flat.shape[0], np.intp)
    for start in range(0, flat.shape[0], _ROWS):
        lab = rgb_to_lab(flat[start : start + _ROWS], scale=scale)
        din = lab_to_din99(lab)
        d = np.zeros((din.shape[0], k))
        for j in range(3):
            t = din[:, j, None] - work[None, :, j]
            d += t * t
        idx = (
            np.argpartition(d, c - 1, axis=1)[:, :c]
            if c < k
            else np.tile(np.arange(k), (din.shape[0], 1))
        )
        near = np.take_along_axis(d, idx, axis=1)
        order = np.lexsort((idx, near), axis=1)  # by distance, then index
        idx = np.take_along_axis(idx, order, axis=1)
        e = ciede2000(lab[:, None, :], pal_lab[idx])
        out[start : start + _ROWS] = idx[np.arange(idx.shape[0]), np.argmin(e, axis=1)]
    return out


def refine_centers(
    colors: NDArray[np.uint8],
    counts: NDArray[np.int64],
    centers: NDArray[np.float64],
    *,
    n_pinned: int = 0,
    rounds: int = REFINE_ROUNDS,
) -> NDArray[np.float64]:
    """DIN99 centers updated under CIEDE2000 labels: each round labels the distinct
    ``colors`` (8-bit sRGB, with their pixel ``counts``) by :func:`perceptual_labels`
    against the palette the centers give (rounded to 8 bits, as stored), then moves each
    free center to the DIN99 mean of its colors (a center without colors stays); it stops
    when the labels no longer change. The first ``n_pinned`` centers never move."""
    points = to_space(colors, "din99")
    weights = counts.astype(np.float64)
    k = centers.shape[0]
    current = np.asarray(centers, np.float64).copy()
    previous: NDArray[np.intp] | None = None
    for _ in range(rounds):
        labels = perceptual_labels(colors, stored_din99(current))
        if previous is not None and np.array_equal(labels, previous):
            break
        previous = labels
        w = np.bincount(labels, weights, minlength=k)
        sums = np.stack([np.bincount(labels, weights * points[:, j], k) for j in range(3)], 1)
        new = np.where(w[:, None] > 0, sums / np.maximum(w, 1.0)[:, None], current)
        new[:n_pinned] = current[:n_pinned]
        current = new
    return current


def stored_din99(centers: NDArray[np.float64]) -> NDArray[np.float64]:
    """DIN99 centers -> the DIN99 points of the 8-bit palette they are stored as."""
    palette = np.clip(np.rint(from_space(centers, "din99")), 0, 255).astype(np.uint8)
    return to_space(palette, "din99")
