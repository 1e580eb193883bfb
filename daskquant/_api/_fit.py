"""The image-level API: fit a palette, map an image onto a palette."""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import dask
import dask.array as da
import numpy as np
from numpy.typing import ArrayLike, NDArray

from daskquant._api._palette import load_palette
from daskquant._color._palettes import MAX_COLORS
from daskquant._color._perceptual import perceptual_labels, refine_centers
from daskquant._color._spaces import (
    ColorSpace,
    check_colorspace,
    from_space,
    rgb_scale,
    to_space,
)
from daskquant._engine import _kernels as K
from daskquant._engine._attempts import (
    FINALISTS,
    Attempt,
    Seeds,
    best_of,
    best_on_cluster,
    plan,
)
from daskquant._engine._codes import ColorCoding
from daskquant._engine._dask import cluster_client, persist_in_memory
from daskquant._engine._lloyd import LloydRun, compactness, pinned, repair_distinct, run_lloyd
from daskquant._engine._points import HistogramSource, PointSource, WeightedPoints
from daskquant._engine._sorting import bounds
from daskquant._engine._sources import (
    Histogram,
    Partials,
    PixelSource,
    Source,
    Stats,
    histogram_capable,
    integer_colors,
)
from daskquant._engine._summary import Grid, Summary, summary_graph, summary_source
from daskquant._errors import InputError, InvalidParameterError, TooFewColorsError
from daskquant._io._layout import Alpha, Layout, as_image
from daskquant._io._masks import Nodata, masked_image
from daskquant._io._xarray import dataarray_pixels

__all__ = [
    "FitResult",
    "SharedTable",
    "fit_palette",
    "image_epsilon",
    "label_dtype",
    "stored_centers",
    "to_palette",
]

log = logging.getLogger("daskquant")

Init = Literal["k-means++", "k-means||", "random"]
Method = Literal["auto", "histogram", "summary", "pixels"]
HISTOGRAM_ATTEMPTS = 4  # default attempts where the exact histogram path applies
PERCEPTUAL_ATTEMPTS = 8  # ... in a perceptual space (see benchmarks/results/quality.md)
PERCEPTUAL_EPSILON = 0.2  # default epsilon in the perceptual spaces (color-difference units)
# With the defaults on the histogram path, the kept attempt then continues to a Lloyd fixed
# point, with at most this many more updates (see benchmarks/results/quality.md).
CONVERGE_ITER = 300
CONVERGE_ATTEMPTS = 12  # default attempts in RGB there (the best FINALISTS = 3 continue)
# ... as long as the distinct colors are few enough: the attempts (4 to 12) and the updates
# continued (10 to 300 each) are bounded by these many color updates, so a photo's fit gets
# them all and a 16-megapixel fit (1.3 million colors) costs 1.6-1.8x that of 4 attempts
# without them (benchmarks/results/extra_work.md).
ATTEMPT_WORK = 2**22  # attempts x distinct colors: 12 up to 349,525 colors, 4 from 1,048,576
CONTINUE_WORK = 2**27  # continued updates x distinct colors, over the FINALISTS
MIN_CONTINUE = 10


@dataclass(frozen=True)
class SharedTable:
    """The label of every color code (a full lookup table), built on and kept by the
    workers of a distributed fit: a Future of the (bins,) label array."""

    future: Any


@dataclass(frozen=True)
class FitResult:
    """A fitted palette.

    Attributes
    ----------
    centers : (K, C) float64 ndarray
        The k-means centers.
    palette : (K, C) ndarray of the input dtype
        ``centers`` rounded and clipped to the input dtype.
    compactness : float
        Sum over all (non-transparent) pixels of the squared distance to the nearest
        ``palette`` color (the colors stored and shown, not the float centers).
    n_iter : int
        Lloyd updates run by the kept attempt (with the defaults on the histogram path,
        those of its continuation to a fixed point too, see ``epsilon``).
    converged : bool
        Whether the kept attempt stopped because every center moved at most ``epsilon``
        (where it continued: because it reached a fixed point).
    method : {"histogram", "summary", "pixels"}
        Which path ran the iterations ("summary": attempts on a grid summary of the
        pixels, then Lloyd updates on the pixels; ``n_iter`` counts those on the pixels).
    seed : int
        The seed actually used (drawn and recorded when none was given).
    n_pixels : int
        Pixels that took part in the fit.
    n_distinct : int or None
        Distinct colors of the image, where the exact histogram was built.
    counts : (K,) int64 ndarray
        Pixels nearest to each ``palette`` color: its share in the result.
    colorspace : {"rgb", "lab", "din99"}
        Where the clustering ran. In a perceptual space, ``centers`` are still in the
        input's RGB values (converted back, see :func:`fit_palette`), ``compactness`` and
        ``epsilon`` are in that space's units, and labels are nearest in that space (pass
        the same ``colorspace`` to :func:`apply_palette`).
    n_pinned : int
        Pinned colors (``pin=``): the first ``n_pinned`` rows of ``centers`` and
        ``palette``, exactly as given.
    kept_exactly : bool
        The image had at most the requested number of distinct colors: the palette is
        exactly those colors (K is their number, ``n_iter`` is 0), see ``strict`` in
        :func:`fit_palette`.
    """

    centers: NDArray[np.float64]
    palette: NDArray
    compactness: float
    n_iter: int
    converged: bool
    method: str
    init: str
    attempts: int
    seed: int
    n_pixels: int
    n_distinct: int | None
    max_iter: int
    epsilon: float
    counts: NDArray[np.int64]
    # Histogram path: the label of every distinct color of the image, as (packed codes,
    # labels), so the image can be labelled by a table lookup instead of distances; on a
    # distributed client, the full table built from them on the workers.
    color_labels: tuple[NDArray[np.uint32], NDArray] | SharedTable | None = field(
        default=None, repr=False, compare=False
    )
    colorspace: ColorSpace = "rgb"
    n_pinned: int = 0
    kept_exactly: bool = False

    @property
    def n_colors(self) -> int:
        return int(self.centers.shape[0])


def label_dtype(n_colors: int) -> np.dtype:
    """uint8 for up to 256 colors, else uint16."""
    return np.dtype(np.uint8 if n_colors <= 256 else np.uint16)


