"""Sources held in memory: distinct points with their pixel counts.

:class:`HistogramSource` holds the distinct colors of an 8-bit image (exact integer sums,
bit-identical to the pixel path), :class:`PointSource` their values in a perceptual space
(float64 sums taken in a fixed order: deterministic for every chunking of the image, since
the histogram is exact, but not integer-exact). Both answer the Lloyd driver's questions
(see ``_sources``) in O(distinct points), by the boxed exact search of ``_kernels``. They
pickle without their caches, so they can be sent to a worker.
"""

from __future__ import annotations

import itertools
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

from daskquant._engine import _kernels as K
from daskquant._engine._sources import Farthest, Histogram, Partials, combine_partials
from daskquant._engine._threads import pool

__all__ = ["HistogramSource", "PointSource", "WeightedPoints"]

_PARTS = 8  # box ranges per partials call: fixed, so float sums do not depend on threads


class WeightedPoints:
    """Distinct points held in memory with their pixel counts.

    Answers every source question in memory: partial sums by the boxed exact search of
    ``_kernels`` (points in Z-order boxes, box ranges on threads, combined in a fixed
    order), the farthest members of a cluster, a random pick and sample (k-means||), and
    the memberships of the last partials call. Subclasses set ``points`` (M, C), ``counts``
    (M,), ``channels`` and ``exact``.
    """

    points: NDArray
    counts: NDArray[np.int64]
    channels: int
    exact: bool
    _boxes: K.Boxes | None = None
    _last: NDArray[np.float64] | None = None  # the centers of the last partials call

    def __getstate__(self) -> dict[str, Any]:
        # The boxes and the last centers are caches of one process (rebuilt on first use);
        # the rest (points, counts, their Z-order) travels, so a source can go to a worker.
        state = self.__dict__.copy()
        state.pop("_boxes", None)
        state.pop("_last", None)
        return state

    @cached_property
    def order(self) -> NDArray[np.int64]:
        """The points' Z-order (:func:`~daskquant._engine._kernels.z_order`), computed once: every
        box size and the k-means++ seeding walk the points in it."""
        return K.z_order(self.points)

    def partials(self, centers: NDArray[np.float64], *, labels: Any = None) -> Partials:
        # Not for concurrent calls on one source (the Lloyd driver asks one at a time).
        centers = np.ascontiguousarray(centers, np.float64)
        size = K.box_size(centers.shape[0])
        if self._boxes is None or self._boxes.box != size:
            self._boxes = K.Boxes(self.points, self.counts, box=size, order=self.order)
        boxes = self._boxes
        edges = np.linspace(0, boxes.n_boxes, _PARTS + 1).astype(int)
        ranges = [(a, b) for a, b in itertools.pairwise(edges) if b > a]
        self._last = None  # the labels are being rewritten
        jobs = [pool(_PARTS).submit(K.boxed_partial_sums, boxes, centers, a, b) for a, b in ranges]
        parts = [Partials(*job.result()) for job in jobs]
        self._last = centers.copy()
        return combine_partials(*parts)

    def _counts_of(self, points: NDArray) -> NDArray[np.int64]:
        """Pixel count of each of the given distinct points."""
        rows = [np.flatnonzero((self.points == p).all(axis=1))[0] for p in points]
        return self.counts[np.asarray(rows, np.int64)]

    def farthest(
        self,
        centers: NDArray[np.float64],
        k: int,
        base: NDArray[np.float64],
        n: int,
        *,
        labels: Any = None,
    ) -> Farthest:
        if labels is None:
            labels = self.labels_for(centers)  # the last partials' memberships, if they fit
        d, points, _ = K.farthest_members(self.points, centers, k, base, n, labels=labels)
        return d, points, self._counts_of(points)

    def pick(self, key: int) -> NDArray[np.float64]:
        """One point drawn with probability proportional to its pixel count."""
        cum = np.cumsum(self.counts)
        u = np.random.default_rng(key).random() * cum[-1]
        return self.points[int(np.searchsorted(cum, u, side="right"))].astype(np.float64)

    def sample(
        self, centers: NDArray[np.float64] | None, scale: float, key: int
    ) -> NDArray[np.float64]:
        """Points kept as if each of their pixels were kept with the given probability."""
        p = np.full(self.points.shape[0], scale)
        if centers is not None:
            p = np.minimum(1.0, scale * K.min_distances(self.points, centers))
        kept = 1.0 - (1.0 - p) ** self.counts
        keep = np.random.default_rng(key).random(self.points.shape[0]) < kept
        return self.points[keep].astype(np.float64)

    def labels_for(self, centers: NDArray[np.float64]) -> NDArray[np.int32] | None:
        """Nearest-center label of every point, if the last partials used ``centers``
        (the boxes then hold exactly those memberships)."""
        if self._boxes is None or self._last is None or not np.array_equal(self._last, centers):
            return None
        return self._boxes.labels_in_input_order()


class HistogramSource(WeightedPoints):
    """The distinct colors of an 8-bit image weighted by their pixel counts, in memory.

    Every question costs O(distinct colors), not O(pixels), and the answers are bit-identical
    to :class:`PixelSource`'s: both searches find the exact nearest center and integer sums
    are exact.
    """

    def __init__(self, hist: Histogram) -> None:
        self.hist = hist
        self.points, self.counts = hist.colors, hist.counts
        self.channels = hist.channels
        self.exact = True

    def _counts_of(self, points: NDArray) -> NDArray[np.int64]:
        return self.hist.counts[np.searchsorted(self.hist.codes, self.hist.coding.encode(points))]


class PointSource(WeightedPoints):
    """Points (M, C) float64 with pixel counts (M,): the Lab values of an image's distinct
    colors.

    Memberships come from the exact boxed search of ``_kernels``, as on the 8-bit histogram
    path; the float64 sums are taken per fixed range of boxes and added in a fixed order,
    so they do not depend on the thread count.

    Parameters
    ----------
    points : (M, C) float64 ndarray
        Distinct points (distinct colors map to distinct Lab values).
    counts : (M,) int64 ndarray
        Pixels of each point.
    """

    exact = False

    def __init__(self, points: NDArray[np.float64], counts: NDArray[np.int64]) -> None:
        self.points = np.ascontiguousarray(points, np.float64)
        self.counts = np.ascontiguousarray(counts, np.int64)
        self.channels = self.points.shape[1]
