"""fit_palette and apply_palette: chunking invariance, exact fast path, references, laziness."""

from __future__ import annotations

import warnings
from typing import Any

import dask.array as da
import numpy as np
import pytest
import skimage.data
from _oracles import assert_same_fit, brute_compactness, nearest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.typing import NDArray

import daskquant as dq

# --- helpers ----------------------------------------------------------------------------


def distinct_pixels(image: NDArray, k: int, seed: int) -> NDArray[np.float64]:
    """k distinct colors of the image, as (k, C) float64 start centers."""
    colors = np.unique(image.reshape(-1, image.shape[-1]), axis=0)
    rng = np.random.default_rng(seed)
    return colors[rng.choice(colors.shape[0], k, replace=False)].astype(np.float64)


# --- the counting scheduler itself ------------------------------------------------------


def test_counting_scheduler_counts_and_limits(counting_scheduler: Any) -> None:
    x = da.ones(10, chunks=5).sum()
    with counting_scheduler(limit=1) as counter:
        assert x.compute() == 10
        with pytest.raises(counting_scheduler.TooManyComputes):
            x.compute()
    assert counter.calls == 2


# --- chunking invariance ----------------------------------------------------------------

# Spatial chunks of the 200 x 200 test photo: square, ragged, strips, and a single chunk.
CHUNKINGS = [64, (100, 300), (50, 91), "one"]


def _fit_chunked(image: NDArray, chunks: Any, **kw: Any) -> dq.FitResult:
    if chunks == "one":
        return dq.fit_palette(da.from_array(image, chunks=image.shape), 8, **kw)
    return dq.fit_palette(image, 8, chunks=chunks, **kw)


@pytest.mark.parametrize("init", ["k-means++", "random"])
@pytest.mark.parametrize("method", ["pixels", "histogram"])
def test_chunking_invariance_uint8(astronaut: NDArray, method: str, init: str) -> None:
    fits = [_fit_chunked(astronaut, c, seed=3, method=method, init=init) for c in CHUNKINGS]
    assert fits[0].n_iter > 1
    for fit in fits[1:]:
        assert_same_fit(fit, fits[0])


@pytest.mark.parametrize("init", ["k-means++", "random"])
@pytest.mark.parametrize("method", ["pixels", "auto"])
def test_chunking_invariance_uint16(uint16_photo: NDArray, method: str, init: str) -> None:
    fits = [_fit_chunked(uint16_photo, c, seed=3, init=init, method=method) for c in CHUNKINGS]
    assert fits[0].method == ("pixels" if method == "pixels" else "summary")
    assert fits[0].n_iter > 1 or method == "auto"  # the summary's run may end at once
    for fit in fits[1:]:
        assert_same_fit(fit, fits[0])


@pytest.mark.parametrize("init", ["k-means++", "random"])
@pytest.mark.parametrize("method", ["pixels", "auto"])
def test_chunking_invariance_float32(float32_photo: NDArray, method: str, init: str) -> None:
    kw: dict[str, Any] = {"seed": 3, "init": init, "epsilon": 1e-3, "method": method}
    fits = [_fit_chunked(float32_photo, c, **kw) for c in CHUNKINGS]
    assert fits[0].method == ("pixels" if method == "pixels" else "summary")
    assert fits[0].n_iter > 1 or method == "auto"
    for fit in fits[1:]:
        np.testing.assert_array_equal(fit.centers, fits[0].centers)
        assert fit.n_iter == fits[0].n_iter
        # The distance sums are float64 sums of inexact terms, combined in a chunk-shaped
        # tree: equal to rounding, not bit for bit (see the report).
        assert fit.compactness == pytest.approx(fits[0].compactness, rel=1e-12)


def test_chunking_invariance_of_the_seed_sample() -> None:
    # Over 2**18 float pixels k-means++ seeds from a hashed sample of pixel indices; the sample
    # must not depend on the chunking, including the stack axis.
    stack = np.stack([skimage.data.astronaut()[:400, :400], skimage.data.coffee()[:400, :400]])
    stack = (stack / np.float32(255)).astype(np.float32)
    fits = [
        dq.fit_palette(stack, 6, seed=5, chunks=c, max_iter=3, epsilon=0)
        for c in (128, (1, 400, 400), (200, 100), 333)
    ]
    for fit in fits[1:]:
        np.testing.assert_array_equal(fit.centers, fits[0].centers)
        assert fit.compactness == pytest.approx(fits[0].compactness, rel=1e-12)


