"""The Lloyd loop with OpenCV's stopping rules and empty-cluster repair, over any source.

One source question (one compute) per Lloyd update. Centers are float64 means of exact
partial sums, so the loop gives the same numbers whichever source answers.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from daskquant._errors import DaskQuantError
from daskquant._sources import Partials, Source

__all__ = ["LloydRun", "compactness", "run_lloyd", "update_centers"]

log = logging.getLogger("daskquant")


@dataclass(frozen=True)
class LloydRun:
    """One k-means run.

    ``centers`` are the final centers, ``previous`` the centers the last memberships were
    taken from, ``partials`` the (repaired) sums of those memberships: OpenCV's compactness
    and labels refer to them.
    """

    centers: NDArray[np.float64]
    previous: NDArray[np.float64]
    partials: Partials
    n_iter: int
    converged: bool


def update_centers(
    source: Source,
    partials: Partials,
    assigned_from: NDArray[np.float64],
    *,
    labels: Any = None,
) -> tuple[NDArray[np.float64], Partials]:
    """Means of the clusters, after OpenCV's repair of empty clusters.

    An empty cluster takes the member of the largest cluster farthest from that cluster's
    mean (one more source question per empty cluster). Returns the centers and the sums
    after the moves.
    """
    sums, sq, counts = partials.sums.copy(), partials.sq.copy(), partials.counts.copy()
    moved: dict[tuple[int, bytes], int] = {}
    for k in np.flatnonzero(counts == 0):
        largest = int(np.argmax(counts))
        base = sums[largest] / counts[largest]
        excluded: list[NDArray] = []
        while True:
            _, color, n = source.farthest(
                assigned_from, largest, base, _stack(excluded, source.channels), labels=labels
            )
            if color is None:
                raise DaskQuantError(
                    f"cannot fill empty cluster {k}: the largest cluster has no member left "
                    "to move (this is a bug; please report it with the input)"
                )
            key = (largest, color.tobytes())
            if moved.get(key, 0) < n:
                break
            excluded.append(color)
        moved[key] = moved.get(key, 0) + 1
        x = color.astype(sums.dtype)
        sums[largest] -= x
        sq[largest] -= x * x
        counts[largest] -= 1
        sums[k] += x
        sq[k] += x * x
        counts[k] += 1
        log.debug("empty cluster %d filled from cluster %d", k, largest)
    centers = sums / counts[:, None]
    return centers, Partials(sums, sq, counts, partials.dist)


def _stack(colors: list[NDArray], channels: int) -> NDArray:
    return np.stack(colors) if colors else np.empty((0, channels))


def run_lloyd(
    source: Source,
    initial: NDArray[np.float64],
    *,
    max_iter: int,
    epsilon: float,
    on_iteration: Any = None,
) -> LloydRun:
    """Lloyd updates from ``initial`` until every center moves at most ``epsilon``.

    Parameters
    ----------
    initial : (K, C) float64 ndarray
        Start centers.
    max_iter : int
        Most center updates after the start centers (OpenCV's ``maxCount - 1``).
    epsilon : float
        Stop when the largest center shift (Euclidean) is at most this.
    """
    eps2 = epsilon * epsilon
    centers = np.asarray(initial, np.float64)
    previous, partials = centers, None
    n_iter, converged = 0, False
    while n_iter < max_iter:
        t0 = time.perf_counter()
        raw = source.partials(centers)
        new, partials = update_centers(source, raw, centers)
        shift = float(np.max(np.sum((new - centers) ** 2, axis=1)))
        previous, centers = centers, new
        n_iter += 1
        log.info(
            "iteration %d: max center shift %.4g (%.2f s)",
            n_iter,
            np.sqrt(shift),
            time.perf_counter() - t0,
        )
        if on_iteration is not None:
            on_iteration(n_iter, float(np.sqrt(shift)))
        if shift <= eps2:
            converged = True
            break
    if partials is None:  # max_iter == 0: the start centers are the result
        partials = source.partials(centers)
    return LloydRun(centers, previous, partials, n_iter, converged)


def compactness(partials: Partials, centers: NDArray, *, exact: bool) -> float:
    """Sum of squared distances of every member to ``centers`` of its cluster, in float64.

    With integer data the within-cluster part is computed from the exact integer sums, so the
    value does not depend on chunking; it is ``sum(Q - S^2/n) + n * |S/n - c|^2``.
    """
    total = 0.0
    c = np.asarray(centers, np.float64)
    for k in range(c.shape[0]):
        n = int(partials.counts[k])
        if n == 0:
            continue
        if exact:
            s = [int(v) for v in partials.sums[k]]
            q = sum(int(v) for v in partials.sq[k])
            within = (q * n - sum(v * v for v in s)) / n
            mean = np.array(s, np.float64) / n
        else:
            s_f = partials.sums[k].astype(np.float64)
            mean = s_f / n
            within = float(np.sum(partials.sq[k]) - np.dot(s_f, mean))
        total += within + n * float(np.sum((mean - c[k]) ** 2))
    return total
