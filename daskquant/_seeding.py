"""Initial centers: OpenCV's random centers, greedy k-means++, and k-means||.

Random centers and k-means++ work on small, in-memory inputs (a bounding box, or distinct
colors with their pixel counts); k-means|| asks a source (``_sources``) a few questions and
needs no sample of the data in one process.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numba
import numpy as np
from numpy.typing import NDArray

from daskquant._errors import TooFewColorsError

__all__ = ["kmeans_parallel", "kmeans_plus_plus", "random_centers"]


def random_centers(
    low: NDArray[np.float64], high: NDArray[np.float64], n_centers: int, rng: np.random.Generator
) -> NDArray[np.float64]:
    """Centers drawn uniformly in the bounding box widened by 1/C on each side, as OpenCV.

    Parameters
    ----------
    low, high : (C,) float64 ndarray
        Per-channel minimum and maximum of the data.
    """
    margin = 1.0 / low.shape[0]
    u = rng.random((n_centers, low.shape[0]))
    return (u * (1.0 + 2.0 * margin) - margin) * (high - low) + low


_BLOCK = 1 << 16  # points per block of the trial costs; fixed, so sums do not depend on threads
_THREADS = max(1, min(4, os.cpu_count() or 1))
_POOL = ThreadPoolExecutor(_THREADS)


@numba.njit(nogil=True, cache=True)
def _trial_costs(points, weights, dist, cands, newdist, block_costs, b0, b1):  # type: ignore[no-untyped-def]
    # For each candidate t: newdist[t] = min(dist, d(x, cand t)), and its weighted sum per
    # block of _BLOCK points (summed in block order afterwards).
    m = points.shape[0]
    for b in range(b0, b1):
        start = b * _BLOCK
        end = min(m, start + _BLOCK)
        for t in range(cands.shape[0]):
            acc = 0.0
            for i in range(start, end):
                d = 0.0
                for j in range(points.shape[1]):
                    u = points[i, j] - cands[t, j]
                    d += u * u
                d = min(d, dist[i])
                newdist[t, i] = d
                acc += weights[i] * d
            block_costs[t, b] = acc


@numba.njit(nogil=True, cache=True)
def _weighted_cumsum(weights, dist, out):  # type: ignore[no-untyped-def]
    acc = 0.0
    for i in range(weights.shape[0]):
        acc += weights[i] * dist[i]
        out[i] = acc


class _Trials:
    """Scores k-means++ candidates in one pass over the points, with reused buffers."""

    def __init__(self, points: NDArray[np.float64], weights: NDArray[np.float64], trials: int):
        self.points, self.weights = points, weights
        n_blocks = -(-points.shape[0] // _BLOCK)
        self.newdist = np.empty((trials, points.shape[0]))
        self.block_costs = np.empty((trials, n_blocks))
        edges = np.linspace(0, n_blocks, _THREADS + 1).astype(int)
        self.ranges = [(a, b) for a, b in itertools.pairwise(edges) if b > a]

    def costs(self, dist: NDArray[np.float64], cands: NDArray[np.float64]) -> NDArray[np.float64]:
        """Total cost if each candidate were added; ``newdist[t]`` holds its distances."""
        t = cands.shape[0]
        args = (self.points, self.weights, dist, cands, self.newdist[:t], self.block_costs[:t])
        for job in [_POOL.submit(_trial_costs, *args, a, b) for a, b in self.ranges]:
            job.result()
        return self.block_costs[:t].sum(axis=1)


def kmeans_plus_plus(
    points: NDArray[np.float64],
    weights: NDArray[np.float64],
    n_centers: int,
    rng: np.random.Generator,
    *,
    trials: int = 3,
) -> NDArray[np.float64]:
    """Greedy k-means++ (OpenCV's ``KMEANS_PP_CENTERS``) on points with multiplicities.

    A point of weight w stands for w identical pixels, so this is k-means++ on the pixels:
    each new center is drawn with probability proportional to weight x squared distance,
    ``trials`` candidates are drawn, and the one that lowers the total cost most is kept
    (the first on ties). The candidates are scored together in one pass over the points.

    Parameters
    ----------
    points : (M, C) float64 ndarray
    weights : (M,) float64 ndarray
    """
    points = np.ascontiguousarray(points, np.float64)
    weights = np.ascontiguousarray(weights, np.float64)
    scorer = _Trials(points, weights, trials)
    cum = np.cumsum(weights)
    chosen = [_draw(cum, rng.random() * cum[-1])]
    dist = np.full(points.shape[0], np.inf)
    cost = float(scorer.costs(dist, points[chosen])[0])
    dist = scorer.newdist[0].copy()
    for _ in range(1, n_centers):
        _weighted_cumsum(weights, dist, cum)
        picks = [_draw(cum, rng.random() * cost) for _ in range(trials)]
        costs = scorer.costs(dist, points[picks])
        best = int(np.argmin(costs))  # the first of equal costs, as OpenCV's strict <
        chosen.append(picks[best])
        cost = float(costs[best])
        dist[:] = scorer.newdist[best]
    return points[chosen].copy()


def _draw(cumulative: NDArray[np.float64], u: float) -> int:
    # First index whose cumulative weight reaches u (OpenCV: p -= dist[i]; if p <= 0 stop).
    return min(int(np.searchsorted(cumulative, u, side="left")), cumulative.shape[0] - 1)


def kmeans_parallel(
    source: Any,
    n_centers: int,
    rng: np.random.Generator,
    *,
    rounds: int = 5,
    oversampling: float = 2.0,
) -> NDArray[np.float64]:
    """k-means|| (Bahmani et al. 2012): oversample candidates in a few passes, then reduce.

    Starts from one pixel drawn uniformly; each round keeps every pixel with probability
    ``oversampling * K * d^2 / cost`` (about 2K new candidates a round, two passes); the
    candidates are weighted by the pixels nearest to them (one pass) and reduced to K by
    greedy k-means++ in memory. Extra rounds run while there are fewer than K candidates.
    """
    candidates = source.pick(int(rng.integers(1 << 62)))[None, :]
    done = 0
    while done < rounds or (candidates.shape[0] < n_centers and done < 4 * rounds):
        cost = float(source.partials(candidates).dist.sum())
        done += 1
        if cost == 0:
            break
        new = source.sample(
            candidates, oversampling * n_centers / cost, int(rng.integers(1 << 62))
        )
        if new.shape[0]:
            candidates = np.unique(np.concatenate([candidates, new]), axis=0)
    weights = source.partials(candidates).counts
    keep = weights > 0
    if int(keep.sum()) < n_centers:
        raise TooFewColorsError(
            f"k-means|| found only {int(keep.sum())} distinct colors for n_colors={n_centers}; "
            "the image likely has fewer distinct colors than that"
        )
    return kmeans_plus_plus(candidates[keep], weights[keep].astype(np.float64), n_centers, rng)