# --- the defaults: the kept attempt continued to a fixed point -------------------------


def _brute_lloyd_step(points: NDArray, weights: NDArray, centers: NDArray) -> NDArray:
    """One Lloyd update of weighted points, by brute force (every cluster non-empty)."""
    labels = nearest(points, centers)
    w = np.bincount(labels, weights, minlength=centers.shape[0])
    assert (w > 0).all()
    sums = np.stack(
        [np.bincount(labels, weights * points[:, j], centers.shape[0]) for j in range(3)], 1
    )
    return sums / w[:, None]


@pytest.mark.parametrize("colorspace", ["rgb", "din99"])
def test_defaults_continue_the_kept_attempt_to_a_lloyd_fixed_point(
    astronaut: NDArray, colorspace: str
) -> None:
    fit = dq.fit_palette(astronaut, 12, seed=3, colorspace=colorspace)  # type: ignore[arg-type]
    # The criteria alone (epsilon given as the default's value): the first 4 of the same
    # attempts (8 in DIN99), stopped at epsilon; the defaults continue the best 3 of 12.
    plain = dq.fit_palette(
        astronaut,
        12,
        seed=3,
        colorspace=colorspace,
        epsilon=fit.epsilon,  # type: ignore[arg-type]
    )
    assert fit.converged and fit.n_iter > plain.n_iter
    assert (fit.attempts, plain.attempts) == ((12, 4) if colorspace == "rgb" else (8, 8))
    assert plain.n_iter <= plain.max_iter
    colors, counts = np.unique(astronaut.reshape(-1, 3), axis=0, return_counts=True)
    if colorspace == "rgb":
        points, centers, before = colors.astype(np.float64), fit.centers, plain.centers
    else:
        points = dq_to_space(colors)
        centers, before = dq_to_space(fit.centers), dq_to_space(plain.centers)
    # A fixed point: one more brute-force update gives the same centers.
    np.testing.assert_allclose(_brute_lloyd_step(points, counts, centers), centers, atol=1e-6)
    # ... and no worse than where the criteria stopped (the k-means objective, weighted).
    sse = lambda c: float((((points[:, None] - c[None]) ** 2).sum(2).min(1) * counts).sum())  # noqa: E731
    assert sse(centers) <= sse(before) * (1 + 1e-9)


def test_many_distinct_colors_bound_the_defaults_extra_work() -> None:
    from daskquant._api import _fit

    # Noise: about 404,000 distinct colors, more than 12 attempts' budget allows.
    img = np.random.default_rng(0).integers(0, 256, (640, 640, 3), np.uint8)
    n = np.unique(img.reshape(-1, 3), axis=0).shape[0]
    fit = dq.fit_palette(img, 8, seed=0)
    budget = _fit.continue_iter(_fit.CONVERGE_ITER, n)
    assert fit.attempts == _fit.ATTEMPT_WORK // n == 10
    assert budget == _fit.CONTINUE_WORK // (_fit.FINALISTS * n) == 110
    assert fit.max_iter < fit.n_iter <= fit.max_iter + budget
    # Photos keep the whole continuation; millions of colors a floor of it.
    assert _fit.continue_iter(300, 117_187) == 300 and _fit.continue_iter(300, 1_277_159) == 35
    assert _fit.continue_iter(300, 2**24) == _fit.MIN_CONTINUE == 10
    assert _fit.continue_iter(0, 1000) == 0


def test_given_epsilon_or_method_stops_at_the_criteria(astronaut: NDArray) -> None:
    for kw in ({"epsilon": 1.0}, {"method": "histogram"}):
        fit = dq.fit_palette(astronaut, 12, seed=3, max_iter=3, **kw)  # type: ignore[arg-type]
        assert fit.n_iter <= 3
    assert dq.fit_palette(astronaut, 12, seed=3, max_iter=3).n_iter > 3


def dq_to_space(rgb: NDArray) -> NDArray[np.float64]:
    from daskquant._color._spaces import to_space

    return to_space(np.asarray(rgb, np.float64), "din99")


