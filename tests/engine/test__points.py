"""The in-memory sources travel: pickled, even with their caches full, they answer the same."""

from __future__ import annotations

import pickle

import dask.array as da
import numpy as np
from numpy.typing import NDArray

from daskquant._color._spaces import to_space
from daskquant._engine._points import HistogramSource, PointSource
from daskquant._engine._sources import PixelSource


def _same_partials(a: object, b: object, centers: NDArray) -> None:
    pa, pb = a.partials(centers), b.partials(centers)  # type: ignore[attr-defined]
    for x, y in zip(
        (pa.sums, pa.sq, pa.counts, pa.dist), (pb.sums, pb.sq, pb.counts, pb.dist), strict=True
    ):
        np.testing.assert_array_equal(x, y)


def test_sources_pickle_with_their_caches_full(astronaut: NDArray) -> None:
    pixels = PixelSource(da.from_array(astronaut, chunks=(100, 100, 3)), channels=3, alpha=None)
    hist = HistogramSource(pixels.histogram())
    lab = PointSource(to_space(hist.points, "lab"), hist.counts)
    rng = np.random.default_rng(0)
    for source, centers in (
        (hist, hist.points[rng.choice(hist.points.shape[0], 12)].astype(np.float64)),
        (lab, lab.points[rng.choice(lab.points.shape[0], 12)]),
    ):
        source.partials(centers)  # fills the boxes and the last centers
        assert source.labels_for(centers) is not None
        copy = pickle.loads(pickle.dumps(source))
        assert copy.labels_for(centers) is None  # the caches did not travel
        _same_partials(source, copy, centers)
        np.testing.assert_array_equal(source.labels_for(centers), copy.labels_for(centers))
    copy = pickle.loads(pickle.dumps(pixels))
    centers = np.array([[0.0, 0, 0], [200, 100, 50]])
    _same_partials(pixels, copy, centers)
