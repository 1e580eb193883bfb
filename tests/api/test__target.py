"""The quality target (target_psnr=, min_psnr=): the search over K against a brute-force scan
of every K (fit_palette with the same seed, then dq.quality of its labels) on real photos."""

from __future__ import annotations

import functools
import math

import dask
import dask.array as da
import numpy as np
import pytest
import skimage.data
import zarr

import daskquant as dq
from daskquant._api._options import QuantizeOptions
from daskquant._api._target import Goal, search_colors

SEED = 5
K_MAX = 12


def _photo() -> np.ndarray:
    """A 96 x 128 crop of skimage's coffee (about 9,000 distinct colors)."""
    return skimage.data.coffee()[150:246, 250:378].copy()


def _scan(img: np.ndarray, k_max: int, **fit: object) -> dict[int, dict[str, float]]:
    """Brute force: PSNR and mean CIEDE2000 of the fit of every K, as a job of that K would
    measure them (its labels nearest to its stored palette)."""
    found = {}
    for k in range(1, k_max + 1):
        result = dq.fit_palette(img, k, seed=SEED, **fit)
        labels = dq.apply_palette(img, result.palette, colorspace=result.colorspace)
        found[k] = dq.quality(img, labels, result.palette)
    return found


@functools.cache
def _photo_scan(colorspace: str) -> dict[int, dict[str, float]]:
    return _scan(_photo(), K_MAX, colorspace=colorspace)


def _smallest(scan: dict[int, dict[str, float]], measure: str, target: float) -> int | None:
    """The smallest K of the scan whose ``measure`` meets ``target`` (PSNR at least it, mean
    CIEDE2000 at most it)."""
    meets = (lambda v: v >= target) if measure == "psnr" else (lambda v: v <= target)
    return next((k for k in sorted(scan) if meets(scan[k][measure])), None)


def _search(img: np.ndarray, goal: Goal, *, k_max: int = K_MAX, **fit: object):
    kwargs = QuantizeOptions(**fit).fit_kwargs()  # type: ignore[arg-type]
    return search_colors(
        da.from_array(img, chunks=(64, 64, img.shape[2])),
        n_colors=k_max,
        goal=goal,
        seed=SEED,
        fit=kwargs,
    )


_TARGET = {"psnr": "target_psnr", "ciede2000": "target_deltae"}


@pytest.mark.parametrize("measure", ["psnr", "ciede2000"])
@pytest.mark.parametrize("colorspace", ["rgb", "lab"])
def test_search_finds_the_smallest_k_of_a_full_scan(colorspace, measure):
    img = _photo()
    scan = _photo_scan(colorspace)
    values = [scan[k][measure] for k in sorted(scan)]
    # On this photo the quality improves with K, as the bisection assumes (see _target).
    assert values == sorted(values, reverse=measure == "ciede2000")
    # Targets just at, just past and between the values of the scan, and one every K meets.
    nudge = 1e-9 if measure == "psnr" else -1e-9
    between = (scan[9][measure] + scan[10][measure]) / 2
    easy = scan[1][measure] + (-1 if measure == "psnr" else 1)
    for target in [scan[3][measure], scan[7][measure] + nudge, between, easy]:
        found = _search(img, Goal(**{_TARGET[measure]: target}), colorspace=colorspace)
        assert found.n_colors == _smallest(scan, measure, target), target
        assert found.reached
        # Each K probed gave exactly the figures of the job of that K (same seed).
        for k, scores in found.probes.items():
            assert scores[measure] == scan[k][measure], (target, k)
        assert len(found.probes) <= math.ceil(math.log2(K_MAX)) + 1  # not a scan
    beyond = scan[K_MAX][measure] + (0.5 if measure == "psnr" else -0.5)
    missed = _search(img, Goal(**{_TARGET[measure]: beyond}), colorspace=colorspace)
    assert (missed.n_colors, missed.reached) == (K_MAX, False)


def test_both_targets_need_both_met():
    img = _photo()
    scan = _photo_scan("rgb")
    goal = Goal(target_psnr=scan[4]["psnr"], target_deltae=scan[8]["ciede2000"])
    found = _search(img, goal)
    assert found.n_colors == max(
        _smallest(scan, "psnr", scan[4]["psnr"]), _smallest(scan, "ciede2000", goal.target_deltae)
    )


def test_on_a_cluster_the_search_runs_on_a_worker_with_the_same_result(local_cluster):
    from distributed import get_task_stream

    img = _photo()
    scan = _photo_scan("rgb")
    goal = Goal(target_psnr=scan[6]["psnr"], target_deltae=scan[5]["ciede2000"])
    with dask.config.set(scheduler=local_cluster.get), get_task_stream(local_cluster) as ts:
        found = _search(img, goal)
    names = [str(t["key"][0] if isinstance(t["key"], tuple) else t["key"]) for t in ts.data]
    # The histogram is merged on the cluster and searched there, in one task.
    assert sum(n.startswith("_histogram_search") for n in names) == 1
    assert found.n_colors == max(
        _smallest(scan, "psnr", goal.target_psnr), _smallest(scan, "ciede2000", goal.target_deltae)
    )
    with dask.config.set(scheduler="threads"):
        here = _search(img, goal)
    assert (found.n_colors, found.probes, found.scores) == (
        here.n_colors,
        here.probes,
        here.scores,
    )