# --- the histogram fast path ------------------------------------------------------------


@pytest.mark.parametrize("init", ["random", "k-means++", "given"])
def test_histogram_equals_pixels_on_photos(photo: NDArray, init: str) -> None:
    start: Any = distinct_pixels(photo, 8, seed=1) if init == "given" else init
    kw: dict[str, Any] = {"seed": 7, "init": start, "chunks": 50, "epsilon": 0.1}
    hist = dq.fit_palette(photo, 8, method="histogram", **kw)
    pix = dq.fit_palette(photo, 8, method="pixels", **kw)
    assert (hist.method, pix.method) == ("histogram", "pixels")
    assert_same_fit(hist, pix)
    assert hist.n_iter > 1
    assert hist.n_distinct == np.unique(photo.reshape(-1, 3), axis=0).shape[0]
    assert hist.n_pixels == pix.n_pixels == photo.shape[0] * photo.shape[1]


def test_auto_uses_histogram_for_8bit_else_summary(
    astronaut: NDArray, uint16_photo: NDArray
) -> None:
    assert dq.fit_palette(astronaut, 4, seed=0).method == "histogram"
    assert dq.fit_palette(uint16_photo, 4, seed=0).method == "summary"
    with pytest.raises(dq.InvalidParameterError, match="histogram"):
        dq.fit_palette(uint16_photo, 4, method="histogram")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_integer_valued_floats_fit_as_8bit(astronaut: NDArray, dtype: type) -> None:
    # The recipe's np.float32(img): the fit of the uint8 image, on its exact histogram.
    want = dq.fit_palette(astronaut, 8, seed=5, chunks=64)
    got = dq.fit_palette(astronaut.astype(dtype), 8, seed=5, chunks=(48, 80))
    assert got.method == want.method == "histogram"
    np.testing.assert_array_equal(got.centers, want.centers)
    assert (got.n_iter, got.attempts, got.n_distinct) == (
        want.n_iter,
        want.attempts,
        want.n_distinct,
    )
    # The stored palette is the float centers (want's is rounded to uint8): counts,
    # compactness and labels are those of each fit's own palette.
    assert got.palette.dtype == dtype
    np.testing.assert_array_equal(got.palette, want.centers.astype(dtype))
    stored = got.palette.astype(np.float64)
    pixels = astronaut.reshape(-1, 3).astype(np.float64)
    brute = nearest(astronaut, stored)
    np.testing.assert_array_equal(got.counts, np.bincount(brute.ravel(), minlength=8))
    assert got.compactness == pytest.approx(
        float(((pixels - stored[brute.ravel()]) ** 2).sum()), rel=1e-9
    )
    labels = dq.apply_palette(astronaut.astype(dtype), got.palette).compute()
    np.testing.assert_array_equal(labels, brute)


def test_integer_valued_floats_with_alpha_fit_as_8bit() -> None:
    photo = skimage.data.coffee()[100:228, 200:328]
    alpha = np.random.default_rng(0).choice(np.array([0, 1, 255], np.uint8), photo.shape[:2])
    rgba = np.dstack([photo, alpha])
    frgba = rgba.astype(np.float32)
    frgba[..., 3] /= 255  # alpha in 0..1 is still read as "not 0"
    frgba[alpha == 0, :3] = np.nan  # transparent pixels may hold anything
    want = dq.fit_palette(rgba, 6, seed=1, chunks=64)
    got = dq.fit_palette(frgba, 6, seed=1, chunks=64)
    assert got.method == "histogram"
    np.testing.assert_array_equal(got.centers, want.centers)  # the same fit; its palette
    assert (got.n_iter, got.converged) == (want.n_iter, want.converged)  # is not rounded


@pytest.mark.parametrize(
    "change", [(0, 0, 0, 0.5), (1, 2, 1, 256.0), (3, 4, 2, -1.0)], ids=["fraction", "256", "neg"]
)
def test_floats_beyond_8bit_values_take_the_summary(astronaut: NDArray, change: tuple) -> None:
    y, x, c, v = change
    img = astronaut.astype(np.float32)
    img[y, x, c] = v
    fit = dq.fit_palette(img, 4, seed=0)
    assert fit.method == "summary" and fit.attempts == 4
    assert fit.compactness == pytest.approx(brute_compactness(img, fit.centers), rel=1e-9)


