"""Best of N k-means runs: the attempt loop and the table of seeders.

``fit_palette`` and ``dq.kmeans`` both fit by :func:`best_of`: each attempt draws start
centers with a seeder named in :data:`SEEDERS`, runs Lloyd updates from them
(:func:`run_attempt`), and the run with the lowest compactness is kept (the first on ties,
as OpenCV). An attempt is a pure function of the source, its seeder's name and its random
generator, so attempts can run in any order or place.

Where an attempt runs: :func:`best_of` runs them one after the other in this process (on a
source whose questions may themselves be computes, the pixel path); :func:`best_on_cluster`
runs each as a task on the workers, in parallel, on seeds that live there (the histogram
path), and streams the iterations back as worker events. Both keep the lowest
``(compactness, attempt index)``, so the result does not depend on where, in which order or
on how many workers the attempts ran.

Randomness: attempt ``i`` of a fit with seed ``s`` draws from child ``i`` of
``numpy.random.SeedSequence(s)`` (:func:`plan`), and the sample of pixels k-means++ seeds
from (where there is no exact histogram) from the root itself, so no attempt depends on
another having run before it.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import dask
import numpy as np
from numpy.typing import NDArray

from daskquant._engine._dask import cluster_client
from daskquant._engine._lloyd import LloydRun, Repair, compactness, pinned, run_lloyd
from daskquant._engine._seeding import (
    in_z_order,
    kmeans_parallel,
    kmeans_plus_plus,
    random_centers,
)
from daskquant._engine._sources import PixelSource, Source

__all__ = [
    "SEEDERS",
    "Attempt",
    "Seeds",
    "best_of",
    "best_on_cluster",
    "continued",
    "plan",
    "run_attempt",
]

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
    pins : (P, C) float64 ndarray or None
        Pinned centers: the first P centers of every attempt, never moved; the seeder
        draws the other K - P (and ``given`` holds only those).
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
    pins: NDArray[np.float64] | None = None
    _ordered: tuple[NDArray[np.float64], NDArray[np.float64]] | None = field(
        default=None, repr=False
    )
    _held: Any = field(default=None, repr=False)  # Future of the ordered sample (a cluster)

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

    def plus_plus(self, n_centers: int, rng: np.random.Generator) -> NDArray[np.float64]:
        """k-means++ start centers. Where the points are a sample of the pixels and a
        distributed client is in use, the sample is drawn, ordered and kept on the workers
        (at the first call), and each seeding is a task there: only centers come back."""
        client = cluster_client() if self.points is None else None
        if client is None:
            return kmeans_plus_plus(*self.ordered(), n_centers, rng)
        if self._held is None:
            assert self.pixels is not None, "Seeds needs points or pixels"
            sample = self.pixels.seed_points_graph(self.n_valid, self.sample_key)
            self._held = client.compute(dask.delayed(_ordered_sample, pure=True)(sample))
        seed = dask.delayed(_plus_plus_task, pure=False)(self._held, n_centers, rng)
        return client.compute(seed).result()


def _ordered_sample(points: tuple[NDArray, NDArray]) -> tuple[NDArray, NDArray]:
    return in_z_order(*points)


def _plus_plus_task(
    ordered: tuple[NDArray[np.float64], NDArray[np.float64]],
    n_centers: int,
    rng: np.random.Generator,
) -> NDArray[np.float64]:
    return kmeans_plus_plus(*ordered, n_centers, rng)


Seeder = Callable[[Seeds, int, np.random.Generator], NDArray[np.float64]]


def _given(seeds: Seeds, n_centers: int, rng: np.random.Generator) -> NDArray[np.float64]:
    assert seeds.given is not None, "the 'given' seeder needs Seeds.given"
    return seeds.given


SEEDERS: dict[str, Seeder] = {
    "random": lambda s, k, rng: random_centers(s.low, s.high, k, rng),
    "k-means++": lambda s, k, rng: s.plus_plus(k, rng),
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
    """Seed, run Lloyd updates to convergence; the run and its compactness. Pinned
    centers (``seeds.pins``) come first and stay; the seeder draws the others."""
    rng = np.random.default_rng(attempt.seed)
    pins = seeds.pins
    if pins is None:
        start = SEEDERS[attempt.init](seeds, n_centers, rng)
    else:
        free = n_centers - pins.shape[0]
        drawn = SEEDERS[attempt.init](seeds, free, rng) if free else pins[:0]
        start = np.concatenate([pins, drawn])
        repair = pinned(repair, pins)
    source = seeds.source
    run = run_lloyd(
        source, start, max_iter=max_iter, epsilon=epsilon, repair=repair, on_iteration=on_iteration
    )
    return run, compactness(run.partials, run.centers, exact=source.exact)


FINALISTS = 3  # attempts continued to a fixed point, where the fit asks for it


def best_of(
    seeds: Seeds,
    n_centers: int,
    attempts: Sequence[Attempt],
    *,
    converge: int = 0,
    **lloyd: Any,
) -> tuple[LloydRun, float]:
    """The run of the lowest compactness among ``attempts`` (the first of equals), and its
    compactness; ``lloyd`` are :func:`run_attempt`'s keywords.

    ``converge`` > 0: the ``FINALISTS`` runs of the lowest compactness then continue to a
    Lloyd fixed point (:func:`continued`, at most ``converge`` more updates each), and the
    kept run is the lowest of them there (an attempt stopped at epsilon does not always
    end lowest: measured in benchmarks/quality.py).
    """
    results = [run_attempt(seeds, n_centers, attempt, **lloyd) for attempt in attempts]
    if not converge:
        return _best(results)
    source, repair = seeds.source, lloyd["repair"]
    chosen = _finalists(results)
    more = [
        continued(source, results[i][0], max_iter=converge, repair=repair, pins=seeds.pins)
        for i in chosen
    ]
    return _best(
        [(run, compactness(run.partials, run.centers, exact=source.exact)) for run in more]
    )


def _finalists(results: Sequence[tuple[LloydRun, float]]) -> list[int]:
    """The indices of the ``FINALISTS`` runs of the lowest ``(compactness, index)``, in
    index order (so ties still go to the first attempt)."""
    ranked = sorted(range(len(results)), key=lambda i: (results[i][1], i))
    return sorted(ranked[:FINALISTS])


def _best(results: Sequence[tuple[LloydRun, float]]) -> tuple[LloydRun, float]:
    """The run of the lowest ``(compactness, index)`` (OpenCV keeps the first of equals)."""
    assert results, "best_of needs at least one attempt"
    for i, (run, score) in enumerate(results):
        log.info("attempt %d: %d iterations, compactness %.6g", i + 1, run.n_iter, score)
    index = min(range(len(results)), key=lambda i: (results[i][1], i))
    return results[index]


def continued(
    source: Source,
    run: LloydRun,
    *,
    max_iter: int,
    repair: Repair,
    pins: NDArray[np.float64] | None = None,
) -> LloydRun:
    """``run`` (the kept attempt) continued by Lloyd updates on ``source`` until no center
    moves at all (epsilon 0: a Lloyd fixed point), at most ``max_iter`` more updates.

    The image API's defaults do this on the distinct colors, where an update costs
    O(distinct colors): the attempts stop at their epsilon, and the kept one then goes on
    to where its labels no longer change. ``n_iter`` counts the updates of both.
    """
    if pins is not None:
        repair = pinned(repair, pins)
    more = run_lloyd(source, run.centers, max_iter=max_iter, epsilon=0.0, repair=repair)
    log.info("kept attempt continued: %d more iterations", more.n_iter)
    if more.n_iter == 0:
        return run
    return LloydRun(
        more.centers, more.previous, more.partials, run.n_iter + more.n_iter, more.converged
    )


def best_on_cluster(
    client: Any,
    seeds: Any,
    n_centers: int,
    attempts: Sequence[Attempt],
    *,
    on_iteration: Any = None,
    converge: int = 0,
    then: Callable[[Seeds, LloydRun], LloydRun] | None = None,
    **lloyd: Any,
) -> tuple[LloydRun, float]:
    """:func:`best_of` with every attempt a task on the workers of ``client``, in parallel
    (and the finalists' continuations, where ``converge`` > 0).

    Parameters
    ----------
    client : distributed.Client
    seeds : Future or Delayed of Seeds
        Seeds that live on the workers (with an in-memory source); each attempt works on
        its own copy of the source, whose caches are not shared between threads.
    on_iteration : callable, optional
        Called in this process as ``on_iteration(iteration, shift)``, in the order a run of
        the attempts one after the other would call it: the iterations of the first
        attempt as they come, those of later attempts as soon as all before them ended.
    then : callable, optional
        ``then(seeds, run)``: the kept run made into the one returned, in a task where the
        seeds are (its compactness stays the kept attempt's).
    lloyd
        :func:`run_attempt`'s keywords (and ``given``, ``sample_key``, ``pins``: Seeds
        fields to set).

    Only each attempt's run (K x C numbers) comes back.
    """
    updates = {k: lloyd.pop(k) for k in ("given", "sample_key", "pins") if k in lloyd}
    topic = f"daskquant-iterations-{uuid.uuid4().hex}"
    relay = None if on_iteration is None else _Relay(on_iteration, len(attempts))
    task = dask.delayed(_attempt_task, pure=False)
    report = None if relay is None else topic
    tasks = [
        task(seeds, n_centers, attempt, index=i, topic=report, updates=updates, **lloyd)
        for i, attempt in enumerate(attempts)
    ]
    if then is not None:
        tasks = [dask.delayed(_then_task, pure=True)(seeds, then, *tasks)]
    if relay is not None:
        client.subscribe_topic(topic, relay.event)
    try:
        results = client.gather(client.compute(tasks))
        if relay is not None:  # the events not delivered yet; the scheduler has them all
            for event in client.get_events(topic):
                relay.event(event)
            relay.close()
    finally:
        if relay is not None:
            client.unsubscribe_topic(topic)
    if then is not None:  # the kept one, chosen in its task (which logged the attempts)
        (kept,) = results
        return kept
    if not converge:
        return _best(results)
    go = dask.delayed(_continued_task, pure=False)
    pins = updates.get("pins")
    chosen = _finalists(results)
    more = [
        go(seeds, results[i][0], max_iter=converge, repair=lloyd["repair"], pins=pins)
        for i in chosen
    ]
    return _best(client.gather(client.compute(more)))


def _continued_task(
    seeds: Seeds,
    run: LloydRun,
    *,
    max_iter: int,
    repair: Repair,
    pins: NDArray[np.float64] | None,
) -> tuple[LloydRun, float]:
    """A finalist continued to a fixed point (a task on a worker holding the seeds), on its
    own copy of the source, and its compactness."""
    source = copy.copy(seeds.source)
    run = continued(source, run, max_iter=max_iter, repair=repair, pins=pins)
    return run, compactness(run.partials, run.centers, exact=source.exact)


def _attempt_task(
    seeds: Seeds,
    n_centers: int,
    attempt: Attempt,
    *,
    index: int,
    topic: str | None,
    updates: dict[str, Any],
    **lloyd: Any,
) -> tuple[LloydRun, float]:
    """One attempt, in a task: on its own copy of the source (pickled without caches)."""
    mine = dataclasses.replace(seeds, source=copy.copy(seeds.source), **updates)
    report = None if topic is None else _Report(topic, index)
    result = run_attempt(mine, n_centers, attempt, on_iteration=report, **lloyd)
    if report is not None:
        report.done()
    return result


def _then_task(
    seeds: Seeds, then: Callable[[Seeds, LloydRun], LloydRun], *results: tuple[LloydRun, float]
) -> tuple[LloydRun, float]:
    """The kept one of the attempts' ``results``, passed through ``then``, in a task."""
    run, score = _best(results)
    return then(dataclasses.replace(seeds, source=copy.copy(seeds.source)), run), score


class _Report:
    """A worker's ``on_iteration``: each iteration of attempt ``index`` as an event."""

    def __init__(self, topic: str, index: int) -> None:
        from distributed import get_worker

        self.worker = get_worker()
        self.topic, self.index = topic, index

    def __call__(self, iteration: int, shift: float) -> None:
        msg = {"attempt": self.index, "iteration": iteration, "shift": shift}
        self.worker.log_event(self.topic, msg)

    def done(self) -> None:
        self.worker.log_event(self.topic, {"attempt": self.index, "done": True})


class _Relay:
    """Worker events to ``on_iteration`` calls in attempt order, each iteration once.

    Events of one attempt arrive in order (one worker sends them); an attempt's events are
    held until every attempt before it is done.
    """

    def __init__(self, on_iteration: Callable[[int, float], None], n: int) -> None:
        self.on_iteration = on_iteration
        self.lock = threading.Lock()
        self.seen = [0] * n  # iterations received per attempt
        self.done = [False] * n
        self.held: list[list[tuple[int, float]]] = [[] for _ in range(n)]
        self.current = 0  # the attempt whose iterations are passed on as they come
        self.closed = False

    def event(self, event: tuple[float, dict[str, Any]]) -> None:
        _, msg = event
        i = int(msg["attempt"])
        with self.lock:
            if self.closed or self.done[i]:
                return
            if msg.get("done"):
                self.done[i] = True
            elif int(msg["iteration"]) > self.seen[i]:
                self.seen[i] = int(msg["iteration"])
                self.held[i].append((int(msg["iteration"]), float(msg["shift"])))
            self._flush()

    def _flush(self) -> None:
        while self.current < len(self.held):
            for iteration, shift in self.held[self.current]:
                self.on_iteration(iteration, shift)
            self.held[self.current].clear()
            if not self.done[self.current]:
                return
            self.current += 1

    def close(self) -> None:
        """Pass on what is held (of attempts whose end event was lost), then stop."""
        with self.lock:
            self.done = [True] * len(self.done)
            self._flush()
            self.closed = True
