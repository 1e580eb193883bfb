"""Pinned colors (issue 20, ``pin=``): exactly in the palette, never moved by Lloyd; the free
centers a Lloyd fixed point given the pins (against brute-force NumPy); deterministic."""

from __future__ import annotations

import json
from typing import Any

import dask
import dask.array as da
import numpy as np
import pytest
import zarr
from conftest import PHOTOS
from distributed import Client, LocalCluster
from numpy.typing import NDArray

import daskquant as dq
from daskquant._api._fit import SharedTable
from daskquant._cli._main import main
from daskquant._errors import InvalidParameterError

PINS = np.array([[255, 255, 255], [0, 0, 0], [227, 6, 19]], np.uint8)  # white, black, a red
PIN_TEXT = "#ffffff,#000000,#e30613"


def _nearest(pixels: NDArray[np.float64], centers: NDArray[np.float64]) -> NDArray[np.intp]:
    """Brute force: the nearest center of every pixel (ties to the lowest index)."""
    d = ((pixels[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    return np.argmin(d, axis=1)


def _lloyd_step_fixed(
    pixels: NDArray[np.float64], centers: NDArray[np.float64], n_fixed: int
) -> NDArray[np.float64]:
    """One brute-force Lloyd update whose first ``n_fixed`` rows do not move."""
    labels = _nearest(pixels, centers)
    new = centers.copy()
    for k in range(n_fixed, centers.shape[0]):
        members = pixels[labels == k]
        if len(members):
            new[k] = members.mean(axis=0)
    return new


@pytest.mark.parametrize("method", ["histogram", "pixels"])
def test_free_centers_are_a_lloyd_fixed_point_given_the_pins(photo: NDArray, method: str) -> None:
    fit = dq.fit_palette(
        photo, 8, pin=PIN_TEXT, method=method, seed=4, epsilon=0, max_iter=200, chunks=48
    )
    assert fit.converged and fit.n_pinned == 3 and fit.method == method
    np.testing.assert_array_equal(fit.palette[:3], PINS)
    np.testing.assert_array_equal(fit.centers[:3], PINS.astype(np.float64))
    pixels = photo.reshape(-1, 3).astype(np.float64)
    step = _lloyd_step_fixed(pixels, fit.centers, 3)
    np.testing.assert_allclose(step, fit.centers, rtol=0, atol=1e-9)
    # Counts and compactness are those of the palette as stored (rounded to uint8).
    stored = fit.palette.astype(np.float64)
    labels = _nearest(pixels, stored)
    np.testing.assert_array_equal(fit.counts, np.bincount(labels, minlength=8))
    brute = float(((pixels - stored[labels]) ** 2).sum())
    assert fit.compactness == pytest.approx(brute, rel=1e-12)


def test_a_brute_force_lloyd_with_fixed_rows_gives_the_same_centers(astronaut: NDArray) -> None:
    # From the same start centers (pins + given free ones), the same updates.
    start = np.array([[40, 40, 40], [120, 90, 80], [200, 160, 140], [90, 60, 50]], np.float64)
    fit = dq.fit_palette(astronaut, 7, pin=PINS, init=start, attempts=1, epsilon=0, max_iter=8)
    pixels = astronaut.reshape(-1, 3).astype(np.float64)
    centers = np.concatenate([PINS.astype(np.float64), start])
    for _ in range(fit.n_iter):
        centers = _lloyd_step_fixed(pixels, centers, 3)
    np.testing.assert_allclose(fit.centers, centers, rtol=0, atol=1e-9)


@pytest.mark.parametrize(
    ("method", "colorspace"),
    [("histogram", "rgb"), ("pixels", "rgb"), ("histogram", "lab"), ("histogram", "din99")],
)
@pytest.mark.parametrize("init", ["random", "k-means++", "k-means||"])
def test_pins_stay_with_every_init_path_and_space(init: str, method: str, colorspace: str) -> None:
    # The perceptual pixel path: test_pins_on_a_uint16_image.
    photo = PHOTOS["coffee"]()
    fit = dq.fit_palette(
        photo, 6, pin=PIN_TEXT, init=init, method=method, colorspace=colorspace, seed=2
    )
    np.testing.assert_array_equal(fit.palette[:3], PINS)
    assert fit.palette.shape == (6, 3) and len(np.unique(fit.palette, axis=0)) == 6
    labels = dq.apply_palette(photo, fit.centers, colorspace=colorspace).compute()
    np.testing.assert_array_equal(np.bincount(labels.ravel(), minlength=6), fit.counts)


@pytest.mark.parametrize("method", ["summary", "pixels"])
@pytest.mark.parametrize("colorspace", ["rgb", "lab"])
def test_pins_on_a_uint16_image(uint16_photo: NDArray, colorspace: str, method: str) -> None:
    # 8-bit sources are scaled to the image's range (x 257); arrays are in its values.
    kw: dict[str, Any] = {"seed": 1, "method": method}
    fit = dq.fit_palette(uint16_photo, 5, pin="#ffffff,#000000", colorspace=colorspace, **kw)
    assert fit.method == method
    np.testing.assert_array_equal(fit.palette[:2], [[65535] * 3, [0] * 3])
    fit = dq.fit_palette(uint16_photo, 5, pin=[[1000, 2000, 3000]], max_iter=3, **kw)
    np.testing.assert_array_equal(fit.palette[0], [1000, 2000, 3000])


def test_a_pinned_color_no_pixel_is_near_stays(astronaut: NDArray) -> None:
    gray = np.repeat(astronaut[..., :1], 3, axis=2)
    fit = dq.fit_palette(gray, 4, pin="#00ff00", seed=0)
    np.testing.assert_array_equal(fit.palette[0], [0, 255, 0])
    assert fit.counts[0] == 0 and fit.counts[1:].sum() == gray.shape[0] * gray.shape[1]


def test_every_color_pinned_is_a_fixed_palette(astronaut: NDArray) -> None:
    fit = dq.fit_palette(astronaut, 3, pin=PINS, seed=0)
    np.testing.assert_array_equal(fit.palette, PINS)
    labels = _nearest(astronaut.reshape(-1, 3).astype(np.float64), PINS.astype(np.float64))
    np.testing.assert_array_equal(fit.counts, np.bincount(labels, minlength=3))


CHUNKINGS: list[Any] = [64, (100, 300), (50, 91), "one"]


@pytest.mark.parametrize("method", ["histogram", "pixels"])
def test_pinned_fit_does_not_depend_on_chunking(astronaut: NDArray, method: str) -> None:
    fits = []
    for chunks in CHUNKINGS:
        image = da.from_array(astronaut, chunks=astronaut.shape) if chunks == "one" else astronaut
        kw = {} if chunks == "one" else {"chunks": chunks}
        fits.append(dq.fit_palette(image, 8, pin=PIN_TEXT, seed=3, method=method, **kw))
    for fit in fits[1:]:
        np.testing.assert_array_equal(fit.centers, fits[0].centers)
        np.testing.assert_array_equal(fit.counts, fits[0].counts)
        assert (fit.compactness, fit.n_iter) == (fits[0].compactness, fits[0].n_iter)


def _on_workers_and_threads(client: Client, image: NDArray) -> tuple[Any, Any]:
    kw: dict[str, Any] = {"pin": PIN_TEXT, "seed": 5, "chunks": 64, "attempts": 3}
    with dask.config.set(scheduler="threads"):
        want = dq.fit_palette(image, 8, **kw)
    with client.as_current(), dask.config.set(scheduler=client.get):
        got = dq.fit_palette(image, 8, **kw)
    assert isinstance(got.color_labels, SharedTable)  # the fit ran on the workers
    return got, want


def test_pinned_fit_on_2_workers_gives_the_threaded_result(
    astronaut: NDArray, local_cluster: Client
) -> None:
    _assert_same(*_on_workers_and_threads(local_cluster, astronaut))


@pytest.mark.slow  # starts its own cluster (about 10 s)
def test_pinned_fit_on_1_worker_gives_the_threaded_result(astronaut: NDArray) -> None:
    with (
        LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0") as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        _assert_same(*_on_workers_and_threads(client, astronaut))


def _assert_same(got: Any, want: Any) -> None:
    np.testing.assert_array_equal(got.centers, want.centers)
    np.testing.assert_array_equal(got.counts, want.counts)
    assert got.compactness == want.compactness
    np.testing.assert_array_equal(got.palette[:3], PINS)


@pytest.mark.parametrize(
    ("pin", "message"),
    [
        ("#ffffff,#000000,#e30613,#00ff00", "4 pinned colors, more than n_colors=3"),
        ([[300, 0, 0]], "between 0 and 255"),
        ([[-1, 0, 0]], "between 0 and 255"),
        ("#ffffff,#000000,#ffffff", "color [255, 255, 255] is given twice (entry 2)"),
        ([[1, 2]], "expected (K, 1) or (K, 3) colors"),
    ],
)
def test_bad_pins_are_refused(astronaut: NDArray, pin: Any, message: str) -> None:
    with pytest.raises(InvalidParameterError) as err:
        dq.fit_palette(astronaut, 3, pin=pin)
    assert message in str(err.value)


def test_pins_with_given_start_centers_of_the_wrong_shape(astronaut: NDArray) -> None:
    with pytest.raises(InvalidParameterError, match=r"finite \(2, 3\) array"):
        dq.fit_palette(astronaut, 5, pin=PINS, init=np.zeros((5, 3)))


def test_pin_and_palette_exclude_each_other(astronaut: NDArray, tmp_path: Any) -> None:
    with pytest.raises(InvalidParameterError, match="pin and palette exclude each other"):
        dq.quantize(astronaut, tmp_path / "x.zarr", n_colors=4, pin="#fff", palette="gray:4")


def test_cli_pin_from_a_palette_file(
    astronaut: NDArray, tmp_path: Any, capsys: Any, local_cluster: Client
) -> None:
    import cv2

    png, out, pins = tmp_path / "a.png", tmp_path / "a.zarr", tmp_path / "pins.txt"
    cv2.imwrite(str(png), cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    pins.write_text("# pinned\n255 255 255\n#e30613\n")
    args = ["quantize", str(png), str(out), "-k", "6", "--seed", "1", "--pin", str(pins)]
    on = ["--scheduler", local_cluster.scheduler.address]
    assert main([*args, "--json", "-q", *on]) == 0
    summary = json.loads(capsys.readouterr().out)
    group = zarr.open_group(str(out), mode="r")
    palette = group["palette"][:]
    np.testing.assert_array_equal(palette[:2], [[255, 255, 255], [227, 6, 19]])
    assert summary["palette"][:2] == [[255, 255, 255], [227, 6, 19]]
    assert group.attrs["daskquant"]["fit"]["n_pinned"] == 2
    # A later job pins the first store's whole palette plus fits two more.
    out2 = tmp_path / "b.zarr"
    with dask.config.set(scheduler="threads"):
        assert dq.quantize(astronaut, out2, n_colors=8, pin=out, seed=1).n_colors == 8
    np.testing.assert_array_equal(zarr.open_group(str(out2))["palette"][:6], palette)
