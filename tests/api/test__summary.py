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


def test_the_kept_run_is_settled_on_the_cells(uint16_photo: NDArray[np.uint16]) -> None:
    """The kept attempt goes on, on the cells, until a weighted Lloyd update of the cell
    means (brute force) moves no center more than epsilon / SUMMARY_SETTLE."""
    from daskquant._api._fit import SUMMARY_SETTLE, _cell_seeds, _settle
    from daskquant._engine._attempts import Attempt, best_of
    from daskquant._engine._lloyd import repair_distinct
    from daskquant._engine._sources import PixelSource
    from daskquant._engine._summary import Grid, summary_graph

    px = uint16_photo.reshape(-1, 3).astype(np.float64)
    low, high = px.min(axis=0), px.max(axis=0)
    grid = Grid.over(low, high, integral=True, max_cells=2000)  # coarse: settling matters
    pixels = PixelSource(da.from_array(uint16_photo, chunks=(64, 64, 3)), channels=3, alpha=None)
    seeds = _cell_seeds(summary_graph(pixels, grid).compute(scheduler="sync"), low, high)
    eps = 257.0
    lloyd = {"max_iter": 200, "epsilon": eps, "repair": repair_distinct}
    run, _ = best_of(seeds, 8, [Attempt("k-means++", 7)], **lloyd)
    settled = _settle(
        seeds, run, max_iter=200, epsilon=eps / SUMMARY_SETTLE, repair=repair_distinct
    )
    means, weights = seeds.points
    assert settled.converged and settled.n_iter > run.n_iter

    def step(centers: NDArray[np.float64]) -> NDArray[np.float64]:
        labels = ((means[:, None] - centers[None]) ** 2).sum(axis=2).argmin(axis=1)
        w = np.bincount(labels, weights, minlength=8)
        return (
            np.stack([np.bincount(labels, weights * means[:, j], 8) for j in range(3)], 1)
            / w[:, None]
        )

    moved = np.sqrt(((step(settled.centers) - settled.centers) ** 2).sum(axis=1)).max()
    assert moved <= eps / SUMMARY_SETTLE
    assert np.sqrt(((step(run.centers) - run.centers) ** 2).sum(axis=1)).max() > moved
