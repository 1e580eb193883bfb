"""Best of N k-means runs: the attempt loop and the table of seeders.

``fit_palette`` and ``dq.kmeans`` both fit by :func:`best_of`: each attempt draws start
centers with a seeder named in :data:`SEEDERS`, runs Lloyd updates from them
(:func:`run_attempt`), and the run with the lowest compactness is kept (the first on ties,
as OpenCV). An attempt is a pure function of the source, its seeder's name and its random
generator, so attempts can run in any order or place.

Randomness: attempt ``i`` of a fit with seed ``s`` draws from child ``i`` of
``numpy.random.SeedSequence(s)`` (:func:`plan`), and the sample of pixels k-means++ seeds
from (where there is no exact histogram) from the root itself, so no attempt depends on
another having run before it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from daskquant._engine._lloyd import LloydRun, Repair, compactness, run_lloyd
from daskquant._engine._seeding import (
    in_z_order,
    kmeans_parallel,
    kmeans_plus_plus,
    random_centers,
)
from daskquant._engine._sources import PixelSource, Source

__all__ = ["SEEDERS", "Attempt", "Seeds", "best_of", "plan", "run_attempt"]

log = logging.getLogger("daskquant")


@dataclass
class Seeds:
    """What the seeders draw from, gathered once per fit.

    Attributes
    ----------
    source : Source
        Where the Lloyd updates run (k-means|| asks it questions).
    low, high : (C,) float64 ndarray
        The data's bounding box (random centers).
    points : (points (M, C), weights (M,)) or None
        Weighted points for k-means++ (the distinct colors and their counts); None draws a
        chunking-independent sample of ``pixels`` (``n_valid`` valid ones) at first use.
    order : (M,) int64 ndarray or None
        The Z-order of ``points``, where a source has computed it already.
    given : (K, C) float64 ndarray or None
        Start centers given by the caller.
    sample_key : int
        The key of the pixel sample k-means++ seeds from (where ``points`` is None).
    """

    source: Source
    low: NDArray[np.float64]
    high: NDArray[np.float64]
    points: tuple[NDArray, NDArray] | None = None
    pixels: PixelSource | None = None
    n_valid: int = 0
    order: NDArray[np.int64] | None = None
    given: NDArray[np.float64] | None = None
    sample_key: int = 0
    _ordered: tuple[NDArray[np.float64], NDArray[np.float64]] | None = field(
        default=None, repr=False
    )

    def ordered(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The k-means++ points and weights in Z-order, made at the first call (a sample of
        the pixels, keyed by ``sample_key``, where there are no points)."""
        if self._ordered is None:
            points = self.points
            if points is None:
                assert self.pixels is not None, "Seeds needs points or pixels"
                points = self.pixels.seed_points(self.n_valid, self.sample_key)
            self._ordered = in_z_order(*points, order=self.order)
        return self._ordered


Seeder = Callable[[Seeds, int, np.random.Generator], NDArray[np.float64]]


def _given(seeds: Seeds, n_centers: int, rng: np.random.Generator) -> NDArray[np.float64]:
    assert seeds.given is not None, "the 'given' seeder needs Seeds.given"
    return seeds.given


SEEDERS: dict[str, Seeder] = {
    "random": lambda s, k, rng: random_centers(s.low, s.high, k, rng),
    "k-means++": lambda s, k, rng: kmeans_plus_plus(*s.ordered(), k, rng),
    "k-means||": lambda s, k, rng: kmeans_parallel(s.source, k, rng),
    "given": _given,
}


@dataclass(frozen=True)
class Attempt:
    """One k-means run to make: the seeder's name (a key of SEEDERS) and its randomness."""

    init: str
    seed: np.random.SeedSequence


def plan(inits: Sequence[str], seed: int) -> tuple[list[Attempt], int]:
    """The attempts of a fit with ``seed``, one per seeder name, each with its own child
    seed, and the key of the pixel sample k-means++ seeds from.

    >>> attempts, key = plan(["k-means++"] * 3, seed=0)
    >>> [a.seed.spawn_key for a in attempts]
    [(0,), (1,), (2,)]
    """
    root = np.random.SeedSequence(seed)
    children = root.spawn(len(inits))
    sample_key = int(root.generate_state(1, np.uint64)[0] >> np.uint64(2))
    return [Attempt(i, s) for i, s in zip(inits, children, strict=True)], sample_key


def run_attempt(
    seeds: Seeds,
    n_centers: int,
    attempt: Attempt,
    *,
    max_iter: int,
    epsilon: float,
    repair: Repair,
    on_iteration: Any = None,
) -> tuple[LloydRun, float]:
    """Seed, run Lloyd updates to convergence; the run and its compactness."""
    rng = np.random.default_rng(attempt.seed)
    start = SEEDERS[attempt.init](seeds, n_centers, rng)
    source = seeds.source
    run = run_lloyd(
        source, start, max_iter=max_iter, epsilon=epsilon, repair=repair, on_iteration=on_iteration
    )
    return run, compactness(run.partials, run.centers, exact=source.exact)


def best_of(
    seeds: Seeds, n_centers: int, attempts: Sequence[Attempt], **lloyd: Any
) -> tuple[LloydRun, float]:
    """The run of the lowest compactness among ``attempts`` (the first of equals), and its
    compactness; ``lloyd`` are :func:`run_attempt`'s keywords."""
    best: LloydRun | None = None
    best_score = np.inf
    for i, attempt in enumerate(attempts):
        run, score = run_attempt(seeds, n_centers, attempt, **lloyd)
        log.info("attempt %d: %d iterations, compactness %.6g", i + 1, run.n_iter, score)
        if best is None or score < best_score:
            best, best_score = run, score
    assert best is not None, "best_of needs at least one attempt"
    return best, best_score
