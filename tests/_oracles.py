"""Reference implementations the tests compare daskquant with: brute force, in float64.

Shared by the test modules (which do not import each other); each is the plainest NumPy
version of what it checks, with no shortcut the code under test could share.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

import daskquant as dq

__all__ = ["assert_same_fit", "brute_compactness", "nearest"]


def nearest(pixels: NDArray, palette: NDArray) -> NDArray[np.intp]:
    """Brute-force nearest palette index of (..., C) pixels: full distance matrix, argmin.

    Distances are float64 sums of per-channel squares in channel order, and np.argmin takes
    the first minimum, so ties go to the lowest index. Returns an (...) array.
    """
    pal = np.asarray(palette, np.float64)
    flat = pixels.reshape(-1, pal.shape[1]).astype(np.float64)
    out = np.empty(flat.shape[0], np.intp)
    for start in range(0, flat.shape[0], 4096):
        x = flat[start : start + 4096]
        d = np.zeros((x.shape[0], pal.shape[0]))
        for j in range(pal.shape[1]):
            t = x[:, j, None] - pal[None, :, j]
            d += t * t
        out[start : start + 4096] = d.argmin(axis=1)
    return out.reshape(pixels.shape[: pixels.ndim - 1])


def brute_compactness(pixels: NDArray, centers: NDArray) -> float:
    """Sum over the pixels (..., C) of the squared distance to the nearest center, float64."""
    c = np.asarray(centers, np.float64)
    x = pixels.reshape(-1, c.shape[1]).astype(np.float64)
    return float(((x[:, None, :] - c[None]) ** 2).sum(axis=2).min(axis=1).sum())


def assert_same_fit(a: dq.FitResult, b: dq.FitResult) -> None:
    """Two fits are the same bit for bit: centers, compactness, iterations, convergence."""
    np.testing.assert_array_equal(a.centers, b.centers)
    assert a.centers.dtype == b.centers.dtype == np.float64
    assert a.compactness == b.compactness
    assert (a.n_iter, a.converged) == (b.n_iter, b.converged)
