"""Initial centers: OpenCV's random centers, greedy k-means++, and k-means||.

Random centers and k-means++ work on small, in-memory inputs (a bounding box, or distinct
colors with their pixel counts); k-means|| asks a source (``_sources``) a few questions and
needs no sample of the data in one process.
"""

from __future__ import annotations

import itertools
from typing import Any

import numba
import numpy as np
from numpy.typing import NDArray

from daskquant._engine._kernels import box_bounds, box_gap, z_order
from daskquant._engine._threads import pool, thread_count
from daskquant._errors import TooFewColorsError

__all__ = ["in_z_order", "kmeans_parallel", "kmeans_plus_plus", "random_centers"]


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


_BLOCK = 1 << 8  # points per block (fixed, so sums do not depend on threads); small, so the
# blocks are tight in color space and a candidate skips most of them
_THREADS = 4  # most threads scoring candidates (block ranges: see _Trials)


@numba.njit(nogil=True, cache=True)
def _trial_costs(  # type: ignore[no-untyped-def]
    points, weights, dist, cands, lo, hi, block_max, block_base, newdist, costs, newmax, b0, b1
):
    # For each candidate t and block b: newdist[t] = min(dist, d(x, cand t)) over the block,
    # its weighted sum costs[t, b] and its maximum newmax[t, b]; blocks are summed in block
    # order afterwards. A block whose bounding box [lo, hi] is farther from the candidate
    # than its farthest point is from its center cannot change: its cost is block_base[b]
    # (the same sum in the same order, so the result is bit-identical) and newmax[t, b] is
    # NaN to say that newdist was not written there.
    m = points.shape[0]
    for b in range(b0, b1):
        start = b * _BLOCK
        end = min(m, start + _BLOCK)
        for t in range(cands.shape[0]):
            if box_gap(lo, hi, b, cands, t) > block_max[b]:  # no point is nearer than that
                costs[t, b] = block_base[b]
                newmax[t, b] = np.nan
                continue
            acc = 0.0
            top = 0.0
            for i in range(start, end):
                d = 0.0
                for j in range(points.shape[1]):
                    u = points[i, j] - cands[t, j]
                    d += u * u
                d = min(d, dist[i])
                newdist[t, i] = d
                acc += weights[i] * d
                top = max(top, d)
            costs[t, b] = acc
            newmax[t, b] = top


@numba.njit(nogil=True, cache=True)
def _accept(dist, newdist, costs, newmax, block_max, block_base):  # type: ignore[no-untyped-def]
    # The kept candidate's distances become the current ones, block by block.
    for b in range(costs.shape[0]):
        if np.isnan(newmax[b]):
            continue
        start = b * _BLOCK
        end = min(dist.shape[0], start + _BLOCK)
        dist[start:end] = newdist[start:end]
        block_max[b] = newmax[b]
        block_base[b] = costs[b]


@numba.njit(nogil=True, cache=True)
def _draw_in_blocks(weights, dist, block_base, u):  # type: ignore[no-untyped-def]
    # The first point whose cumulative weighted distance reaches u (OpenCV: p -= dist[i];
    # if p <= 0 stop), walking whole blocks by their costs and then one block's points.
    n = dist.shape[0]
    acc = 0.0
    last = block_base.shape[0] - 1
    for b in range(last + 1):
        if acc + block_base[b] < u and b < last:
            acc += block_base[b]
            continue
        # The block's own sum, from 0 in point order, ends at exactly block_base[b], so
        # acc + part reaches u inside the block whenever acc + block_base[b] does.
        end = min(n, (b + 1) * _BLOCK)
        part = 0.0
        for i in range(b * _BLOCK, end):
            part += weights[i] * dist[i]
            if acc + part >= u:
                return i
        return end - 1
    return n - 1


class _Trials:
    """Scores k-means++ candidates in one pass over the points, and keeps the distances.

    The points are split into fixed blocks, each with its bounding box, its farthest
    distance and its cost; a candidate skips the blocks it cannot reach. Points in Z-order
    make blocks small boxes of color space, so most of them are skipped once there are a
    few dozen centers.
    """

    def __init__(self, points: NDArray[np.float64], weights: NDArray[np.float64], trials: int):
        self.points, self.weights = points, weights
        n_blocks = -(-points.shape[0] // _BLOCK)
        self.dist = np.full(points.shape[0], np.inf)
        self.lo, self.hi = box_bounds(points, _BLOCK)
        self.block_max = np.full(n_blocks, np.inf)
        self.block_base = np.full(n_blocks, np.inf)
        self.newdist = np.empty((trials, points.shape[0]))
        self.costs = np.empty((trials, n_blocks))
        self.newmax = np.empty((trials, n_blocks))
        edges = np.linspace(0, n_blocks, thread_count(_THREADS) + 1).astype(int)
        self.ranges = [(a, b) for a, b in itertools.pairwise(edges) if b > a]

    def score(self, cands: NDArray[np.float64]) -> NDArray[np.float64]:
        """Total cost if each candidate were added to the centers kept so far."""
        t = cands.shape[0]
        args = (
            self.points,
            self.weights,
            self.dist,
            cands,
            self.lo,
            self.hi,
            self.block_max,
            self.block_base,
            self.newdist[:t],
            self.costs[:t],
            self.newmax[:t],
        )
        for job in [pool(_THREADS).submit(_trial_costs, *args, a, b) for a, b in self.ranges]:
            job.result()
        return self.costs[:t].sum(axis=1)

    def draw(self, u: float) -> int:
        """The point where the cumulative weighted distance to the kept centers reaches u."""
        return int(_draw_in_blocks(self.weights, self.dist, self.block_base, u))

    def accept(self, t: int) -> None:
        """Keep candidate ``t`` of the last :meth:`score`."""
        _accept(
            self.dist,
            self.newdist[t],
            self.costs[t],
            self.newmax[t],
            self.block_max,
            self.block_base,
        )


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
    (the first on ties). The candidates are scored together in one pass over the points,
    in fixed blocks of consecutive points: give many points :func:`in_z_order`, so that
    the blocks are small boxes a candidate can skip.

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
    cost = float(scorer.score(points[chosen])[0])
    scorer.accept(0)
    for _ in range(1, n_centers):
        picks = [scorer.draw(rng.random() * cost) for _ in range(trials)]
        costs = scorer.score(points[picks])
        best = int(np.argmin(costs))  # the first of equal costs, as OpenCV's strict <
        chosen.append(picks[best])
        cost = float(costs[best])
        scorer.accept(best)
    return points[chosen].copy()


def in_z_order(
    points: NDArray, weights: NDArray, order: NDArray[np.int64] | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Points (float64) and their weights, in the Z-order of the points (once per fit;
    ``order``, if given, is that order, already computed)."""
    order = z_order(points) if order is None else order
    return points[order].astype(np.float64), weights[order].astype(np.float64)


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
