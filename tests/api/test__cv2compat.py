"""dq.kmeans against cv2.kmeans on real photographs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import cv2
import dask.array as da
import numpy as np
import pytest
from numpy.typing import NDArray

import daskquant as dq
from daskquant._cli._samples import photo_mosaic

EPS, MAX_ITER = cv2.TERM_CRITERIA_EPS, cv2.TERM_CRITERIA_MAX_ITER
CRITERIA = {
    "eps": (EPS, 0, 0.5),
    "max_iter": (MAX_ITER, 10, 0.0),
    "both": (EPS | MAX_ITER, 30, 0.2),
    "both-tight": (EPS | MAX_ITER, 100, 0.0),
}


def points(photo: NDArray[np.uint8]) -> NDArray[np.float32]:
    # 128 x 128 pixels: every cluster sum stays below 2**24, so cv2's float32 sums are exact
    # and the two implementations can agree to float32 rounding.
    return photo.reshape(-1, 3).astype(np.float32)


def initial_labels(n: int, k: int, seed: int) -> NDArray[np.int32]:
    return np.random.default_rng(seed).integers(0, k, (n, 1)).astype(np.int32)


def assert_agrees_with_cv2(ours: tuple, theirs: tuple) -> None:
    c_ours, l_ours, centers_ours = ours
    c_cv, l_cv, centers_cv = theirs
    assert centers_ours.dtype == np.float32
    assert centers_ours.shape == centers_cv.shape
    np.testing.assert_allclose(centers_ours, centers_cv, atol=1e-3, rtol=0)
    assert c_ours == pytest.approx(c_cv, rel=1e-5)
    assert l_ours.dtype == np.int32 and l_ours.shape == l_cv.shape
    assert np.mean(l_ours == l_cv) > 0.999


def test_constants_equal_cv2() -> None:
    for name in (
        "KMEANS_RANDOM_CENTERS",
        "KMEANS_PP_CENTERS",
        "KMEANS_USE_INITIAL_LABELS",
        "TERM_CRITERIA_COUNT",
        "TERM_CRITERIA_MAX_ITER",
        "TERM_CRITERIA_EPS",
    ):
        assert getattr(dq, name) == getattr(cv2, name), name


@pytest.mark.parametrize("criteria", sorted(CRITERIA))
def test_same_start_labels_same_result(photo: NDArray, criteria: str) -> None:
    x = points(photo)
    k = 8
    crit = CRITERIA[criteria]
    labels0 = initial_labels(x.shape[0], k, seed=0)
    theirs = cv2.kmeans(x, k, labels0.copy(), crit, 1, cv2.KMEANS_USE_INITIAL_LABELS)
    ours = dq.kmeans(x, k, labels0.copy(), crit, 1, dq.KMEANS_USE_INITIAL_LABELS)
    assert isinstance(ours[1], np.ndarray)
    assert_agrees_with_cv2(ours, theirs)


def test_max_iter_counts_like_cv2(photo: NDArray) -> None:
    # maxCount = m allows m - 1 updates after the start (cv2 counts the start as one); the
    # runs stop on the count here, so an off-by-one shows up in the centers.
    x = points(photo)
    labels0 = initial_labels(x.shape[0], 6, seed=1)
    flags = cv2.KMEANS_USE_INITIAL_LABELS
    for m in (2, 3, 7):
        theirs = cv2.kmeans(x, 6, labels0.copy(), (MAX_ITER, m, 0), 1, flags)
        longer = cv2.kmeans(x, 6, labels0.copy(), (MAX_ITER, m + 1, 0), 1, flags)
        assert not np.allclose(theirs[2], longer[2], atol=1e-2)
        assert_agrees_with_cv2(dq.kmeans(x, 6, labels0.copy(), (MAX_ITER, m, 0), 1, flags), theirs)
    # cv2 clamps maxCount to at least 2.
    for m in (0, 1):
        theirs = cv2.kmeans(x, 6, labels0.copy(), (MAX_ITER, m, 0), 1, flags)
        assert_agrees_with_cv2(dq.kmeans(x, 6, labels0.copy(), (MAX_ITER, m, 0), 1, flags), theirs)


@pytest.mark.parametrize("criteria", [(EPS | MAX_ITER, 10, 0.5), (MAX_ITER, 2, 0.0)])
def test_empty_start_clusters_repaired_like_cv2(photo: NDArray, criteria: tuple) -> None:
    # Start labels that leave two clusters empty: both fill them with the member of the
    # largest cluster farthest from its mean.
    x = points(photo)
    labels0 = np.random.default_rng(8).integers(0, 6, (x.shape[0], 1)).astype(np.int32)
    theirs = cv2.kmeans(x, 8, labels0.copy(), criteria, 1, cv2.KMEANS_USE_INITIAL_LABELS)
    ours = dq.kmeans(x, 8, labels0.copy(), criteria, 1, dq.KMEANS_USE_INITIAL_LABELS)
    assert_agrees_with_cv2(ours, theirs)


def test_one_cluster(photo: NDArray) -> None:
    x = points(photo)
    labels0 = np.zeros((x.shape[0], 1), np.int32)
    crit = (EPS | MAX_ITER, 10, 0.1)
    theirs = cv2.kmeans(x, 1, labels0.copy(), crit, 1, cv2.KMEANS_USE_INITIAL_LABELS)
    ours = dq.kmeans(x, 1, labels0.copy(), crit, 1, dq.KMEANS_USE_INITIAL_LABELS)
    assert_agrees_with_cv2(ours, theirs)
    np.testing.assert_allclose(ours[2][0], x.astype(np.float64).mean(axis=0), rtol=1e-6)


def test_uint8_same_as_float32(photo: NDArray) -> None:
    x8 = photo.reshape(-1, 3)
    x32 = x8.astype(np.float32)
    labels0 = initial_labels(x8.shape[0], 8, seed=2)
    crit = (EPS | MAX_ITER, 20, 0.5)
    flags = dq.KMEANS_USE_INITIAL_LABELS
    a = dq.kmeans(x8, 8, labels0.copy(), crit, 1, flags)
    b = dq.kmeans(x32, 8, labels0.copy(), crit, 1, flags)
    np.testing.assert_array_equal(a[2], b[2])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[0] == pytest.approx(b[0], rel=1e-12)
    # Random centers are drawn in the same bounding box with the same generator.
    c = dq.kmeans(x8, 8, None, crit, 2, dq.KMEANS_RANDOM_CENTERS, seed=3)
    d = dq.kmeans(x32, 8, None, crit, 2, dq.KMEANS_RANDOM_CENTERS, seed=3)
    np.testing.assert_array_equal(c[2], d[2])
    assert c[0] == pytest.approx(d[0], rel=1e-12)


def test_uint8_histogram_path_matches_cv2(photo: NDArray) -> None:
    x8 = photo.reshape(-1, 3)
    labels0 = initial_labels(x8.shape[0], 8, seed=4)
    crit = CRITERIA["both"]
    theirs = cv2.kmeans(x8.astype(np.float32), 8, labels0.copy(), crit, 1, 1)
    assert_agrees_with_cv2(dq.kmeans(x8, 8, labels0.copy(), crit, 1, 1), theirs)


def test_dask_input_gives_dask_labels(photo: NDArray) -> None:
    x = points(photo)
    labels0 = initial_labels(x.shape[0], 5, seed=5)
    crit = CRITERIA["both"]
    theirs = cv2.kmeans(x, 5, labels0.copy(), crit, 1, cv2.KMEANS_USE_INITIAL_LABELS)
    xd = da.from_array(x, chunks=(3000, 3))
    for start in (labels0, da.from_array(labels0, chunks=(5000, 1))):
        compactness, labels, centers = dq.kmeans(
            xd, 5, start, crit, 1, dq.KMEANS_USE_INITIAL_LABELS
        )
        assert isinstance(labels, da.Array)
        assert labels.shape == (x.shape[0], 1)
        assert labels.dtype == np.int32
        assert_agrees_with_cv2((compactness, labels.compute(), centers), theirs)


def test_one_dimensional_data(photo: NDArray) -> None:
    x = photo[..., 1].reshape(-1).astype(np.float32)
    labels0 = initial_labels(x.shape[0], 4, seed=6)
    crit = CRITERIA["both"]
    theirs = cv2.kmeans(x[:, None], 4, labels0.copy(), crit, 1, cv2.KMEANS_USE_INITIAL_LABELS)
    ours = dq.kmeans(x, 4, labels0.copy(), crit, 1, dq.KMEANS_USE_INITIAL_LABELS)
    assert_agrees_with_cv2(ours, theirs)


@pytest.mark.parametrize(
    "flag", [cv2.KMEANS_RANDOM_CENTERS, cv2.KMEANS_PP_CENTERS], ids=["random", "pp"]
)
def test_seeded_attempts_as_good_as_cv2(photo: NDArray, flag: int) -> None:
    # Both are stochastic: compare the median over three seeds of each, with 5% slack.
    x = points(photo)
    crit = (EPS | MAX_ITER, 20, 1.0)
    theirs, ours = [], []
    for seed in range(3):
        cv2.setRNGSeed(seed)
        theirs.append(cv2.kmeans(x, 8, None, crit, 8, flag)[0])
        compactness, labels, centers = dq.kmeans(x, 8, None, crit, 8, flag, seed=seed)
        ours.append(compactness)
        assert labels.shape == (x.shape[0], 1)
        assert labels.min() >= 0 and labels.max() < 8
        assert np.isfinite(centers).all()
    assert np.median(ours) <= 1.05 * np.median(theirs)
    # Same seed, same result.
    again = dq.kmeans(x, 8, None, crit, 8, flag, seed=2)
    assert again[0] == ours[2]


def test_integer_valued_float32_runs_on_the_histogram(counting_scheduler: Any) -> None:
    # The recipe's np.float32(img) gives the uint8 result bit for bit, in a fixed number of
    # computes (stats, histogram, labels) instead of one per Lloyd iteration.
    x8 = photo_mosaic(96, 96, seed=1).reshape(-1, 3)
    crit = (EPS | MAX_ITER, 20, 1.0)
    for flag in (cv2.KMEANS_RANDOM_CENTERS, cv2.KMEANS_PP_CENTERS):
        want = dq.kmeans(x8, 16, None, crit, 10, flag, seed=4)
        with counting_scheduler(limit=3):
            got = dq.kmeans(x8.astype(np.float32), 16, None, crit, 10, flag, seed=4)
        assert got[0] == want[0]
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_array_equal(got[2], want[2])


def test_recipe_call_compactness_distribution_like_cv2() -> None:
    # The recipe's exact call on a real photo mosaic, over 4 seeds each: the compactness of
    # dq.kmeans's random starts is within a few percent of cv2.kmeans's, either way.
    x = np.float32(photo_mosaic(112, 128, seed=2).reshape(-1, 3))
    crit = (EPS | MAX_ITER, 20, 1.0)
    theirs, ours = [], []
    for seed in range(4):
        cv2.setRNGSeed(seed)
        theirs.append(cv2.kmeans(x, 16, None, crit, 10, cv2.KMEANS_RANDOM_CENTERS)[0])
        ours.append(dq.kmeans(x, 16, None, crit, 10, dq.KMEANS_RANDOM_CENTERS, seed=seed)[0])
    # Measured here: 0.968 (ours lower).
    assert 0.95 < np.median(ours) / np.median(theirs) < 1.05, (ours, theirs)


def test_compactness_is_opencvs(photo: NDArray) -> None:
    # OpenCV's compactness and labels refer to the last assignment, before the last update:
    # check our report against a direct computation from what we return.
    x = points(photo)
    labels0 = initial_labels(x.shape[0], 8, seed=7)
    compactness, labels, centers = dq.kmeans(
        x, 8, labels0, (MAX_ITER, 5, 0), 1, dq.KMEANS_USE_INITIAL_LABELS
    )
    diff = x.astype(np.float64) - centers.astype(np.float64)[labels[:, 0]]
    assert compactness == pytest.approx(float((diff**2).sum()), rel=1e-6)


@pytest.mark.parametrize(
    ("args", "exc"),
    [
        ((np.zeros((5, 3), np.float32), 6, None, (EPS, 0, 1.0), 1, 0), dq.InputError),
        ((np.zeros((5, 3), np.float32), 0, None, (EPS, 0, 1.0), 1, 0), dq.InvalidParameterError),
        ((np.zeros((5, 3, 2), np.float32), 2, None, (EPS, 0, 1.0), 1, 0), dq.InputError),
        ((np.zeros((5, 3), bool), 2, None, (EPS, 0, 1.0), 1, 0), dq.InputError),
        ((np.zeros((5, 3), np.float32), 2, None, (EPS, 0), 1, 0), dq.InvalidParameterError),
        ((np.zeros((5, 3), np.float32), 2, None, (EPS, 0, 1.0), 1, 1), dq.InvalidParameterError),
        (
            (np.zeros((5, 3), np.float32), 2, np.zeros((4, 1), np.int32), (EPS, 0, 1.0), 1, 1),
            dq.InvalidParameterError,
        ),
        (
            (np.zeros((5, 3), np.float32), 2, np.full((5, 1), 2, np.int32), (EPS, 0, 1.0), 1, 1),
            dq.InvalidParameterError,
        ),
    ],
    ids=[
        "K>N",
        "K=0",
        "3-D",
        "bool",
        "criteria",
        "no-labels",
        "labels-size",
        "labels-range",
    ],
)
def test_bad_arguments(args: tuple[Any, ...], exc: type[Exception]) -> None:
    with pytest.raises(exc):
        dq.kmeans(*args)


def test_nonfinite_data() -> None:
    x = np.random.default_rng(0).random((100, 3)).astype(np.float32)
    x[[3, 50, 60], 1] = np.nan
    with pytest.raises(dq.InputError, match="3 rows"):
        dq.kmeans(x, 2, None, (EPS, 0, 1.0), 1, 0, seed=0)


@pytest.mark.parametrize("bad", [7, -1])
def test_dask_start_labels_out_of_range(bad: int) -> None:
    # Out-of-range start labels must raise, as they do for NumPy labels; unchecked, the
    # numba kernel indexes past its (K, C) accumulators. In a subprocess: that can crash.
    code = textwrap.dedent(
        f"""
        import numpy as np, dask.array as da, daskquant as dq
        x = np.random.default_rng(0).random((1000, 3)).astype(np.float32)
        lab = np.random.default_rng(1).integers(0, 3, (1000, 1)).astype(np.int32)
        lab[5] = {bad}
        try:
            dq.kmeans(da.from_array(x, chunks=(300, 3)), 3, da.from_array(lab, chunks=(250, 1)),
                      (dq.TERM_CRITERIA_MAX_ITER, 5, 0), 1, dq.KMEANS_USE_INITIAL_LABELS)
        except dq.InvalidParameterError as e:
            print("raised:", e)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "raised:" in proc.stdout