def test_integer_valued_float_fit_costs_one_stats_pass(
    astronaut: NDArray, counting_scheduler: Any
) -> None:
    image = da.from_array(astronaut.astype(np.float32), chunks=64)
    with counting_scheduler() as counter:
        fit = dq.fit_palette(image, 8, seed=0)
    assert fit.method == "histogram" and fit.n_iter > 2
    assert counter.calls == 2  # the stats, then the histogram


# --- references -------------------------------------------------------------------------


def test_matches_scikit_learn_lloyd(photo: NDArray) -> None:
    from sklearn.cluster import KMeans

    image = photo.astype(np.float64)
    x = image.reshape(-1, 3)
    k, m = 8, 5
    start = distinct_pixels(photo, k, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        km = KMeans(n_clusters=k, init=start, n_init=1, max_iter=m, tol=0, algorithm="lloyd")
        km.fit(x)
        more = KMeans(n_clusters=k, init=start, n_init=1, max_iter=m + 1, tol=0)
        more.fit(x)
    # sklearn's max_iter counts center updates, like ours; it must not have stopped early,
    # or the comparison would not check the iteration count.
    assert km.n_iter_ == m
    assert not np.allclose(km.cluster_centers_, more.cluster_centers_, rtol=1e-6)

    fit = dq.fit_palette(image, k, init=start, max_iter=m, epsilon=0, chunks=64)
    assert fit.n_iter == m
    assert not fit.converged
    np.testing.assert_allclose(fit.centers, km.cluster_centers_, rtol=1e-6)
    assert fit.compactness == pytest.approx(km.inertia_, rel=1e-9)
    labels = dq.apply_palette(image, fit.centers).compute().reshape(-1)
    assert np.mean(labels == km.labels_) > 0.999


def test_compactness_is_brute_force_sum(photo: NDArray, float32_photo: NDArray) -> None:
    for image in (photo, float32_photo):
        fit = dq.fit_palette(image, 6, seed=4, epsilon=1e-3)
        want = brute_compactness(image, fit.palette)  # the colors stored, not the centers
        assert fit.compactness == pytest.approx(want, rel=1e-10)


def test_palette_is_rounded_centers(astronaut: NDArray, float32_photo: NDArray) -> None:
    fit = dq.fit_palette(astronaut, 8, seed=0)
    assert fit.palette.dtype == np.uint8
    np.testing.assert_array_equal(fit.palette, np.clip(np.rint(fit.centers), 0, 255))
    fit32 = dq.fit_palette(float32_photo, 8, seed=0, epsilon=1e-3)
    assert fit32.palette.dtype == np.float32
    np.testing.assert_array_equal(fit32.palette, fit32.centers.astype(np.float32))


# --- apply_palette ----------------------------------------------------------------------


@pytest.mark.parametrize("n_colors", [5, 256, 257, 300])
def test_apply_palette_is_lazy_and_nearest(
    astronaut: NDArray, counting_scheduler: Any, n_colors: int
) -> None:
    rng = np.random.default_rng(n_colors)
    palette = rng.integers(0, 256, (n_colors, 3)).astype(np.uint8)
    palette[-1] = palette[0]  # a duplicate entry: its pixels must take the lower index
    with counting_scheduler(limit=0):
        labels = dq.apply_palette(astronaut, palette, chunks=(64, 90))
    assert isinstance(labels, da.Array)
    assert labels.shape == astronaut.shape[:2]
    want_dtype = np.uint8 if n_colors <= 256 else np.uint16
    assert labels.dtype == want_dtype
    with counting_scheduler(limit=1) as counter:
        got = labels.compute()
    assert counter.calls == 1
    assert got.dtype == want_dtype
    np.testing.assert_array_equal(got, nearest(astronaut, palette))
    assert got.max() < n_colors - 1


def test_apply_palette_dtypes_and_layouts(float32_photo: NDArray, uint16_photo: NDArray) -> None:
    rng = np.random.default_rng(0)
    pal = rng.random((7, 3))
    np.testing.assert_array_equal(
        dq.apply_palette(float32_photo, pal, chunks=50).compute(),
        nearest(float32_photo, pal.astype(np.float32)),  # the palette as a float32 image stores it
    )
    pal16 = pal * 65535
    stored16 = np.rint(pal16)
    np.testing.assert_array_equal(
        dq.apply_palette(uint16_photo, pal16).compute(), nearest(uint16_photo, stored16)
    )
    # RGBA: the alpha channel is ignored when labeling.
    rgba = np.concatenate([uint16_photo, np.zeros_like(uint16_photo[..., :1])], axis=-1)
    np.testing.assert_array_equal(
        dq.apply_palette(rgba, pal16, chunks=64).compute(), nearest(uint16_photo, stored16)
    )


def test_apply_palette_bad_palette(astronaut: NDArray) -> None:
    with pytest.raises(dq.InvalidParameterError, match="palette"):
        dq.apply_palette(astronaut, np.zeros((4, 2)))
    with pytest.raises(dq.InvalidParameterError, match="NaN"):
        dq.apply_palette(astronaut, np.full((4, 3), np.nan))
    with pytest.raises(dq.InvalidParameterError, match="palette"):
        dq.apply_palette(astronaut, np.zeros((0, 3)))


# --- one compute per Lloyd iteration ----------------------------------------------------


def test_pixels_fit_computes_once_per_iteration(
    astronaut: NDArray, counting_scheduler: Any
) -> None:
    image = da.from_array(astronaut, chunks=(64, 64, 3))
    with counting_scheduler() as counter:
        fit = dq.fit_palette(image, 8, seed=0, method="pixels", epsilon=0.5, attempts=1)
    assert fit.n_iter > 2
    # histogram/statistics pass + one per Lloyd update + the final evaluation pass.
    assert counter.calls == fit.n_iter + 2
    # NumPy input may be persisted (placed on the workers) once first: one more, no more.
    with counting_scheduler() as counter:
        fit = dq.fit_palette(
            astronaut, 8, seed=0, method="pixels", chunks=64, epsilon=0.5, attempts=1
        )
    assert fit.n_iter + 2 <= counter.calls <= fit.n_iter + 3


def test_histogram_fit_computes_once(astronaut: NDArray, counting_scheduler: Any) -> None:
    with counting_scheduler(limit=1):
        fit = dq.fit_palette(da.from_array(astronaut, chunks=64), 8, seed=0, method="histogram")
    assert fit.n_iter > 2


def test_float_fit_computes_once_per_iteration(
    float32_photo: NDArray, counting_scheduler: Any
) -> None:
    image = da.from_array(float32_photo, chunks=(64, 64, 3))
    start = distinct_pixels(float32_photo, 8, seed=0)
    with counting_scheduler() as counter:
        fit = dq.fit_palette(image, 8, init=start, epsilon=1e-3, method="pixels")
    assert fit.n_iter > 2
    assert counter.calls == fit.n_iter + 2
    # k-means++ on float data also draws its seeding sample: one more pass, no more.
    with counting_scheduler() as counter:
        fit = dq.fit_palette(image, 8, seed=0, epsilon=1e-3, method="pixels")
    assert counter.calls == fit.n_iter + 3


# --- alpha, stacks, grayscale -----------------------------------------------------------


@pytest.mark.parametrize("method", ["pixels", "histogram"])
@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_transparent_pixels_do_not_count(method: str, init: str) -> None:
    photo = skimage.data.coffee()[100:228, 200:328]
    rng = np.random.default_rng(0)
    alpha = rng.choice(np.array([0, 1, 128, 255], np.uint8), size=photo.shape[:2])
    rgb = photo.copy()
    rgb[alpha == 0] = (255, 0, 255)  # loud color: counting it would change the palette
    rgba = np.concatenate([rgb, alpha[..., None]], axis=-1)
    opaque = rgb[alpha != 0][:, None, :]  # (N, 1, 3)
    kw: dict[str, Any] = {"seed": 11, "method": method, "init": init}
    a = dq.fit_palette(rgba, 6, chunks=64, **kw)
    b = dq.fit_palette(opaque, 6, chunks=(5000, 1), **kw)
    assert_same_fit(a, b)
    assert a.n_pixels == b.n_pixels == np.count_nonzero(alpha)
    assert a.centers.shape == (6, 3)
    counted = dq.fit_palette(rgb, 6, chunks=64, **kw)
    assert not np.array_equal(counted.centers, a.centers)


def test_transparent_float_and_gray_alpha(float32_photo: NDArray) -> None:
    rng = np.random.default_rng(1)
    alpha = (rng.random(float32_photo.shape[:2]) < 0.6).astype(np.float32)
    rgb = float32_photo.copy()
    rgb[alpha == 0] = np.nan  # masked pixels may hold anything, even NaN
    start = distinct_pixels(float32_photo[alpha != 0][:, None], 5, seed=0)
    rgba = np.concatenate([rgb, alpha[..., None]], axis=-1)
    a = dq.fit_palette(rgba, 5, init=start, chunks=64, epsilon=1e-4)
    b = dq.fit_palette(rgb[alpha != 0][:, None], 5, init=start, chunks=(500, 1), epsilon=1e-4)
    np.testing.assert_array_equal(a.centers, b.centers)
    assert a.n_iter == b.n_iter and a.n_pixels == b.n_pixels
    assert a.compactness == pytest.approx(b.compactness, rel=1e-12)
    # Gray + alpha (C = 2).
    gray = skimage.data.camera()[100:300, 150:350]
    ga = np.stack([gray, (alpha * 255).astype(np.uint8)], axis=-1)
    c = dq.fit_palette(ga, 4, seed=2)
    d = dq.fit_palette(gray[alpha != 0][:, None, None], 4, seed=2)
    assert_same_fit(c, d)
    assert c.centers.shape == (4, 1)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("channels", [2, 4])
def test_fully_transparent_image_is_an_error(dtype: type, channels: int) -> None:
    image = np.ones((8, 8, channels), dtype)
    image[..., -1] = 0
    with pytest.raises(dq.InputError, match="transparent"):
        dq.fit_palette(image, 2)


@pytest.mark.parametrize("method", ["pixels", "histogram"])
def test_stack_shares_one_palette(method: str) -> None:
    photos = [
        skimage.data.astronaut()[:96, :128],
        skimage.data.coffee()[:96, :128],
        skimage.data.chelsea()[:96, :128],
    ]
    stack = np.stack(photos)  # (3, 96, 128, 3)
    kw: dict[str, Any] = {"seed": 5, "method": method}
    fit = dq.fit_palette(stack, 8, chunks=(1, 48, 64), **kw)
    tall = dq.fit_palette(np.concatenate(photos, axis=0), 8, chunks=70, **kw)
    assert_same_fit(fit, tall)
    labels = dq.apply_palette(stack, fit.palette, chunks=(2, 50, 50))
    assert labels.shape == (3, 96, 128)
    got = labels.compute()
    for i, p in enumerate(photos):
        np.testing.assert_array_equal(got[i], nearest(p, fit.palette))


def test_stack_as_dask_array_with_odd_chunks() -> None:
    stack = np.stack([skimage.data.astronaut()[:64, :64], skimage.data.coffee()[:64, :64]])
    # Dask input chunked along the channel axis gets the channels merged into one chunk.
    x = da.from_array(stack, chunks=(1, 30, 40, 1))
    fit = dq.fit_palette(x, 5, seed=1)
    assert_same_fit(fit, dq.fit_palette(stack, 5, seed=1))
    np.testing.assert_array_equal(
        dq.apply_palette(x, fit.palette).compute(), nearest(stack, fit.palette)
    )


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float64])
def test_grayscale(dtype: type) -> None:
    gray = skimage.data.camera()[100:300, 150:350].astype(dtype)
    fit = dq.fit_palette(gray, 4, seed=0, chunks=64, epsilon=0.5)
    assert fit.centers.shape == (4, 1)
    assert_same_fit(fit, dq.fit_palette(gray[..., None], 4, seed=0, chunks=64, epsilon=0.5))
    labels = dq.apply_palette(gray, fit.centers[:, 0])
    assert labels.shape == gray.shape
    np.testing.assert_array_equal(labels.compute(), nearest(gray[..., None], fit.palette))
    # 1-D k-means: the centers are the means of their Voronoi cells.
    lab = labels.compute()
    for k in range(4):
        assert fit.centers[k, 0] == pytest.approx(gray[lab == k].astype(float).mean(), abs=0.5)


