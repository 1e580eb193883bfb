"""The quality target (target_psnr=, min_psnr=): the search over K against a brute-force scan
of every K (fit_palette with the same seed, then dq.quality of its labels) on real photos."""

from __future__ import annotations

import math

import dask.array as da
import numpy as np
import pytest
import skimage.data
import zarr

import daskquant as dq
from daskquant._api._options import QuantizeOptions
from daskquant._api._target import search_colors

SEED = 5
K_MAX = 12


def _photo() -> np.ndarray:
    """A 96 x 128 crop of skimage's coffee (about 9,000 distinct colors)."""
    return skimage.data.coffee()[150:246, 250:378].copy()


def _scan(img: np.ndarray, k_max: int, **fit: object) -> dict[int, float]:
    """Brute force: the PSNR of the fit of every K, as a job of that K would measure it."""
    found = {}
    for k in range(1, k_max + 1):
        result = dq.fit_palette(img, k, seed=SEED, **fit)
        labels = dq.apply_palette(img, result.palette, colorspace=result.colorspace)
        found[k] = dq.quality(img, labels, result.palette)["psnr"]
    return found


def _smallest(scan: dict[int, float], target: float) -> int | None:
    return next((k for k in sorted(scan) if scan[k] >= target), None)


def _search(img: np.ndarray, target: float | None, *, k_max: int = K_MAX, **fit: object):
    kwargs = QuantizeOptions(**fit).fit_kwargs()  # type: ignore[arg-type]
    return search_colors(
        da.from_array(img, chunks=(64, 64, img.shape[2])),
        n_colors=k_max,
        target_psnr=target,
        min_psnr=None,
        seed=SEED,
        fit=kwargs,
    )


@pytest.mark.parametrize("colorspace", ["rgb", "lab"])
def test_search_finds_the_smallest_k_of_a_full_scan(colorspace):
    img = _photo()
    scan = _scan(img, K_MAX, colorspace=colorspace)
    values = [scan[k] for k in sorted(scan)]
    # On this photo the PSNR grows with K, which the bisection assumes (see _target).
    assert values == sorted(values)
    # Targets just at, just above and between the PSNRs of the scan.
    targets = [scan[3], scan[7] + 1e-9, (scan[9] + scan[10]) / 2, scan[1] - 1]
    for target in targets:
        found = _search(img, target, colorspace=colorspace)
        assert found.n_colors == _smallest(scan, target), target
        assert found.reached
        # Each K probed gave exactly the PSNR of the job of that K (same seed).
        for k, psnr in found.probes.items():
            assert psnr == scan[k], (target, k)
        assert len(found.probes) <= math.ceil(math.log2(K_MAX)) + 1  # not a scan
    missed = _search(img, scan[K_MAX] + 0.5, colorspace=colorspace)
    assert (missed.n_colors, missed.reached) == (K_MAX, False)


def test_quantize_uses_the_k_found_and_reports_what_it_reached(tmp_path):
    img = _photo()
    scan = _scan(img, K_MAX)
    target = (scan[6] + scan[7]) / 2
    s = dq.quantize(img, tmp_path / "t.zarr", n_colors=K_MAX, target_psnr=target, seed=SEED)
    assert s.n_colors == _smallest(scan, target) == 7
    meta = zarr.open_group(str(tmp_path / "t.zarr"), mode="r").attrs["daskquant"]
    assert meta["target"] == s.extra["target"]
    assert meta["n_colors"] == 7 and meta["request"]["target_psnr"] == target
    t = s.extra["target"]
    assert (t["n_colors"], t["n_colors_max"], t["reached"]) == (7, K_MAX, True)
    # The searched PSNR is the written result's, measured from the store.
    g = zarr.open_group(str(tmp_path / "t.zarr"), mode="r")
    measured = dq.quality(img, g["labels"][:], g["palette"][:])["psnr"]
    assert t["psnr"] == s.extra["quality"]["psnr"] == measured == scan[7]


def test_min_psnr_refuses_and_writes_nothing(tmp_path):
    img = _photo()
    before = set(tmp_path.iterdir())
    with pytest.raises(dq.QualityTooLowError, match=r"with n_colors=4 .* below min_psnr=40"):
        dq.quantize(img, tmp_path / "t.zarr", n_colors=4, target_psnr=45, min_psnr=40, seed=1)
    with pytest.raises(dq.QualityTooLowError):
        dq.quantize(img, tmp_path / "t.png", n_colors=4, min_psnr=40, seed=1)
    assert set(tmp_path.iterdir()) == before  # no store, no image, no claim left
    # A minimum that K colors reach: K is kept (no target, no search below it).
    s = dq.quantize(img, tmp_path / "ok.zarr", n_colors=4, min_psnr=10, seed=1)
    assert s.n_colors == 4 and s.extra["target"]["psnr"] >= 10


def test_few_colors_reach_any_target_exactly(tmp_path):
    img = _photo() // 64 * 64  # at most 4^3 colors
    n = len(np.unique(img.reshape(-1, 3), axis=0))
    found = _search(img, 99.0, k_max=n + 5)
    assert found.n_colors <= n and found.reached
    assert found.probes[found.n_colors] == math.inf or found.probes[found.n_colors] >= 99


def test_sixteen_bit_images_search_a_sample():
    rgb = skimage.data.astronaut()[100:164, 200:296]
    img = rgb.astype(np.uint16) * 257 - (np.arange(64) % 251).astype(np.uint16)[:, None, None]
    scan = _scan(img, 6, attempts=1)  # smaller than the sample: the sample is the image
    target = (scan[3] + scan[4]) / 2
    found = _search(img, target, k_max=6, attempts=1)
    assert found.searched_on == "sample"
    assert found.n_colors == _smallest(scan, target)
    assert found.probes[found.n_colors] == scan[found.n_colors]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"target_psnr": 30, "min_psnr": 35}, "min_psnr=35 is above target_psnr=30"),
        ({"target_psnr": -1}, "target_psnr must be a PSNR in dB"),
        ({"min_psnr": float("inf")}, "min_psnr must be a PSNR in dB"),
        ({"target_psnr": 30, "palette": "web216"}, "do not go with palette='web216'"),
        ({"target_psnr": 30, "dither": "bayer2"}, "do not go with dither='bayer2'"),
        ({"target_psnr": 30, "init": np.zeros((4, 3))}, "do not go with init given"),
    ],
)
def test_bad_targets_are_refused(options, message):
    with pytest.raises(dq.InvalidParameterError, match=message):
        QuantizeOptions(**options)
