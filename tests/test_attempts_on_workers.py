"""The histogram fit on the workers (issue 17): the histogram, the attempts and the lookup
table stay on the cluster, and the results are those of the threaded scheduler, bit for
bit, on 1, 2 and 4 workers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import dask
import numpy as np
import pytest
import skimage.data
from _golden import GOLDEN, run_case, same
from distributed import Client, LocalCluster
from numpy.typing import NDArray

import daskquant as dq
from daskquant._api._fit import SharedTable

EXPECTED = json.loads(GOLDEN.read_text())

# The golden jobs whose fit runs on the distinct colors (the others are not affected).
HISTOGRAM_CASES = [
    "histogram",
    "histogram-random",
    "histogram-kmeans||",
    "given-centers",
    "gray",
    "rgba",
    "stack",
    "lab",
    "din99",
    "collection",
    "tiled-tiff",
    "resumed",
]

# The golden jobs on the pixels whose k-means++ sample is drawn and seeded from on the workers.
PIXEL_CASES = ["uint16", "uint16-pixels"]


@pytest.fixture(scope="module", params=[1, 2, 4])
def cluster(request: pytest.FixtureRequest) -> Iterator[Client]:
    """A default client on ``n`` single-threaded worker processes."""
    with (
        LocalCluster(
            n_workers=request.param, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as local,
        Client(local) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def image() -> NDArray[np.uint8]:
    return skimage.data.chelsea()[40:232, 80:272].copy()  # 192 x 192


def _fit(image: NDArray, calls: list[tuple[int, float]], **kw: Any) -> dq.FitResult:
    report = calls.append
    return dq.fit_palette(image, 12, seed=7, chunks=64, on_iteration=lambda *a: report(a), **kw)


@pytest.mark.parametrize(
    "options",
    [
        {"attempts": 6},
        {"attempts": 5, "init": "random"},
        {"attempts": 3, "init": "k-means||"},
        {"attempts": 4, "colorspace": "lab"},
    ],
    ids=["k-means++", "random", "k-means||", "lab"],
)
def test_attempts_on_workers_give_the_threaded_result(
    cluster: Client, image: NDArray, options: dict[str, Any]
) -> None:
    with dask.config.set(scheduler="threads"):
        here: list[tuple[int, float]] = []
        want = _fit(image, here, **options)
    there: list[tuple[int, float]] = []
    got = _fit(image, there, **options)
    for name in ("centers", "palette", "counts"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
    assert (got.compactness, got.n_iter, got.converged) == (
        want.compactness,
        want.n_iter,
        want.converged,
    )
    assert got.method == want.method == "histogram"
    # The iterations reach the callback as a run of the attempts one after the other.
    assert there == here
    # The lookup table stayed on the workers, and labels the image as the local one does.
    assert isinstance(got.color_labels, SharedTable)
    assert isinstance(want.color_labels, tuple)
    labels = dq.apply_palette(image, got.palette).compute()
    with dask.config.set(scheduler="threads"):
        np.testing.assert_array_equal(labels, dq.apply_palette(image, want.palette).compute())


def test_the_attempts_ran_as_tasks_on_the_workers(cluster: Client, image: NDArray) -> None:
    from distributed import get_task_stream

    with get_task_stream(cluster) as ts:
        fit = _fit(image, [], attempts=4)
    names = [t["key"][0] if isinstance(t["key"], tuple) else t["key"] for t in ts.data]
    attempts = [n for n in names if str(n).startswith("_attempt_task")]
    assert len(attempts) == 4
    assert any(str(n).startswith("_prepare") for n in names)
    assert any(str(n).startswith("_final_lookup") for n in names)
    assert fit.n_distinct is not None and fit.n_distinct > 1000


def test_summary_attempts_on_workers_give_the_threaded_result(
    cluster: Client, image: NDArray, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distributed import get_task_stream

    import daskquant._api._fit as fit_module

    deep = image.astype(np.uint16) * 257 + (np.arange(image.shape[1]) % 200)[:, None]
    with dask.config.set(scheduler="threads"):
        want = _fit(deep, [], attempts=3, method="summary")

    def refuse(*args: Any, **kw: Any) -> None:
        raise AssertionError("the summary's cells were made ready in the client")

    monkeypatch.setattr(fit_module, "summary_source", refuse)  # the workers are processes
    with get_task_stream(cluster) as ts:
        got = _fit(deep, [], attempts=3, method="summary")
    assert got.method == want.method == "summary"
    for name in ("centers", "palette", "counts"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
    assert (got.compactness, got.n_iter) == (want.compactness, want.n_iter)
    names = [str(t["key"][0] if isinstance(t["key"], tuple) else t["key"]) for t in ts.data]
    assert sum(n.startswith("_attempt_task") for n in names) == 3
    assert sum(n.startswith("_cell_seeds") for n in names) == 1


def test_bad_input_is_refused_from_the_workers_facts(cluster: Client) -> None:
    flat = np.zeros((20, 20, 3), np.uint8)
    flat[10:] = 255
    with pytest.raises(dq.TooFewColorsError, match="only 2 distinct colors"):
        dq.fit_palette(flat, 3, seed=0, strict=True)


@pytest.mark.parametrize("name", HISTOGRAM_CASES + PIXEL_CASES)
def test_golden_stores_on_workers(cluster: Client, name: str) -> None:
    got, want = run_case(name), EXPECTED[name]
    if "arrays" in want:
        assert same(got["arrays"], want["arrays"]), f"{name}: arrays differ"
        assert same(got["attrs"], want["attrs"]), f"{name}: attributes differ"
    else:
        assert same(got, want), f"{name}: {got} != {want}"


def test_pixel_seeding_sample_stays_on_the_workers(
    cluster: Client, image: NDArray, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distributed import get_task_stream

    import daskquant._engine._attempts as attempts

    deep = image.astype(np.uint16) * 257  # 16-bit, fitted on the pixels
    with dask.config.set(scheduler="threads"):
        want = _fit(deep, [], attempts=3, method="pixels")

    def refuse(*args: Any, **kw: Any) -> None:
        raise AssertionError("the k-means++ sample was ordered in the client")

    monkeypatch.setattr(attempts, "in_z_order", refuse)  # the workers are other processes
    with get_task_stream(cluster) as ts:
        got = _fit(deep, [], attempts=3, method="pixels")
    assert got.method == want.method == "pixels"
    np.testing.assert_array_equal(got.centers, want.centers)
    assert (got.compactness, got.n_iter) == (want.compactness, want.n_iter)
    names = [str(t["key"][0] if isinstance(t["key"], tuple) else t["key"]) for t in ts.data]
    assert sum(n.startswith("_plus_plus_task") for n in names) == 3
    assert sum(n.startswith("_ordered_sample") for n in names) == 1