# --- properties -------------------------------------------------------------------------


@st.composite
def small_images(draw: st.DrawFn) -> tuple[NDArray, int]:
    c = draw(st.sampled_from([1, 3]))
    h, w = draw(st.integers(2, 12)), draw(st.integers(2, 12))
    img = draw(hnp.arrays(np.uint8, (h, w, c), elements=st.integers(0, 255)))
    n_distinct = np.unique(img.reshape(-1, c), axis=0).shape[0]
    k = draw(st.integers(1, min(n_distinct, 6)))
    return img, k


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=small_images(),
    init=st.sampled_from(["k-means++", "random"]),
    seed=st.integers(0, 2**32),
    chunks=st.integers(4, 16),
)
def test_property_labels_in_range(
    data: tuple[NDArray, int], init: str, seed: int, chunks: int
) -> None:
    img, k = data
    fit = dq.fit_palette(img, k, seed=seed, init=init, chunks=chunks)
    assert fit.centers.shape == (k, img.shape[-1])
    assert np.isfinite(fit.centers).all()
    labels = dq.apply_palette(img, fit.palette, chunks=chunks).compute()
    assert labels.shape == img.shape[:2]
    assert labels.min() >= 0 and labels.max() < k
    np.testing.assert_array_equal(labels, nearest(img, fit.palette))
    # Same seed, same result (and the same with another chunking).
    again = dq.fit_palette(img, k, seed=seed, init=init)
    assert_same_fit(fit, again)