def to_palette(centers: NDArray[np.float64], dtype: np.dtype) -> NDArray:
    """Centers rounded to the nearest value of ``dtype`` (clipped to its range)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return centers.astype(dtype)
    info = np.iinfo(dtype)
    return np.clip(np.rint(centers), info.min, info.max).astype(dtype)


def stored_centers(palette: ArrayLike, space: ColorSpace = "rgb") -> NDArray[np.float64]:
    """The points pixels are labelled against: the palette as stored (in the image's dtype,
    see :func:`to_palette`) as float64, converted to ``space`` where that is perceptual."""
    pal = np.asarray(palette)
    points = pal.astype(np.float64)
    return points if space == "rgb" else to_space(points, space, scale=rgb_scale(pal.dtype))


def _check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidParameterError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise InvalidParameterError(f"{name} must be {bound}, got {value}")
    return int(value)


def _check_given(given: NDArray | None, free: int, channels: int) -> None:
    """Refuse given start centers that are not a finite (free, channels) array."""
    if given is not None and (given.shape != (free, channels) or not np.isfinite(given).all()):
        raise InvalidParameterError(
            f"init: given centers must be a finite ({free}, {channels}) array, "
            f"got shape {given.shape}"
        )


def fit_palette(
    image: ArrayLike | da.Array,
    n_colors: int,
    *,
    max_iter: int = 20,
    epsilon: float | None = None,
    attempts: int | None = None,
    init: Init | ArrayLike = "k-means++",
    seed: int | np.random.Generator | None = None,
    method: Method = "auto",
    chunks: tuple[int, ...] | int | None = None,
    on_iteration: Callable[[int, float], None] | None = None,
    colorspace: ColorSpace = "rgb",
    strict: bool = False,
    nodata: Nodata = None,
    mask: ArrayLike | da.Array | None = None,
    pin: ArrayLike | str | os.PathLike[str] | None = None,
    alpha: Alpha = "auto",
) -> FitResult:
    """Fit a palette of ``n_colors`` colors to an image by k-means.

    Parameters
    ----------
    image : (H, W), (H, W, C) or (N, H, W, C) ndarray or dask array, or xarray DataArray
        C is 1 to 64 bands of any integer or float dtype: gray, gray + alpha, RGB, RGBA or
        multispectral bands (the palette is then (K, C) too). Alpha is not clustered and
        fully transparent pixels are left out. A stack (N, ...) gets one shared palette.
        A DataArray has dims (y, x[, band]) or (band, y, x), as in :func:`quantize`.
    n_colors : int
        K, from 1 to 65535 (``MAX_COLORS``).
    max_iter : int
        Most Lloyd updates after seeding. OpenCV's ``maxCount = m`` is ``max_iter = m - 1``
        (OpenCV counts the seeding as an iteration); there is no clamp to 100 here.
    epsilon : float or None
        Stop when every center moved at most this far (Euclidean, in the clustering space)
        in the last update. None (default): in "rgb", one level of an 8-bit image in the
        image's own scale (:func:`image_epsilon`): 1/255 of the dtype's range for integers
        (1.0 for uint8, the recipe's value; 257.0 for uint16) and 1/255 of the data's range
        for floats (the widest channel's, from the stats pass), so every dtype stops at the
        same visual precision; ``PERCEPTUAL_EPSILON`` (0.2 color-difference units) for "lab"
        and "din99", where 1 is about one just noticeable difference and stopping there
        leaves measurably worse palettes. The value used is ``FitResult.epsilon`` (and the
        store's ``fit.epsilon``). :func:`daskquant.kmeans` keeps OpenCV's absolute units.
        With the defaults (``epsilon=None`` and ``method="auto"``) on the exact histogram
        path, the attempts stop there, and the 3 of the lowest compactness then continue
        their Lloyd updates until no center moves at all (a fixed point: the labels no
        longer change), at most ``CONVERGE_ITER`` (300) more each; the lowest of them at
        its fixed point is kept, its updates all counted in ``n_iter`` (not bound by
        ``max_iter``). An update there costs O(distinct colors); the fixed points give a
        lower compactness and a higher PSNR (measured in benchmarks/quality.py). Give
        ``epsilon`` (or ``method``) to stop at the criteria alone.
    attempts : int or None
        Independent runs; the one with the lowest compactness is kept. None (default):
        ``HISTOGRAM_ATTEMPTS`` (4) for 8-bit images (see ``method``) with at most 3
        clustered channels (and no given start centers), where
        the exact histogram makes a run cost O(distinct colors) so extra runs are nearly
        free and lower the compactness (``CONVERGE_ATTEMPTS``, 12, in "rgb" with the
        defaults of ``epsilon`` and ``method``, where the 3 of the lowest compactness then
        continue to a fixed point, see ``epsilon``); ``PERCEPTUAL_ATTEMPTS`` (8) there in "lab" and
        "din99", whose k-means objective is further from the CIEDE2000 the result is judged
        by, so more draws help (measured in benchmarks/quality.py); 1 otherwise, where each
        run re-reads every pixel once per iteration.
    init : {"k-means++", "k-means||", "random"} or (K, C) array
        OpenCV's greedy k-means++ (3 trials per center; also the later attempts after given
        start centers), k-means|| (a few distributed
        oversampling passes, then k-means++ on the weighted candidates), OpenCV's uniform
        draw in the bounding box, or given start centers. k-means++ runs on the exact
        color histogram of 8-bit images, and otherwise on a uniform sample of 2^18 pixels
        chosen by a hash of their position (so it does not depend on chunking).
    seed : int, Generator or None
        Randomness; None draws a seed, which is recorded in the result (a Generator gives
        one draw). Attempt ``i`` draws from child ``i`` of ``numpy.random.SeedSequence(seed)``,
        so each attempt's result does not depend on the others.
    method : {"auto", "histogram", "summary", "pixels"}
        "summary" (what "auto" picks for data the histogram cannot hold: 16-bit, float,
        more than 3 bands) builds in one pass the count and per-band sum of the pixels in
        each occupied cell of a grid over the data's range (as fine as 2^16 levels a band,
        coarser where the image has over 2^21 occupied cells; a cell per value where
        there are few), runs seeding and the attempts (``HISTOGRAM_ATTEMPTS`` by default;
        on the workers, with a distributed client; up to 10 x ``max_iter`` updates each,
        which cost O(cells)) on the cell means weighted by their counts, then Lloyd
        updates on the pixels from the kept run's centers until ``epsilon``/``max_iter``
        hold on the pixels: a pixel-level fixed point (``n_iter`` counts these).
        "pixels" runs every attempt on the pixels (one pass per update).
        "histogram" runs every iteration on the distinct colors weighted by their counts
        (8-bit input with at most 3 clustered channels; bit-identical to "pixels", much
        faster); "auto" uses it wherever it applies. Float RGB data whose values are all
        integers in 0..255 (such as ``np.float32(img)`` of an 8-bit image) counts as 8-bit
        here: one stats pass finds it, and the fit is that of the uint8 image (the palette
        keeps the float dtype).
    chunks : int or tuple, optional
        Spatial chunk size for NumPy input, or a rechunk of Dask input.
    on_iteration : callable, optional
        Called as ``on_iteration(iteration, max_center_shift)`` after each Lloyd update.
    colorspace : {"rgb", "lab", "din99"}
        "lab" clusters and assigns in CIELAB (D65), "din99" in DIN99 (CIELAB with
        logarithmically compressed lightness and chroma, whose distances follow CIEDE2000
        more closely), for RGB(A) images of unsigned integers or floats in [0, 1]. Distances
        are then perceptual color differences, so the palette spends its colors where the
        eye sees differences. The centers found there are converted back to sRGB, clipped to
        the sRGB gamut (in linear RGB), and returned as ``centers`` in the input's values
        (not rounded; ``palette`` rounds them). Pixels are then labelled by the nearest
        ``palette`` color in the same space, and ``counts`` and ``compactness`` refer to that
        labelling. 8-bit input converts only its distinct colors: the histogram stays exact,
        and its sums are float64 in a fixed order (deterministic and independent of the
        chunking, but not integer-exact, so not bit-identical to ``method="pixels"``). Other
        dtypes are converted chunk by chunk.
    nodata : number, sequence of numbers, "nan", "none" or None
        Leave out the pixels whose EVERY band equals its nodata value (one value for all
        bands, or one per band; rasterio's dataset mask rule). "nan" leaves out the pixels
        with NaN in any band (NaN is then not an error). None: a DataArray's own nodata
        (``rio.nodata``), else none; "none": none. Left-out pixels take no part in the
        fit, ``counts``, ``compactness`` or ``n_pixels``.
    mask : (H, W) or (N, H, W) array, dask array or Zarr array, or a mask image path, optional
        Nonzero = keep, 0 = leave out (as for ``nodata``). Combined with ``nodata`` and
        the image's own alpha: a pixel is kept only where all three keep it.
    pin : (P, C) array, str or path, optional
        Pinned colors (a brand color, pure black and white, a legend's classes): any
        source :func:`daskquant.load_palette` reads (hex colors, a palette file, an
        earlier store; arrays are in the image's values). They take part in the
        assignment but never move; the other K - P centers are fitted around them, with
        every ``init``, ``attempts``, ``method`` and ``colorspace``. The palette has
        exactly K colors: the P pinned ones first, in the order given, then the fitted
        ones. Given start centers (``init`` as an array) are then the (K - P, C) free
        ones. A pinned color no pixel is nearest to stays in the palette (count 0).
    strict : bool
        An image with at most ``n_colors`` distinct colors (not counting fully transparent
        pixels) gets exactly its own colors as the palette, with K reduced to their number
        (``kept_exactly`` is then True), unless ``strict`` is True: then fewer distinct
        colors than ``n_colors`` raise :class:`~daskquant.TooFewColorsError`.
    alpha : int, None or "auto"
        Which channel is alpha: its index (moved last), None (none is), or "auto"
        (default): the last of 2 (gray + alpha) or 4 (RGBA) channels, none otherwise. A
        4-band image of data (RGB + near-infrared) needs ``alpha=None``.

    Returns
    -------
    FitResult

    Raises
    ------
    InvalidParameterError, InputError, TooFewColorsError

    Examples
    --------
    >>> import numpy as np, daskquant as dq
    >>> img = np.zeros((4, 4, 3), np.uint8); img[2:] = 200
    >>> fit = dq.fit_palette(img, 2, seed=0)
    >>> sorted(fit.palette.tolist())
    [[0, 0, 0], [200, 200, 200]]
    """
    converge = converge_iter(epsilon, method, max_iter)
    k, max_iter, attempts, epsilon, given = _checked(
        n_colors, max_iter, attempts, epsilon, method, init, colorspace
    )
    image, nodata = dataarray_pixels(image, nodata)
    arr, layout = as_image(image, chunks=chunks, alpha=alpha)
    space = check_colorspace(colorspace, arr.dtype, layout.channels)
    arr, layout = masked_image(arr, layout, nodata=nodata, mask=mask)
    pins = checked_pins(pin, k, arr.dtype, layout.channels)
    free = k - (0 if pins is None else pins.shape[0])
    if not isinstance(image, da.Array):
        arr = persist_in_memory(arr)
    _check_given(given, free, layout.channels)
    seed_value, _ = _rng(seed)
    # With pins, the float image keeps its own values (pins are in them): no 8-bit copy.
    fit_arr, stats = (arr, None) if pins is not None else _exact_colors(arr, layout, space, few=k)
    capable = histogram_capable(fit_arr.dtype, layout.channels)
    path = _checked_path(method, capable, space, arr.dtype, layout.channels)
    given = _in_space(given, space, arr.dtype)
    work_pins = _in_space(None if pins is None else pins.astype(np.float64), space, arr.dtype)
    strict = strict or pins is not None  # with pins, fewer colors than K are refused
    data = _fit_data(fit_arr, layout, space, path, k, stats=stats, strict=strict)
    converge = continue_iter(converge, data.n_distinct) if path == "histogram" else 0
    if attempts is None:
        attempts = _default_attempts(
            (capable or path == "summary") and given is None,
            space,
            converge=bool(converge),
            n_distinct=data.n_distinct,
        )
    if epsilon is None:
        epsilon = image_epsilon(fit_arr.dtype, *_data_range(data))
    request = {
        "init": init if isinstance(init, str) else "given",
        "attempts": attempts,
        "seed": seed_value,
        "max_iter": max_iter,
        "epsilon": float(epsilon),
    }
    kept = None if strict else data.kept(k)
    if kept is not None:
        return _kept_result(kept, data, arr, layout, space, **request)
    names = [init if isinstance(init, str) else "k-means++"] * attempts
    if given is not None:
        names[0] = "given"
    planned, sample_key = plan(names, seed_value)
    best = data.best(
        k,
        planned,
        given=given,
        sample_key=sample_key,
        pins=work_pins,
        max_iter=max_iter,
        epsilon=epsilon,
        repair=repair_distinct,
        on_iteration=on_iteration,
        converge=converge,
    )
    return _result(best, data, arr, layout, space, pins=pins, **request)


def _checked_path(
    method: str, capable: bool, space: ColorSpace, dtype: np.dtype, channels: int
) -> str:
    """The fit path (:func:`resolved_method`), or the error of a method that cannot apply."""
    if method == "histogram" and not capable:
        raise InvalidParameterError(
            f"method='histogram' needs 8-bit input with at most 3 clustered channels; this "
            f"image is {dtype} with {channels}. Use method='summary', 'pixels' or 'auto'."
        )
    path = resolved_method(method, capable, space)
    if space == "perceptual" and path == "summary":
        raise InvalidParameterError(
            "colorspace='perceptual' chooses its labels on the exact color histogram; use "
            "method='auto', 'histogram' or 'pixels' with it"
        )
    return path


def _in_space(
    centers: NDArray[np.float64] | None, space: ColorSpace, dtype: np.dtype
) -> NDArray[np.float64] | None:
    """Given or pinned centers (image values) in the clustering space."""
    if centers is None or space == "rgb":
        return centers
    return to_space(centers, space, scale=rgb_scale(dtype))


def _exact_colors(
    arr: da.Array, layout: Layout, space: ColorSpace, *, few: int = 0
) -> tuple[da.Array, Stats | None]:
    """The array the fit reads, and the stats of a float RGB image when they were taken.

    Float data whose values are all integers in 0..255 (the recipe's ``np.float32(img)``)
    is fitted as the same image in uint8, on its exact histogram: one stats pass decides.
    Not in a perceptual space, where floats are read in 0..1. The stats hold the distinct
    values where there are at most ``few`` (see :meth:`PixelSource.stats`).
    """
    if (
        arr.dtype.kind != "f"
        or space != "rgb"
        or not histogram_capable(np.dtype(np.uint8), layout.channels)
    ):
        return arr, None
    stats = PixelSource(arr, channels=layout.channels, alpha=layout.alpha).stats(few=few)
    if not stats.holds_uint8():
        return arr, stats
    log.info("float image holds 8-bit values: fitting its exact color histogram")
    return integer_colors(arr, channels=layout.channels, alpha=layout.alpha), None


def checked_pins(pin: Any, k: int, dtype: np.dtype, channels: int) -> NDArray | None:
    """The pinned colors of a fit of ``k`` colors to an image of ``dtype`` and
    ``channels``, as a (P, C) array of that dtype, checked (None: no pins)."""
    if pin is None:
        return None
    if not isinstance(pin, (str, os.PathLike)):
        raw = np.asarray(pin)
        if raw.dtype.kind in "uif" and np.dtype(dtype).kind in "ui":
            info = np.iinfo(dtype)
            if raw.size and (raw.min() < info.min or raw.max() > info.max):
                raise InvalidParameterError(
                    f"pin: colors must be {dtype} values, between {info.min} and "
                    f"{info.max} (the image's range), got {raw.min()}..{raw.max()}"
                )
    pins = load_palette(pin, dtype=dtype, channels=channels)
    if pins.shape[1] != channels:
        raise InvalidParameterError(
            f"pin: expected colors of {channels} channels, got shape {pins.shape}"
        )
    if pins.shape[0] > k:
        raise InvalidParameterError(
            f"pin: {_count(pins.shape[0], 'pinned color')}, more than n_colors={k}; ask for "
            f"at least {pins.shape[0]} colors or pin fewer"
        )
    distinct, first = np.unique(pins, axis=0, return_index=True)
    if distinct.shape[0] < pins.shape[0]:
        dup = next(i for i in range(pins.shape[0]) if i not in set(first.tolist()))
        raise InvalidParameterError(
            f"pin: color {pins[dup].tolist()} is given twice (entry {dup}); pin each color once"
        )
    return pins


def image_epsilon(
    dtype: np.dtype, low: NDArray[np.float64] | None, high: NDArray[np.float64] | None
) -> float:
    """The default epsilon in RGB: one level of an 8-bit image in the image's own scale.

    1/255 of the dtype's range for integers (1.0 for uint8, 257.0 for uint16), and for
    floats 1/255 of the data's range (the widest channel's ``high - low``, from the stats
    pass; 1/255 where that range is empty or unknown), so a fit stops at the same visual
    precision at every dtype.
    """
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return (float(info.max) - float(info.min)) / 255.0
    span = 0.0 if low is None or high is None else float(np.max(high - low))
    return span / 255.0 if np.isfinite(span) and span > 0 else 1.0 / 255.0


def _data_range(
    data: _FitData | _ClusterFit,
) -> tuple[NDArray[np.float64] | None, NDArray[np.float64] | None]:
    """The bounding box of the fitted values, where this process holds it."""
    if isinstance(data, _FitData):
        return data.seeds.low, data.seeds.high
    return None, None


def converge_iter(epsilon: float | None, method: str, max_iter: int) -> int:
    """The most updates the kept attempt continues by to a Lloyd fixed point (where the fit
    runs on the distinct colors): ``CONVERGE_ITER`` with the defaults (no ``epsilon``,
    ``method="auto"``), else 0 (the criteria given alone decide; also with ``max_iter``
    0: no updates asked for, the start centers are the result)."""
    return CONVERGE_ITER if epsilon is None and method == "auto" and max_iter != 0 else 0


def continue_iter(converge: int, n_distinct: int | None) -> int:
    """``converge`` (:func:`converge_iter`) bounded by ``CONTINUE_WORK`` color updates over
    the ``FINALISTS``, at least ``MIN_CONTINUE``: all of it for photos (up to 149,130
    distinct colors), 35 updates each for 1.3 million colors."""
    if not converge or not n_distinct:
        return converge
    budget = CONTINUE_WORK // (FINALISTS * n_distinct)
    return max(min(converge, MIN_CONTINUE), min(converge, budget))


def resolved_method(method: str, capable: bool, space: ColorSpace) -> str:
    """The fit path ``method`` names for data that the exact histogram can (``capable``) or
    cannot hold: "auto" is "histogram" where it can, else "summary"; else as given."""
    if method != "auto":
        return method
    return "histogram" if capable else "summary"


def _default_attempts(
    in_memory: bool, space: ColorSpace, *, converge: bool = False, n_distinct: int | None = None
) -> int:
    """Several attempts where each costs O(distinct colors) or O(occupied cells) (the exact
    histogram or the summary, drawn from the image: no given centers), more in a perceptual
    space, and more in RGB where the best of them continue to a fixed point (``converge``:
    the defaults on the histogram; as many as ``ATTEMPT_WORK`` allows for ``n_distinct``
    colors, from ``HISTOGRAM_ATTEMPTS`` to ``CONVERGE_ATTEMPTS``); else one."""
    if not in_memory:
        return 1
    if space != "rgb":
        return PERCEPTUAL_ATTEMPTS
    if not converge:
        return HISTOGRAM_ATTEMPTS
    if not n_distinct:
        return CONVERGE_ATTEMPTS
    return max(HISTOGRAM_ATTEMPTS, min(CONVERGE_ATTEMPTS, ATTEMPT_WORK // n_distinct))


def _checked(
    n_colors: int,
    max_iter: int,
    attempts: int | None,
    epsilon: float | None,
    method: str,
    init: object,
    colorspace: str,
) -> tuple[int, int, int | None, float | None, NDArray[np.float64] | None]:
    """fit_palette's parameters checked: K, max_iter, attempts, epsilon (None: the image's
    own, see :func:`image_epsilon`), given centers."""
    k = _check_int("n_colors", n_colors, 1, MAX_COLORS)
    max_iter = _check_int("max_iter", max_iter, 0)
    if attempts is not None:
        attempts = _check_int("attempts", attempts, 1)
    if epsilon is None and colorspace != "rgb":
        epsilon = PERCEPTUAL_EPSILON
    if epsilon is not None and (not np.isfinite(epsilon) or epsilon < 0):
        raise InvalidParameterError(f"epsilon must be a finite number >= 0, got {epsilon!r}")
    if method not in ("auto", "histogram", "summary", "pixels"):
        raise InvalidParameterError(
            f"method must be 'auto', 'histogram', 'summary' or 'pixels', got {method!r}"
        )
    if not isinstance(init, str):
        return k, max_iter, attempts, epsilon, np.asarray(init, np.float64)
    if init not in ("k-means++", "k-means||", "random"):
        raise InvalidParameterError(
            "init must be 'k-means++', 'k-means||', 'random' or a (K, C) array of centers, "
            f"got {init!r}"
        )
    return k, max_iter, attempts, epsilon, None


@dataclass
class _FitData:
    """Where a fit runs and what it seeds from, with what it learnt about the image: all in
    this process (the pixel path's source asks its questions of the scheduler)."""

    source: Source
    seeds: Seeds
    n_valid: int
    n_distinct: int | None
    codes: NDArray[np.uint32] | None  # the distinct colors' codes (histogram path)
    colors: NDArray | None = None  # all of them, where there are at most K

    def kept(self, k: int) -> NDArray | None:
        """The image's own colors, where it has at most ``k`` (else None)."""
        return self.colors

    @property
    def in_memory(self) -> bool:
        return isinstance(self.source, (HistogramSource, PointSource))

    @property
    def method(self) -> str:
        """The path that ran the iterations, as recorded in the result and the store."""
        return "histogram" if self.in_memory else "pixels"

    @property
    def exact(self) -> bool:
        return self.source.exact

    def best(
        self,
        k: int,
        attempts: list[Attempt],
        *,
        given: NDArray[np.float64] | None,
        sample_key: int,
        pins: NDArray[np.float64] | None = None,
        converge: int = 0,
        **lloyd: Any,
    ) -> LloydRun:
        """The kept run of the attempts (see :func:`~daskquant._engine._attempts.best_of`;
        ``converge`` is given on the histogram path only: the distinct colors)."""
        self.seeds.given, self.seeds.sample_key = given, sample_key
        self.seeds.pins = pins
        return best_of(self.seeds, k, attempts, converge=converge, **lloyd)[0]

    def final(
        self, work: NDArray[np.float64], layout: Layout, space: ColorSpace = "rgb"
    ) -> tuple[Partials, Any]:
        """The partial sums of the final centers and the labels of the distinct colors."""
        if space == "perceptual":
            colors, points, counts = self._distinct()
            final, labels = _perceptual_final(colors, points, counts, work)
            if layout.alpha is not None or self.codes is None:
                return final, None
            return final, (self.codes, labels.astype(label_dtype(work.shape[0])))
        final = self.source.partials(work)
        return final, _color_labels(self.source, work, layout, self.codes)

    def refined(self, centers: NDArray[np.float64], n_pinned: int) -> NDArray[np.float64]:
        """The perceptual mode's last updates (CIEDE2000 labels) on the distinct colors."""
        colors, _, counts = self._distinct()
        return refine_centers(colors, counts, centers, n_pinned=n_pinned)

    def _distinct(self) -> tuple[NDArray[np.uint8], NDArray[np.float64], NDArray[np.int64]]:
        assert self.codes is not None, "an 8-bit fit"
        return _distinct_colors(self.codes, self.seeds)


SUMMARY_ITER_FACTOR = 10  # Lloyd updates on a summary's cells per max_iter on the pixels
SUMMARY_SETTLE = 16  # the kept run on the cells goes on until shifts are epsilon / this


@dataclass
class _SummaryFit(_FitData):
    """A fit on a summary of the pixels (:mod:`~daskquant._engine._summary`): seeding, the
    attempts and their Lloyd updates run on the occupied cells of a grid (with a distributed
    client, in parallel tasks on the workers, where the summary is merged and stays; else in
    this process); Lloyd updates on the pixels then continue from the kept run's centers
    until the criteria hold on the pixels themselves. ``source`` is the pixels (the final
    partials, counts and compactness are theirs), ``integral`` whether every valid value is
    an integer (the grid then has a cell per value where the range allows)."""

    integral: bool = False

    @property
    def method(self) -> str:
        return "summary"

    def best(
        self,
        k: int,
        attempts: list[Attempt],
        *,
        given: NDArray[np.float64] | None,
        sample_key: int,
        pins: NDArray[np.float64] | None = None,
        on_iteration: Any = None,
        converge: int = 0,  # not here: the updates on the pixels meet the criteria given
        **lloyd: Any,
    ) -> LloydRun:
        """The kept run of the attempts on the summary, continued on the pixels."""
        assert isinstance(self.source, PixelSource), "the summary is of pixels"
        low, high = self.seeds.low, self.seeds.high
        grid = Grid.over(low, high, integral=self.integral)
        cells = dask.delayed(_cell_seeds, pure=True)(summary_graph(self.source, grid), low, high)
        fields: dict[str, Any] = {"given": given, "sample_key": sample_key, "pins": pins}
        # Iterations on the cells cost O(cells): they run SUMMARY_ITER_FACTOR times as many,
        # so fewer passes over the pixels follow (the criteria given hold on those).
        on_cells = {**lloyd, "max_iter": SUMMARY_ITER_FACTOR * lloyd["max_iter"]}
        # The kept run then goes on with a tighter epsilon, nearer the cells' fixed point:
        # cheap on the cells, and it leaves less for the passes over the pixels (on the
        # 67 MP noisy 16-bit mosaic: 1 update on the pixels instead of 2, 0.6 % lower
        # compactness; docs/benchmarks.md).
        settle = partial(
            _settle,
            max_iter=on_cells["max_iter"],
            epsilon=lloyd["epsilon"] / SUMMARY_SETTLE,
            repair=lloyd["repair"] if pins is None else pinned(lloyd["repair"], pins),
        )
        client = cluster_client()
        if client is not None:
            start, _ = best_on_cluster(
                client, cells, k, attempts, then=settle, **fields, **on_cells
            )
        else:
            (seeds,) = dask.compute(cells)
            log.info(
                "summary: %d occupied cells of %d pixels", seeds.points[0].shape[0], self.n_valid
            )
            seeds.given, seeds.sample_key, seeds.pins = given, sample_key, pins
            start, _ = best_of(seeds, k, attempts, **on_cells)
            start = settle(seeds, start)
        log.info("summary fit: %d iterations; continuing on the pixels", start.n_iter)
        repair = lloyd["repair"] if pins is None else pinned(lloyd["repair"], pins)
        return run_lloyd(
            self.source,
            start.centers,
            max_iter=lloyd["max_iter"],
            epsilon=lloyd["epsilon"],
            repair=repair,
            on_iteration=on_iteration,
        )


def _settle(
    seeds: Seeds, run: LloydRun, *, max_iter: int, epsilon: float, repair: Any
) -> LloydRun:
    """``run`` continued on the seeds' source (the cells) until shifts are at most
    ``epsilon``; its iterations added to the run's."""
    more = run_lloyd(seeds.source, run.centers, max_iter=max_iter, epsilon=epsilon, repair=repair)
    log.info("summary fit settled: %d more iterations on the cells", more.n_iter)
    return dataclasses.replace(more, n_iter=run.n_iter + more.n_iter)


def _cell_seeds(summary: Summary, low: NDArray[np.float64], high: NDArray[np.float64]) -> Seeds:
    """The seeders' data and source of a summary's cells (where it is merged: a task)."""
    cells = summary_source(summary)
    return Seeds(cells, low, high, points=(cells.points, cells.counts), order=cells.order)


@dataclass
class _Prepared:
    """The distinct colors of the image made ready to fit (where the histogram is merged:
    a worker, or this process): the seeders' data and the in-memory source in ``seeds``;
    ``seeds`` is None where there are fewer than K colors."""

    seeds: Seeds | None
    codes: NDArray[np.uint32]
    n_valid: int
    n_distinct: int
    colors: NDArray | None = None  # the distinct colors, where there are at most K


def _prepare(hist: Histogram, space: ColorSpace, k: int) -> _Prepared:
    """The histogram's in-memory source (its colors, or their points in ``space``), with its
    Z-order, bounding box and k-means++ points (a task of a distributed fit)."""
    n_valid, n_distinct = int(hist.counts.sum()), int(hist.codes.shape[0])
    if n_valid == 0:
        return _Prepared(None, hist.codes, n_valid, n_distinct)
    colors = hist.colors if n_distinct <= k else None
    points = hist.colors.astype(np.float64) if space == "rgb" else to_space(hist.colors, space)
    source: WeightedPoints = HistogramSource(hist)
    if space != "rgb":
        source = PointSource(points, hist.counts)
    low, high = bounds(points)  # points.min/max(axis=0), in one pass
    seeds = Seeds(source, low, high, points=(points, hist.counts), order=source.order)
    return _Prepared(seeds, hist.codes, n_valid, n_distinct, colors)


def _facts(prepared: _Prepared) -> tuple[int, int]:
    return prepared.n_valid, prepared.n_distinct


@dataclass
class _ClusterFit:
    """A histogram-path fit whose data lives on the workers of ``client``: the merged
    histogram and its source (``prepared``, a Future) never come to this process; the
    attempts run there in parallel, the lookup table is built there."""

    client: Any
    prepared: Any  # Future of _Prepared
    n_valid: int
    n_distinct: int
    exact: bool
    in_memory = True
    method = "histogram"

    def refined(self, centers: NDArray[np.float64], n_pinned: int) -> NDArray[np.float64]:
        """The perceptual mode's last updates, where the histogram is (a worker)."""
        task = dask.delayed(_refined_task, pure=False)(self.prepared, centers, n_pinned)
        return self.client.compute(task).result()

    def kept(self, k: int) -> NDArray | None:
        """The image's own colors, where it has at most ``k`` (fetched from the workers)."""
        if self.n_distinct > k:
            return None
        colors = dask.delayed(getattr, pure=True)(self.prepared, "colors")
        return self.client.compute(colors).result()

    def best(self, k: int, attempts: list[Attempt], **lloyd: Any) -> LloydRun:
        seeds = dask.delayed(getattr, pure=True)(self.prepared, "seeds")
        return best_on_cluster(self.client, seeds, k, attempts, **lloyd)[0]

    def final(
        self, work: NDArray[np.float64], layout: Layout, space: ColorSpace = "rgb"
    ) -> tuple[Partials, Any]:
        """The partials of the final centers (here) and the lookup table (left there)."""
        dtype = label_dtype(work.shape[0])
        with_table = layout.alpha is None  # transparent pixels are not in the histogram
        fin = dask.delayed(_final_lookup, pure=False)(
            self.prepared,
            work,
            channels=layout.channels,
            dtype=dtype,
            with_table=with_table,
            perceptual=space == "perceptual",
        )
        if with_table:
            partials, table = self.client.compute([fin.partials, fin.table])
        else:
            partials, table = self.client.compute(fin.partials), None
        self.prepared.release()  # the histogram is no longer needed on the workers
        return partials.result(), None if table is None else SharedTable(table)


def _distinct_colors(
    codes: NDArray[np.uint32], seeds: Seeds | None
) -> tuple[NDArray[np.uint8], NDArray[np.float64], NDArray[np.int64]]:
    """The histogram's distinct colors (RGB), their points in the clustering space and
    their pixel counts (the perceptual mode's data)."""
    assert seeds is not None and seeds.points is not None, "the histogram's points"
    points, counts = seeds.points
    return ColorCoding(3).decode(codes), np.asarray(points, np.float64), counts


def _refined_task(
    prepared: _Prepared, centers: NDArray[np.float64], n_pinned: int
) -> NDArray[np.float64]:
    """The perceptual mode's last updates, on the worker holding the histogram."""
    colors, _, counts = _distinct_colors(prepared.codes, prepared.seeds)
    return refine_centers(colors, counts, centers, n_pinned=n_pinned)


def _perceptual_final(
    colors: NDArray[np.uint8],
    points: NDArray[np.float64],
    counts: NDArray[np.int64],
    work: NDArray[np.float64],
) -> tuple[Partials, NDArray[np.intp]]:
    """The partials (DIN99 sums, squares, counts, squared distances) of the distinct colors
    under the perceptual mode's labels against ``work`` (the stored palette in DIN99)."""
    labels = perceptual_labels(colors, work)
    sums = K.partial_sums(points, work, weights=counts, labels=labels.astype(np.int32))
    return Partials(*sums), labels


@dataclass
class _Final:
    partials: Partials
    table: NDArray | None


def _final_lookup(
    prepared: _Prepared,
    work: NDArray[np.float64],
    *,
    channels: int,
    dtype: np.dtype,
    with_table: bool,
    perceptual: bool = False,
) -> _Final:
    """The partials of the final centers and the full lookup table of the memberships they
    found for the distinct colors (a task on a worker)."""
    assert prepared.seeds is not None, "fitted with too few colors"
    source = copy.copy(prepared.seeds.source)  # not the attempts' cached boxes
    labels: Any = None
    if perceptual:
        partials, labels = _perceptual_final(
            *_distinct_colors(prepared.codes, prepared.seeds), work
        )
    else:
        partials = source.partials(work)
        if with_table:
            labels = source.labels_for(work)  # type: ignore[attr-defined]
    if not with_table:
        return _Final(partials, None)
    assert labels is not None, "the partials just computed give the labels"
    table = ColorCoding(channels).table(prepared.codes, labels.astype(dtype), dtype)
    return _Final(partials, table)


def _fit_data(
    arr: da.Array,
    layout: Layout,
    space: ColorSpace,
    method: str,
    k: int,
    *,
    stats: Stats | None = None,
    strict: bool,
) -> _FitData | _ClusterFit:
    """The source the Lloyd updates run on (the histogram, its points in a perceptual space,
    or the pixels) and the seeders' data, after checking there are enough colors. With a
    distributed client, the histogram path stays on the workers. ``stats`` are the pixels'
    own where they were already taken."""
    pixels = PixelSource(arr, channels=layout.channels, alpha=layout.alpha)
    client = cluster_client() if method in ("auto", "histogram") else None
    if client is not None and histogram_capable(arr.dtype, layout.channels):
        return _cluster_data(client, pixels, layout, space, k, strict=strict)
    if method == "summary" or not histogram_capable(arr.dtype, layout.channels):
        rgb = pixels
        if space != "rgb":
            pixels = _space_pixels(arr, layout, space)
        if stats is None:
            stats, colors = _pixel_stats(pixels, rgb, k)
        else:  # taken with the same cap (see _exact_colors)
            colors = stats.distinct
        if stats.n_nonfinite:
            raise InputError(
                f"image has {_count(stats.n_nonfinite, 'pixel')} with NaN or inf values; "
                "replace them (for example with numpy.nan_to_num) or mask them with an alpha "
                "channel"
            )
        n_distinct = None if colors is None else colors.shape[0]
        _check_enough(stats.n_valid, n_distinct, k, layout, strict=strict)
        seeds = Seeds(pixels, stats.low, stats.high, pixels=pixels, n_valid=stats.n_valid)
        if method == "summary":
            return _SummaryFit(
                pixels, seeds, stats.n_valid, n_distinct, None, colors, integral=stats.integral
            )
        return _FitData(pixels, seeds, stats.n_valid, n_distinct, None, colors)
    prepared = _prepare(pixels.histogram(), space, k)
    n_valid, n_distinct = prepared.n_valid, prepared.n_distinct
    _check_enough(n_valid, n_distinct, k, layout, strict=strict)
    held = prepared.seeds
    assert held is not None, "checked: enough colors"
    seeds = held
    if method == "pixels":  # iterations on the pixels, seeded from the histogram's points
        source: Source = pixels if space == "rgb" else _space_pixels(arr, layout, space)
        seeds = Seeds(source, held.low, held.high, points=held.points)
    return _FitData(seeds.source, seeds, n_valid, n_distinct, prepared.codes, prepared.colors)


def _pixel_stats(pixels: PixelSource, rgb: PixelSource, k: int) -> tuple[Stats, NDArray | None]:
    """In one compute: the stats of the pixels the fit runs on (``rgb`` itself, or in a
    perceptual space) and the image's own distinct colors, where it has at most ``k``."""
    if pixels is rgb:
        stats = pixels.stats(few=k)
        return stats, stats.distinct
    stats, found = dask.compute(pixels.stats_graph(), rgb.stats_graph(few=k))
    return stats, found.distinct


def _cluster_data(
    client: Any, pixels: PixelSource, layout: Layout, space: ColorSpace, k: int, *, strict: bool
) -> _ClusterFit:
    """The histogram merged in a tree on the cluster and made ready to fit there; only the
    counts of pixels and colors come back (to check there are enough)."""
    prepared = dask.delayed(_prepare, pure=False)(pixels.histogram_graph(), space, k)
    held, facts = client.compute([prepared, dask.delayed(_facts, pure=True)(prepared)])
    n_valid, n_distinct = facts.result()
    _check_enough(n_valid, n_distinct, k, layout, strict=strict)
    return _ClusterFit(client, held, n_valid, n_distinct, exact=space == "rgb")


def _result(
    best: LloydRun,
    data: _FitData | _ClusterFit,
    arr: da.Array,
    layout: Layout,
    space: ColorSpace,
    pins: NDArray | None = None,
    **request: Any,
) -> FitResult:
    """The fit's result from its kept run (centers in the input's values, final counts) and
    the ``request`` it answers (init, attempts, seed, max_iter, epsilon)."""
    centers = best.centers
    n_pinned = 0 if pins is None else pins.shape[0]
    if space != "rgb":
        # Back to the input's values (clipped to the sRGB gamut), the pinned colors exactly
        # as given.
        points = best.centers
        if space == "perceptual":  # the last updates under CIEDE2000 labels
            points = data.refined(points, n_pinned)
        centers = from_space(points, space, scale=rgb_scale(arr.dtype))
        centers[:n_pinned] = pins
    return _final_result(
        centers,
        data,
        arr,
        layout,
        space,
        n_iter=best.n_iter,
        converged=best.converged,
        n_pinned=n_pinned,
        **request,
    )


def _kept_result(
    colors: NDArray,
    data: _FitData | _ClusterFit,
    arr: da.Array,
    layout: Layout,
    space: ColorSpace,
    **request: Any,
) -> FitResult:
    """The fit of an image with at most K distinct colors: those colors, no Lloyd run."""
    return _final_result(
        colors.astype(np.float64),
        data,
        arr,
        layout,
        space,
        n_iter=0,
        converged=True,
        kept_exactly=True,
        **{**request, "attempts": 0},
    )


def _final_result(
    centers: NDArray[np.float64],
    data: _FitData | _ClusterFit,
    arr: da.Array,
    layout: Layout,
    space: ColorSpace,
    **fields: Any,
) -> FitResult:
    """The result for final ``centers`` (in the input's values): the labels (and counts,
    compactness) are those of the colors the user sees, the palette as stored, in the fit's
    space."""
    palette = to_palette(centers, arr.dtype)
    work = stored_centers(palette, space)
    final, color_labels = data.final(work, layout, space)
    if data.exact:
        total = compactness(final, work, exact=True)
    else:  # float data: the direct sum of distances avoids the cancellation of Q - S^2/n
        total = float(final.dist.sum())
    return FitResult(
        centers=centers,
        palette=palette,
        compactness=total,
        method=data.method,
        n_pixels=data.n_valid,
        n_distinct=data.n_distinct,
        counts=final.counts,
        color_labels=color_labels,
        colorspace=space,
        **fields,
    )


def _space_pixels(arr: da.Array, layout: Layout, space: ColorSpace) -> PixelSource:
    """The image's pixels in ``space``, converted chunk by chunk (alpha carried), for the fit."""
    # Lab values are float64 (8 bytes a channel): split large chunks to bound the memory.
    spatial = tuple(min(c, 2048) for c in arr.chunksize[:-1])
    lab_arr = arr.rechunk((*spatial, -1)).map_blocks(
        partial(_block_to_space, layout=layout, space=space), dtype=np.float64
    )
    return PixelSource(lab_arr, channels=3, alpha=layout.alpha)


def _block_to_space(block: NDArray, *, layout: Layout, space: ColorSpace) -> NDArray[np.float64]:
    out = np.empty(block.shape, np.float64)
    out[..., :3] = to_space(block[..., :3], space, scale=rgb_scale(block.dtype))
    if layout.alpha is not None:
        out[..., 3] = block[..., 3]
    return out


def _color_labels(
    source: Source,
    centers: NDArray[np.float64],
    layout: Layout,
    codes: NDArray[np.uint32] | None,
) -> tuple[NDArray[np.uint32], NDArray] | None:
    # The memberships the last partials call (with these centers) found for the distinct
    # colors, RGB or Lab alike. Transparent pixels are not in the histogram, so images with
    # alpha use distances.
    if layout.alpha is not None or codes is None or not isinstance(source, WeightedPoints):
        return None
    labels = source.labels_for(centers)
    if labels is None:
        return None
    return codes, labels.astype(label_dtype(centers.shape[0]))


def _rng(seed: int | np.random.Generator | None) -> tuple[int, np.random.Generator]:
    if isinstance(seed, np.random.Generator):
        value = int(seed.integers(1 << 63))
    elif seed is None:
        value = int(np.random.SeedSequence().entropy % (1 << 63))  # type: ignore[operator]
    else:
        value = _check_int("seed", seed, 0)
    return value, np.random.default_rng(value)


def _count(n: int, noun: str) -> str:
    """``1 color``, ``2 colors``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _check_enough(
    n_valid: int, n_distinct: int | None, k: int, layout: Layout, *, strict: bool = True
) -> None:
    """Refuse an image without enough pixels (or, ``strict``, distinct colors) for ``k``."""
    if n_valid == 0:
        raise InputError(
            "image has no pixels to fit: every pixel is fully transparent or masked (alpha 0, "
            "nodata= or mask=)"
        )
    if n_valid < k and (strict or n_distinct is None):
        raise InputError(
            f"image has {_count(n_valid, 'pixel')}, fewer than n_colors={k}; ask for at most "
            f"{_count(n_valid, 'color')}"
        )
    if strict and n_distinct is not None and n_distinct < k:
        raise TooFewColorsError(
            f"image has only {_count(n_distinct, 'distinct color')}, fewer than n_colors={k}; "
            f"ask for at most {_count(n_distinct, 'color')} (each distinct color is then its "
            "own palette entry)"
        )
