"""The Lloyd loop with OpenCV's stopping rules and the two empty-cluster repairs, over any source.

One source question (one compute) per Lloyd update. Centers are float64 means of exact
partial sums, so the loop gives the same numbers whichever source answers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from daskquant._engine._sources import Partials, Source
from daskquant._errors import DaskQuantError, TooFewColorsError

__all__ = [
    "LloydRun",
    "Repair",
    "compactness",
    "pinned",
    "repair_distinct",
    "repair_opencv",
    "run_lloyd",
]

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


class _Moves:
    """Partial sums being repaired: pixels moved from one cluster to another, one at a time."""

    def __init__(self, partials: Partials) -> None:
        self.sums, self.sq = partials.sums.copy(), partials.sq.copy()
        self.counts, self.dist = partials.counts.copy(), partials.dist
        self.used: dict[tuple[int, bytes], int] = {}  # pixels moved out of (cluster, color)

    def empty(self) -> list[int]:
        return [int(k) for k in np.flatnonzero(self.counts == 0)]

    def mean(self, k: int) -> NDArray[np.float64]:
        return self.sums[k] / self.counts[k]

    def taken(self, k: int) -> int:
        return sum(v for (c, _), v in self.used.items() if c == k)

    def times_moved(self, k: int, color: NDArray) -> int:
        return self.used.get((k, color.tobytes()), 0)

    def move(self, color: NDArray, giver: int, k: int) -> None:
        x = color.astype(self.sums.dtype)
        self.sums[giver] -= x
        self.sq[giver] -= x * x
        self.counts[giver] -= 1
        self.sums[k] += x
        self.sq[k] += x * x
        self.counts[k] += 1
        key = (giver, color.tobytes())
        self.used[key] = self.used.get(key, 0) + 1
        log.debug("empty cluster %d filled from cluster %d", k, giver)

    def result(self) -> tuple[NDArray[np.float64], Partials]:
        centers = self.sums / self.counts[:, None]
        return centers, Partials(self.sums, self.sq, self.counts, self.dist)


def _no_color_left(n_empty: int) -> TooFewColorsError:
    return TooFewColorsError(
        f"{n_empty} clusters are empty and no cluster has a color left to give: "
        "the image has fewer distinct colors than n_colors; ask for fewer colors"
    )


def repair_opencv(
    source: Source, partials: Partials, assigned_from: NDArray[np.float64], *, labels: Any = None
) -> tuple[NDArray[np.float64], Partials]:
    """Means of the clusters after OpenCV's repair of empty clusters, one at a time.

    Each empty cluster takes one pixel from the largest cluster: the member farthest from
    that cluster's mean; the largest cluster and its mean are found again after each move
    (a color may be moved more than once, which makes duplicate centers). One source
    question per empty cluster. Returns the centers and the sums after the moves.
    """
    moves = _Moves(partials)
    empty = moves.empty()
    while empty:
        largest = int(np.argmax(moves.counts))
        if moves.counts[largest] <= 0:
            raise _no_color_left(len(empty))
        want = moves.taken(largest) + 1
        base = moves.mean(largest)
        _, colors, n = source.farthest(assigned_from, largest, base, want, labels=labels)
        for color, available in zip(colors, n, strict=True):
            if moves.times_moved(largest, color) < available:
                moves.move(color, largest, empty.pop(0))
                break
        else:
            raise DaskQuantError(
                f"cannot fill empty cluster {empty[0]}: the largest cluster has no member "
                "left to move (this is a bug; please report it with the input)"
            )
    return moves.result()


def repair_distinct(
    source: Source, partials: Partials, assigned_from: NDArray[np.float64], *, labels: Any = None
) -> tuple[NDArray[np.float64], Partials]:
    """Means of the clusters after the image API's repair: all empty clusters at once.

    The largest cluster gives its farthest members from its mean, each a different color,
    to all empty clusters of the update from one source question; it never gives the
    nearest color listed, so it keeps pixels and a one-color cluster gives nothing. When
    it has no color left to give, the next largest gives. Raises TooFewColorsError rather
    than duplicate a center.
    """
    moves = _Moves(partials)
    empty = moves.empty()
    spent: set[int] = set()  # clusters with no color left to give
    while empty:
        candidates = np.where([i in spent for i in range(len(moves.counts))], -1, moves.counts)
        largest = int(np.argmax(candidates))
        if candidates[largest] <= 0:
            raise _no_color_left(len(empty))
        want = len(empty) + moves.taken(largest) + 1
        base = moves.mean(largest)
        _, colors, _ = source.farthest(assigned_from, largest, base, want, labels=labels)
        moved_any = False
        for color in colors[:-1]:
            if not empty:
                break
            if moves.times_moved(largest, color) == 0:
                moves.move(color, largest, empty.pop(0))
                moved_any = True
        if not moved_any:
            spent.add(largest)
    return moves.result()


Repair = Callable[..., tuple[NDArray[np.float64], Partials]]


def pinned(repair: Repair, pins: NDArray[np.float64]) -> Repair:
    """``repair`` with the first ``len(pins)`` centers held at ``pins`` (pinned colors).

    A pinned center takes part in the assignment like any other, but its update is the pin
    itself; an empty pinned cluster stays empty (it is not filled from another cluster:
    only the free clusters are repaired). The partial sums are those of the memberships,
    so the compactness is measured to the pins.
    """
    n = pins.shape[0]

    def repair_pinned(
        source: Source, partials: Partials, assigned_from: NDArray[np.float64], **kw: Any
    ) -> tuple[NDArray[np.float64], Partials]:
        empty = np.flatnonzero(partials.counts[:n] == 0)
        counts = partials.counts.copy()
        counts[empty] = 1  # not empty to the repair, which then leaves them alone
        held = Partials(partials.sums, partials.sq, counts, partials.dist)
        centers, repaired = repair(source, held, assigned_from, **kw)
        out = repaired.counts.copy()
        out[empty] = 0
        centers = centers.copy()
        centers[:n] = pins
        return centers, Partials(repaired.sums, repaired.sq, out, repaired.dist)

    return repair_pinned


def run_lloyd(
    source: Source,
    initial: NDArray[np.float64],
    *,
    max_iter: int,
    epsilon: float,
    repair: Repair = repair_opencv,
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
    repair : callable
        The repair of empty clusters: :func:`repair_opencv` (``cv2.kmeans``) or
        :func:`repair_distinct` (the image API, which never duplicates a center).
    """
    eps2 = epsilon * epsilon
    centers = np.asarray(initial, np.float64)
    previous, partials = centers, None
    n_iter, converged = 0, False
    while n_iter < max_iter:
        t0 = time.perf_counter()
        raw = source.partials(centers)
        new, partials = repair(source, raw, centers)
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