@st.composite
def k_color_images(draw: st.DrawFn) -> tuple[NDArray, NDArray]:
    dtype = draw(st.sampled_from([np.uint8, np.uint16, np.float32]))
    c = draw(st.sampled_from([1, 3]))
    k = draw(st.integers(1, 8))
    if dtype is np.float32:  # dyadic values: means of copies are exact
        elements: Any = st.integers(-64, 64).map(lambda v: v / 4)
    else:
        elements = st.integers(0, np.iinfo(dtype).max)
    colors = draw(hnp.arrays(dtype, (k, c), elements=elements, unique=False))
    colors = np.unique(colors, axis=0)
    counts = draw(st.lists(st.integers(1, 20), min_size=len(colors), max_size=len(colors)))
    pixels = np.repeat(colors, counts, axis=0)
    order = draw(st.permutations(range(pixels.shape[0])))
    return pixels[list(order)][:, None, :], colors


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=k_color_images(), seed=st.integers(0, 2**32))
def test_property_k_colors_is_a_fixed_point(data: tuple[NDArray, NDArray], seed: int) -> None:
    img, colors = data
    k = colors.shape[0]
    fit = dq.fit_palette(img, k, seed=seed, chunks=(40, 1))
    order = np.lexsort(fit.centers.T[::-1])
    np.testing.assert_array_equal(fit.centers[order], colors.astype(np.float64))
    np.testing.assert_array_equal(np.sort(fit.palette, axis=0), np.sort(colors, axis=0))
    assert fit.compactness == 0
    labels = dq.apply_palette(img, fit.palette).compute()
    np.testing.assert_array_equal(fit.palette[labels], img)


