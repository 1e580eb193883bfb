"""The attempt loop and the seeder table: best of N runs, each a function of its own rng."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from _oracles import brute_compactness
from numpy.typing import NDArray

from daskquant._engine._attempts import SEEDERS, Attempt, Seeds, best_of, plan, run_attempt
from daskquant._engine._lloyd import repair_distinct, repair_opencv
from daskquant._engine._points import HistogramSource
from daskquant._engine._sources import PixelSource

LLOYD = {"max_iter": 20, "epsilon": 1.0}


def histogram_seeds(image: NDArray) -> Seeds:
    pixels = PixelSource(da.from_array(image, chunks=(64, 64, 3)), channels=3, alpha=None)
    hist = HistogramSource(pixels.histogram())
    points = (hist.points.astype(np.float64), hist.counts.astype(np.float64))
    low, high = points[0].min(axis=0), points[0].max(axis=0)
    return Seeds(hist, low, high, points=points, order=hist.order)


def pixel_seeds(image: NDArray) -> Seeds:
    arr = da.from_array(image.astype(np.float32), chunks=(64, 64, 3))
    pixels = PixelSource(arr, channels=3, alpha=None)
    stats = pixels.stats()
    sample = pixels.seed_points(stats.n_valid, key=3)  # k-means++ draws from this sample
    return Seeds(pixels, stats.low, stats.high, points=sample)


@pytest.mark.parametrize("make", [histogram_seeds, pixel_seeds])
@pytest.mark.parametrize("init", ["random", "k-means++", "k-means||"])
def test_best_of_keeps_the_lowest_of_the_runs_made_one_by_one(
    astronaut: NDArray, make: object, init: str
) -> None:
    image = astronaut[:128, :128]
    runs = [
        run_attempt(
            make(image),
            6,
            Attempt(init, np.random.SeedSequence(i)),
            repair=repair_distinct,
            **LLOYD,
        )  # type: ignore[operator]
        for i in range(3)
    ]
    best, score = best_of(
        make(image),  # type: ignore[operator]
        6,
        [Attempt(init, np.random.SeedSequence(i)) for i in range(3)],
        repair=repair_distinct,
        **LLOYD,
    )
    scores = [s for _, s in runs]
    assert score == min(scores)
    np.testing.assert_array_equal(best.centers, runs[int(np.argmin(scores))][0].centers)
    # The score is the compactness of the last memberships against the final centers; the
    # brute-force compactness of the final centers (nearest, not last, memberships) is at
    # most that.
    assert brute_compactness(image, best.centers) <= score * (1 + 1e-9)


def test_seeders_draw_k_centers_in_the_data(astronaut: NDArray) -> None:
    image = astronaut[:96, :96]
    seeds = histogram_seeds(image)
    colors = {tuple(c) for c in image.reshape(-1, 3).astype(np.float64)}
    seeds.given = np.array([[0.0, 0, 0], [128, 128, 128], [255, 255, 255]])
    for name, seeder in SEEDERS.items():
        centers = seeder(seeds, 3, np.random.default_rng(0))
        assert centers.shape == (3, 3), name
        if name in ("k-means++", "k-means||"):  # both pick pixels of the image
            assert all(tuple(c) in colors for c in centers), name
        if name == "random":  # OpenCV's box, widened by 1/C of its size on each side
            span = seeds.high - seeds.low
            assert (centers >= seeds.low - span / 3 - 1e-9).all()
            assert (centers <= seeds.high + span / 3 + 1e-9).all()
    np.testing.assert_array_equal(
        SEEDERS["given"](seeds, 3, np.random.default_rng(0)), seeds.given
    )


def test_the_image_api_inits_are_all_in_the_table() -> None:
    from typing import get_args

    from daskquant._api._fit import Init

    assert set(get_args(Init)) | {"given"} == set(SEEDERS)


def test_an_attempt_depends_only_on_its_own_rng(astronaut: NDArray) -> None:
    # The same attempt gives the same run after other attempts or alone: what running the
    # attempts on different workers needs.
    image = astronaut[:128, :128]
    seeds = pixel_seeds(image)
    alone, score = run_attempt(
        seeds, 5, Attempt("k-means++", np.random.SeedSequence(7)), repair=repair_opencv, **LLOYD
    )
    for i in range(2):
        run_attempt(
            seeds, 5, Attempt("random", np.random.SeedSequence(i)), repair=repair_opencv, **LLOYD
        )
    again, score2 = run_attempt(
        seeds, 5, Attempt("k-means++", np.random.SeedSequence(7)), repair=repair_opencv, **LLOYD
    )
    np.testing.assert_array_equal(alone.centers, again.centers)
    assert score == score2


def test_the_pixel_sample_does_not_depend_on_which_attempt_runs_first(astronaut: NDArray) -> None:
    # Without an exact histogram, k-means++ seeds from a sample of the pixels keyed by the
    # fit's root seed, not by the first attempt's draws.
    arr = da.from_array(astronaut[:128, :128].astype(np.float32), chunks=(64, 64, 3))
    pixels = PixelSource(arr, channels=3, alpha=None)
    stats = pixels.stats()
    attempts, key = plan(["k-means++"] * 3, seed=5)
    results = {}
    for order in ([0, 1, 2], [2, 1, 0]):
        seeds = Seeds(pixels, stats.low, stats.high, pixels=pixels, n_valid=stats.n_valid)
        seeds.sample_key = key
        for i in order:
            run, _ = run_attempt(seeds, 5, attempts[i], repair=repair_distinct, **LLOYD)
            results.setdefault(i, []).append(run.centers)
    for a, b in results.values():
        np.testing.assert_array_equal(a, b)


def test_plan_gives_each_attempt_its_own_child_seed() -> None:
    attempts, key = plan(["random", "k-means++"], seed=9)
    again, key2 = plan(["random", "k-means++", "k-means++"], seed=9)
    assert key == key2
    for a, b in zip(attempts, again, strict=False):  # more attempts leave the first ones alone
        assert (a.init, a.seed.spawn_key) == (b.init, b.seed.spawn_key)
        assert np.random.default_rng(a.seed).random() == np.random.default_rng(b.seed).random()
    draws = {np.random.default_rng(a.seed).random() for a in again}
    assert len(draws) == 3