def test_quantize_uses_the_k_found_and_reports_what_it_reached(tmp_path):
    img = _photo()
    scan = _photo_scan("rgb")
    target = (scan[6]["psnr"] + scan[7]["psnr"]) / 2
    s = dq.quantize(img, tmp_path / "t.zarr", n_colors=K_MAX, target_psnr=target, seed=SEED)
    assert s.n_colors == _smallest(scan, "psnr", target) == 7
    meta = zarr.open_group(str(tmp_path / "t.zarr"), mode="r").attrs["daskquant"]
    assert meta["target"] == s.extra["target"]
    assert meta["n_colors"] == 7 and meta["request"]["target_psnr"] == target
    t = s.extra["target"]
    assert (t["n_colors"], t["n_colors_max"], t["reached"]) == (7, K_MAX, True)
    # The searched PSNR is the written result's, measured from the store.
    g = zarr.open_group(str(tmp_path / "t.zarr"), mode="r")
    measured = dq.quality(img, g["labels"][:], g["palette"][:])["psnr"]
    assert t["psnr"] == s.extra["quality"]["psnr"] == measured == scan[7]["psnr"]
    # A CIEDE2000 target, the same way: its mean as searched is the written result's.
    deltae = (scan[4]["ciede2000"] + scan[5]["ciede2000"]) / 2
    d = dq.quantize(img, tmp_path / "d.zarr", n_colors=K_MAX, target_deltae=deltae, seed=SEED)
    assert d.n_colors == _smallest(scan, "ciede2000", deltae) == 5
    assert d.extra["target"]["ciede2000"] == d.extra["quality"]["ciede2000"] <= deltae


def test_min_psnr_refuses_and_writes_nothing(tmp_path):
    img = _photo()
    before = set(tmp_path.iterdir())
    with pytest.raises(dq.QualityTooLowError, match=r"with n_colors=4 .* below min_psnr=40"):
        dq.quantize(img, tmp_path / "t.zarr", n_colors=4, target_psnr=45, min_psnr=40, seed=1)
    with pytest.raises(dq.QualityTooLowError):
        dq.quantize(img, tmp_path / "t.png", n_colors=4, min_psnr=40, seed=1)
    assert set(tmp_path.iterdir()) == before  # no store, no image, no claim left
    # A minimum that K colors reach: K is kept (no target, no search below it).
    with pytest.raises(dq.QualityTooLowError, match=r"mean CIEDE2000 is .* above max_deltae=1"):
        dq.quantize(img, tmp_path / "t.zarr", n_colors=4, max_deltae=1, seed=1)
    assert set(tmp_path.iterdir()) == before
    s = dq.quantize(img, tmp_path / "ok.zarr", n_colors=4, min_psnr=10, seed=1)
    assert s.n_colors == 4 and s.extra["target"]["psnr"] >= 10


def test_few_colors_reach_any_target_exactly(tmp_path):
    img = _photo() // 64 * 64  # at most 4^3 colors
    n = len(np.unique(img.reshape(-1, 3), axis=0))
    found = _search(img, Goal(target_psnr=99.0, target_deltae=0.01), k_max=n + 5)
    assert found.n_colors <= n and found.reached
    assert found.probes[found.n_colors]["psnr"] >= 99


def test_sixteen_bit_images_search_a_sample():
    rgb = skimage.data.astronaut()[100:164, 200:296]
    img = rgb.astype(np.uint16) * 257 - (np.arange(64) % 251).astype(np.uint16)[:, None, None]
    scan = _scan(img, 6, attempts=1)  # smaller than the sample: the sample is the image
    target = (scan[3]["psnr"] + scan[4]["psnr"]) / 2
    found = _search(img, Goal(target_psnr=target), k_max=6, attempts=1)
    assert found.searched_on == "sample"
    assert found.n_colors == _smallest(scan, "psnr", target)
    assert found.probes[found.n_colors]["psnr"] == scan[found.n_colors]["psnr"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"target_psnr": 30, "min_psnr": 35}, "min_psnr=35 is above target_psnr=30"),
        ({"target_psnr": -1}, "target_psnr must be a PSNR in dB"),
        ({"min_psnr": float("inf")}, "min_psnr must be a PSNR in dB"),
        ({"target_deltae": 0}, "target_deltae must be a mean CIEDE2000"),
        ({"target_deltae": 3, "max_deltae": 2}, "target_deltae=3 is above max_deltae=2"),
        ({"max_deltae": 3, "pin": "#ffffff"}, "do not go with pin='#ffffff'"),
        ({"target_psnr": 30, "palette": "web216"}, "do not go with palette='web216'"),
        ({"target_psnr": 30, "dither": "bayer2"}, "do not go with dither='bayer2'"),
        ({"target_psnr": 30, "init": np.zeros((4, 3))}, "do not go with init given"),
    ],
)
def test_bad_targets_are_refused(options, message):
    with pytest.raises(dq.InvalidParameterError, match=message):
        QuantizeOptions(**options)