# --- bad input --------------------------------------------------------------------------


def _catch(exc: type[Exception], fn: Any, *args: Any, **kw: Any) -> str:
    with pytest.raises(exc) as info:
        fn(*args, **kw)
    return str(info.value)


@pytest.mark.parametrize("k", [0, -3, 2.0, True, 65537, "4"])
def test_bad_n_colors(astronaut: NDArray, k: Any) -> None:
    assert "n_colors" in _catch(dq.InvalidParameterError, dq.fit_palette, astronaut, k)


def test_more_colors_than_pixels() -> None:
    img = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    msg = _catch(dq.InputError, dq.fit_palette, img, 5, strict=True)
    assert "4 pixels" in msg and "n_colors=5" in msg
    with pytest.raises(dq.InputError) as info:
        dq.fit_palette(img.astype(np.float32), 5, strict=True)
    assert not isinstance(info.value, dq.TooFewColorsError)
    # Not strict: the 4 pixels' colors are the palette.
    assert dq.fit_palette(img.astype(np.float32), 5).kept_exactly


def test_counts_of_one_are_singular_in_the_messages(astronaut) -> None:
    blank = np.full((30, 30, 3), 255, np.uint8)  # a blank page
    msg = _catch(dq.TooFewColorsError, dq.fit_palette, blank, 2, strict=True)
    assert "only 1 distinct color, fewer than n_colors=2; ask for at most 1 color (" in msg
    msg = _catch(dq.InputError, dq.fit_palette, astronaut[:1, :1], 2, strict=True)
    assert msg.endswith("; ask for at most 1 color")


