"""The summary path (method="summary"): a pixel-level fixed point, deterministic."""

from __future__ import annotations

import dask.array as da
import numpy as np
from numpy.typing import NDArray

import daskquant as dq


def _lloyd_step(px: NDArray[np.float64], centers: NDArray[np.float64]) -> NDArray[np.float64]:
    d = ((px[:, None, :] - centers[None]) ** 2).sum(axis=2)
    labels = d.argmin(axis=1)
    return np.array([px[labels == j].mean(axis=0) for j in range(centers.shape[0])])


def test_summary_is_pixel_fixed_point(uint16_photo: NDArray[np.uint16]) -> None:
    fit = dq.fit_palette(uint16_photo, 8, seed=3, method="summary", chunks=64)
    assert fit.method == "summary" and fit.converged
    px = uint16_photo.reshape(-1, 3).astype(np.float64)
    moved = np.sqrt(((_lloyd_step(px, fit.centers) - fit.centers) ** 2).sum(axis=1)).max()
    assert moved <= fit.epsilon
    pal = fit.palette.astype(np.float64)
    d = ((px[:, None, :] - pal[None]) ** 2).sum(axis=2)
    assert np.isclose(d.min(axis=1).sum(), fit.compactness, rtol=1e-12)
    best_pixels = min(
        dq.fit_palette(uint16_photo, 8, seed=3, method="pixels", attempts=4).compactness,
        dq.fit_palette(uint16_photo, 8, seed=4, method="pixels", attempts=4).compactness,
    )
    assert fit.compactness <= 1.02 * best_pixels


def test_summary_does_not_depend_on_chunking(
    uint16_photo: NDArray[np.uint16],
) -> None:
    a = dq.fit_palette(uint16_photo, 8, seed=5, chunks=64, method="summary")
    b = dq.fit_palette(uint16_photo, 8, seed=5, chunks=(50, 90), method="summary")
    assert a.method == "summary" and a.attempts == 4
    np.testing.assert_array_equal(a.centers, b.centers)
    np.testing.assert_array_equal(a.counts, b.counts)


def test_summary_fit_passes_over_pixels(
    uint16_photo: NDArray[np.uint16], counting_scheduler
) -> None:  # type: ignore[no-untyped-def]
    # A default fit of a 16-bit image: the stats, the summary, the pixel Lloyd updates (one
    # per update) until converged, and the final partials (counts, compactness).
    # (A Dask array: NumPy input is first persisted on the workers, one compute more.)
    with counting_scheduler() as counter:
        fit = dq.fit_palette(da.from_array(uint16_photo, chunks=(64, 64, 3)), 8, seed=5)
    assert fit.method == "summary"
    assert counter.calls == 3 + fit.n_iter
    assert counter.calls <= 5
