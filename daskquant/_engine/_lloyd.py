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

from daskquant._engine._sources import Partials, Source
from daskquant._errors import DaskQuantError, TooFewColorsError

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
    distinct: bool = False,
) -> tuple[NDArray[np.float64], Partials]:
    """Means of the clusters, after the repair of empty clusters.

    An empty cluster takes a pixel from the largest cluster: the member farthest from that
    cluster's mean. Returns the centers and the sums after the moves.

    ``distinct=False`` is OpenCV's repair, one empty cluster at a time (the largest cluster
    and its mean are found again after each move; a color may be moved more than once, which
    makes duplicate centers): one source question per empty cluster. ``distinct=True`` (the
    image API) fills all empty clusters of an update from one question, each with a different
    color, and raises TooFewColorsError rather than duplicate a center.
    """
    sums, sq, counts = partials.sums.copy(), partials.sq.copy(), partials.counts.copy()
    used: dict[tuple[int, bytes], int] = {}  # pixels moved out of (cluster, color)
    spent: set[int] = set()  # clusters with no color left to give (distinct mode)

    def move(color: NDArray, source_k: int, k: int) -> None:
        x = color.astype(sums.dtype)
        sums[source_k] -= x
        sq[source_k] -= x * x
        counts[source_k] -= 1
        sums[k] += x
        sq[k] += x * x
        counts[k] += 1
        key = (source_k, color.tobytes())
        used[key] = used.get(key, 0) + 1
        log.debug("empty cluster %d filled from cluster %d", k, source_k)

    empty = [int(k) for k in np.flatnonzero(counts == 0)]
    while empty:
        candidates = np.where([i in spent for i in range(len(counts))], -1, counts)
        largest = int(np.argmax(candidates))
        if candidates[largest] <= 0:
            raise TooFewColorsError(
                f"{len(empty)} clusters are empty and no cluster has a color left to give: "
                "the image has fewer distinct colors than n_colors; ask for fewer colors"
            )
        base = sums[largest] / counts[largest]
        taken = sum(v for (c, _), v in used.items() if c == largest)
        want = len(empty) + taken + 1 if distinct else taken + 1
        _, colors, n = source.farthest(assigned_from, largest, base, want, labels=labels)
        if distinct:
            # Never give the nearest color listed: the giving cluster keeps all its pixels of
            # that color, so it is never emptied, and a one-color cluster gives nothing.
            colors, n = colors[:-1], n[:-1]
        moved_any = False
        for color, available in zip(colors, n, strict=True):
            if not empty:
                break
            if used.get((largest, color.tobytes()), 0) >= (1 if distinct else available):
                continue
            move(color, largest, empty.pop(0))
            moved_any = True
            if not distinct:
                break
        if not moved_any:
            if not distinct:
                raise DaskQuantError(
                    f"cannot fill empty cluster {empty[0]}: the largest cluster has no member "
                    "left to move (this is a bug; please report it with the input)"
                )
            spent.add(largest)
    centers = sums / counts[:, None]
    return centers, Partials(sums, sq, counts, partials.dist)


def run_lloyd(
    source: Source,
    initial: NDArray[np.float64],
    *,
    max_iter: int,
    epsilon: float,
    on_iteration: Any = None,
    distinct: bool = False,
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
    distinct : bool
        Refuse to create duplicate centers (see :func:`update_centers`).
    """
    eps2 = epsilon * epsilon
    centers = np.asarray(initial, np.float64)
    previous, partials = centers, None
    n_iter, converged = 0, False
    while n_iter < max_iter:
        t0 = time.perf_counter()
        raw = source.partials(centers)
        new, partials = update_centers(source, raw, centers, distinct=distinct)
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