def test_too_few_colors() -> None:
    img = np.zeros((30, 30, 3), np.uint8)
    img[10:] = (10, 20, 30)
    img[20:] = (200, 100, 0)
    msg = _catch(dq.TooFewColorsError, dq.fit_palette, img, 4, strict=True)
    assert "3 distinct colors" in msg and "n_colors=4" in msg
    assert isinstance(dq.fit_palette(img, 3, seed=0), dq.FitResult)
    # Transparent pixels do not add colors.
    rgba = np.concatenate([img, np.full((30, 30, 1), 255, np.uint8)], axis=-1)
    rgba[25:, :, :3] = 77
    rgba[25:, :, 3] = 0
    assert "3 distinct" in _catch(dq.TooFewColorsError, dq.fit_palette, rgba, 4, strict=True)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nonfinite_input(float32_photo: NDArray, bad: float, dtype: type) -> None:
    img = float32_photo.astype(dtype)
    rng = np.random.default_rng(0)
    where = rng.choice(img.shape[0] * img.shape[1], 17, replace=False)
    flat = img.reshape(-1, 3)
    flat[where[:10], 0] = bad
    flat[where[10:], :] = bad  # a pixel counts once, however many channels are bad
    msg = _catch(dq.InputError, dq.fit_palette, img, 4, chunks=64)
    assert "17" in msg and "NaN" in msg


@pytest.mark.parametrize(
    ("image", "words"),
    [
        (np.zeros(10, np.uint8), "1 dimensions"),
        (np.zeros((2, 3, 4, 5, 3), np.uint8), "5 dimensions"),
        (np.zeros((4, 4, 65), np.uint8), "65 channels"),
        (np.zeros((4, 4, 0), np.uint8), "0 channels"),
        (np.zeros((0, 4, 3), np.uint8), "empty"),
        (np.zeros((4, 0), np.float32), "empty"),
        (np.zeros((4, 4, 3), bool), "bool"),
        (np.zeros((4, 4, 3), np.complex64), "complex64"),
        (np.full((4, 4, 3), "a"), "<U1"),
        (np.empty((4, 4, 3), object), "object"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_images(image: NDArray, words: str) -> None:
    msg = _catch(dq.InputError, dq.fit_palette, image, 2)
    assert words in msg
    assert words in _catch(dq.InputError, dq.apply_palette, image, np.zeros((2, 3)))


@pytest.mark.parametrize(
    ("kw", "name"),
    [
        ({"max_iter": -1}, "max_iter"),
        ({"attempts": 0}, "attempts"),
        ({"epsilon": -1.0}, "epsilon"),
        ({"epsilon": np.nan}, "epsilon"),
        ({"init": "kmeans"}, "init"),
        ({"init": np.zeros((3, 3))}, "init"),
        ({"init": np.full((4, 3), np.nan)}, "init"),
        ({"method": "fast"}, "method"),
        ({"seed": -1}, "seed"),
        ({"chunks": (10, 10, 10, 10)}, "chunks"),
        ({"chunks": 0}, "chunks"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_parameters(astronaut: NDArray, kw: dict[str, Any], name: str) -> None:
    assert name in _catch(dq.InvalidParameterError, dq.fit_palette, astronaut, 4, **kw)


def test_errors_are_daskquant_errors() -> None:
    for exc in (dq.InputError, dq.InvalidParameterError, dq.TooFewColorsError):
        assert issubclass(exc, dq.DaskQuantError)
        assert issubclass(exc, ValueError)
    assert issubclass(dq.TooFewColorsError, dq.InputError)
