"""Initial centers: OpenCV's random centers, greedy k-means++, and k-means||.

Random centers and k-means++ work on small, in-memory inputs (a bounding box, or distinct
colors with their pixel counts); k-means|| asks a source (``_sources``) a few questions and
needs no sample of the data in one process.
"""

from __future__ import annotations

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


@numba.njit(nogil=True, cache=True)
def _trial_cost(points, weights, dist, center, out):  # type: ignore[no-untyped-def]
    total = 0.0
    for i in range(points.shape[0]):
        d = 0.0
        for j in range(points.shape[1]):
            t = points[i, j] - center[j]
            d += t * t
        d = min(d, dist[i])
        out[i] = d
        total += weights[i] * d
    return total


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
    ``trials`` candidates are drawn, and the one that lowers the total cost most is kept.

    Parameters
    ----------
    points : (M, C) float64 ndarray
    weights : (M,) float64 ndarray
    """
    points = np.ascontiguousarray(points, np.float64)
    weights = np.ascontiguousarray(weights, np.float64)
    cum_w = np.cumsum(weights)
    first = _draw(cum_w, rng.random() * cum_w[-1])
    chosen = [first]
    dist = np.full(points.shape[0], np.inf)
    cost = _trial_cost(points, weights, dist, points[first], dist)
    scratch, best_dist = np.empty_like(dist), np.empty_like(dist)
    for _ in range(1, n_centers):
        cum = np.cumsum(weights * dist)
        best_cost, best_i = np.inf, -1
        for _ in range(trials):
            i = _draw(cum, rng.random() * cost)
            c = _trial_cost(points, weights, dist, points[i], scratch)
            if c < best_cost:
                best_cost, best_i = c, i
                best_dist, scratch = scratch, best_dist
        chosen.append(best_i)
        dist, best_dist = best_dist, dist
        cost = best_cost
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
