"""The quality target: the fewest colors whose palette reaches a PSNR (or a mean CIEDE2000),
up to K.

pngquant's ``--quality min-max`` as ``target_psnr=`` (max) and ``min_psnr=`` (min), with
``n_colors`` the most colors allowed; ``target_deltae=`` and ``max_deltae=`` the same for
the mean CIEDE2000 (lower is better), alone or with the PSNR goals (then K meets both). The
search runs on the image's exact color histogram (8-bit images of up to 3 clustered
channels: one pass over the pixels, then every probe costs O(distinct colors)), or else on
a fixed sample of the pixels, never a job per K.

Each probe of K is the fit :func:`daskquant.fit_palette` makes with K colors and the same
seed (the same attempts, seeders and Lloyd runs on the same distinct colors), so on the
histogram the PSNR (and CIEDE2000) found for the chosen K is that of the written result,
computed as :func:`daskquant.quality` computes it (the labels nearest to the stored
palette). A sample gives an estimate; the summary's measured quality is then the exact
figure.

"Smallest": the quality of a k-means palette usually grows with K, but need not (each fit
is a local optimum). The search is a bisection that assumes it does: it returns a K that
meets the targets while K - 1 does not (or K = 1), probing about log2(K) values of K. Where
a smaller K meets them after a larger one missed, that K is not seen.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import dask
import dask.array as da
import numpy as np
from numpy.typing import NDArray

from daskquant._api._fit import (
    _check_enough,
    _checked,
    _default_attempts,
    _prepare,
    continue_iter,
    converge_iter,
    fit_palette,
    image_epsilon,
    stored_centers,
    to_palette,
)
from daskquant._api._labels import apply_palette
from daskquant._api._quality import delta_e, delta_e_mean, psnr_of, quality
from daskquant._color._spaces import ColorSpace, check_colorspace, from_space, rgb_scale
from daskquant._engine._attempts import best_of, plan
from daskquant._engine._dask import cluster_client
from daskquant._engine._lloyd import repair_distinct
from daskquant._engine._sources import Histogram, PixelSource, histogram_capable
from daskquant._errors import InvalidParameterError, QualityTooLowError
from daskquant._io._layout import Layout, as_image

__all__ = ["SAMPLE_PIXELS", "Goal", "TargetSearch", "search_colors"]

log = logging.getLogger("daskquant")

SAMPLE_PIXELS = 1 << 18  # pixels of the sample searched where there is no exact histogram


Scores = dict[str, float]  # "psnr" (dB) and, where a CIEDE2000 goal asks for it, "ciede2000"


@dataclass(frozen=True)
class Goal:
    """What the search aims at: targets to reach with the fewest colors, and limits below
    which (PSNR) or above which (mean CIEDE2000) the result is refused."""

    target_psnr: float | None = None
    min_psnr: float | None = None
    target_deltae: float | None = None
    max_deltae: float | None = None

    @property
    def needs_deltae(self) -> bool:
        return self.target_deltae is not None or self.max_deltae is not None

    def reaches(self, scores: Scores) -> bool:
        """Whether ``scores`` meet every target (True where there is none)."""
        return _meets(scores, self.target_psnr, self.target_deltae)

    def refusal(self, scores: Scores, n_colors: int) -> str | None:
        """Why ``scores`` of the most colors allowed fall short of a limit, if they do."""
        if self.min_psnr is not None and not scores["psnr"] >= self.min_psnr:
            said = f"its PSNR is {scores['psnr']:.2f} dB, below min_psnr={self.min_psnr:g}"
        elif self.max_deltae is not None and not scores["ciede2000"] <= self.max_deltae:
            said = (
                f"its mean CIEDE2000 is {scores['ciede2000']:.2f}, above "
                f"max_deltae={self.max_deltae:g}"
            )
        else:
            return None
        return (
            f"the image needs more colors: with n_colors={n_colors} {said}; allow more colors "
            "or a lower minimum (nothing was written)"
        )


def _meets(scores: Scores, psnr: float | None, deltae: float | None) -> bool:
    # "not <" so that a NaN score (no CIEDE2000 for signed integers) never meets a goal.
    return (psnr is None or scores["psnr"] >= psnr) and (
        deltae is None or scores["ciede2000"] <= deltae
    )


@dataclass(frozen=True)
class TargetSearch:
    """What the search over K found (the store's and the summary's ``target``)."""

    n_colors: int  # the K chosen
    scores: Scores  # its scores, as searched
    reached: bool  # whether it meets every target (True without one)
    n_colors_max: int
    goal: Goal
    searched_on: str  # "histogram" (exact) or "sample"
    probes: dict[int, Scores] = field(default_factory=dict)  # K -> scores, as probed

    def as_dict(self) -> dict[str, Any]:
        """JSON values (PSNR inf, a perfect match, as the string "inf")."""
        return {
            "n_colors": self.n_colors,
            **{name: _json(v) for name, v in self.scores.items()},
            "reached": self.reached,
            "n_colors_max": self.n_colors_max,
            **asdict(self.goal),
            "searched_on": self.searched_on,
            "probes": {
                str(k): {name: _json(v) for name, v in scores.items()}
                for k, scores in sorted(self.probes.items())
            },
        }


def _json(value: float) -> float | str:
    return float(value) if math.isfinite(value) else str(value)


def search_colors(
    pixels: da.Array, *, n_colors: int, goal: Goal, seed: int, fit: dict[str, Any]
) -> TargetSearch:
    """The fewest colors, at most ``n_colors``, whose fit meets the targets of ``goal``.

    Parameters
    ----------
    pixels : dask array
        What the fit sees (masked pixels already transparent).
    n_colors : int
        The most colors allowed.
    goal : Goal
        The targets (PSNR in dB to reach, mean CIEDE2000 to stay at or below) and limits.
    seed : int
        The seed of every probe, and of the final fit.
    fit : dict
        The other keywords of :func:`daskquant.fit_palette` (those of
        :meth:`QuantizeOptions.fit_kwargs`).

    Raises
    ------
    QualityTooLowError
        Even ``n_colors`` colors fall short of ``min_psnr`` or ``max_deltae``.
    """
    arr, layout = as_image(pixels, alpha=fit.get("alpha", "auto"))
    space = check_colorspace(fit["colorspace"], arr.dtype, layout.channels)
    if space == "perceptual":
        raise InvalidParameterError(
            "a quality target is not searched in colorspace='perceptual' yet; use 'din99'"
        )
    if histogram_capable(arr.dtype, layout.channels):
        found, probes = _search_histogram(arr, layout, space, n_colors, seed, fit, goal)
        on = "histogram"
    else:
        probe, on = _on_sample(arr, seed, fit), "sample"
        found, probes = _bisect(probe, min(n_colors, probe.most), goal), dict(probe.probes)
    search = TargetSearch(
        n_colors=found,
        scores=probes[found],
        reached=goal.reaches(probes[found]),
        n_colors_max=n_colors,
        goal=goal,
        searched_on=on,
        probes=probes,
    )
    log.info("quality target: K=%d, %s (%s)", found, search.scores, on)
    refused = goal.refusal(search.scores, n_colors)
    if refused is not None:
        raise QualityTooLowError(refused)
    return search


class _Probe:
    """The scores of the fit of K colors, each K computed once; ``most``: the largest K
    worth probing (the image's distinct colors, or the sample's pixels)."""

    def __init__(self, measure: Callable[[int], Scores], most: int) -> None:
        self.measure = measure
        self.most = most
        self.probes: dict[int, Scores] = {}

    def __call__(self, k: int) -> Scores:
        if k not in self.probes:
            self.probes[k] = self.measure(k)
            log.info("quality target: K=%d gives %s", k, self.probes[k])
        return self.probes[k]


def _bisect(scores: _Probe, most: int, goal: Goal) -> int:
    """The K of the bisection: ``most`` where it misses a target (or there is none), else
    a K that meets the targets where K - 1 does not (K = 1 included)."""
    reached = goal.reaches(scores(most))  # probed first: reported without a target too
    if not reached or (goal.target_psnr is None and goal.target_deltae is None):
        return most
    low, high = 0, most  # low misses (no colors at all), high reaches
    while high - low > 1:
        mid = (low + high) // 2
        if goal.reaches(scores(mid)):
            high = mid
        else:
            low = mid
    return high


# What a probe needs of fit_palette's keywords (the rest, such as a progress callback,
# stays in this process).
_PROBE_KEYS = ("strict", "attempts", "init", "max_iter", "epsilon")


def _search_histogram(
    arr: da.Array,
    layout: Layout,
    space: ColorSpace,
    k_max: int,
    seed: int,
    fit: dict[str, Any],
    goal: Goal,
) -> tuple[int, dict[int, Scores]]:
    """The K found and every probe's scores, searched on the exact histogram. With a
    distributed client the histogram is merged on the cluster and the whole search runs in
    one task on a worker: only K and the probes' scores come back (as the fit's own
    histogram never comes to this process)."""
    source = PixelSource(arr, channels=layout.channels, alpha=layout.alpha)
    probe_fit = {key: fit[key] for key in _PROBE_KEYS}
    probe_fit["converge"] = converge_iter(
        fit["epsilon"], fit.get("method", "auto"), fit["max_iter"]
    )
    client = cluster_client()
    if client is None:
        return _histogram_search(
            source.histogram(), layout, space, k_max, seed, probe_fit, goal, arr.dtype
        )
    task = dask.delayed(_histogram_search, pure=False)(
        source.histogram_graph(), layout, space, k_max, seed, probe_fit, goal, arr.dtype
    )
    found, probes = client.compute(task).result()
    for k, scores in sorted(probes.items()):
        log.info("quality target: K=%d gives %s", k, scores)
    return found, probes


def _histogram_search(
    hist: Histogram,
    layout: Layout,
    space: ColorSpace,
    k_max: int,
    seed: int,
    fit: dict[str, Any],
    goal: Goal,
    dtype: np.dtype,
) -> tuple[int, dict[int, Scores]]:
    """The bisection on ``hist`` (in this process, or a task on a worker), each probe the
    fit_palette of that K on the distinct colors."""
    prepared = _prepare(hist, space, k_max)
    _check_enough(prepared.n_valid, prepared.n_distinct, 1, layout)  # no pixels at all
    colors, counts = hist.colors.astype(np.int64), hist.counts
    n_distinct = prepared.n_distinct
    strict = bool(fit["strict"])
    fit = {**fit, "converge": continue_iter(fit["converge"], n_distinct)}
    attempts = fit["attempts"] or _default_attempts(
        True, space, converge=bool(fit["converge"]), n_distinct=n_distinct
    )
    init = fit["init"]
    epsilon = _checked(k_max, fit["max_iter"], None, fit["epsilon"], "auto", init, space)[3]
    if epsilon is None:  # the image's own scale, as fit_palette's default (8-bit here)
        epsilon = image_epsilon(dtype, None, None)
    peak = float(np.iinfo(dtype).max)

    def measure(k: int) -> Scores:
        if k >= n_distinct and not strict:  # kept exactly: the image's own colors
            return {"psnr": math.inf, **({"ciede2000": 0.0} if goal.needs_deltae else {})}
        seeds = prepared.seeds
        assert seeds is not None, "an image without pixels is refused by the fit"
        planned, sample_key = plan([init] * attempts, seed)
        seeds.given, seeds.sample_key, seeds.pins = None, sample_key, None
        best = best_of(
            seeds,
            k,
            planned,
            max_iter=fit["max_iter"],
            epsilon=epsilon,
            repair=repair_distinct,
            converge=fit["converge"],  # as fit_palette's defaults do
        )[0]
        centers = best.centers
        if space != "rgb":
            centers = from_space(centers, space, scale=rgb_scale(dtype))
        palette = to_palette(centers, dtype)
        labels = _color_labels(seeds.source, stored_centers(palette, space))
        out = palette[labels]
        d = colors - out.astype(np.int64)
        sse = int(np.einsum("i,ij,ij->", counts, d, d))
        scores = {"psnr": psnr_of(sse, int(counts.sum()) * layout.channels, peak)}
        if goal.needs_deltae:
            e = delta_e(hist.colors, out, scale=peak)
            scores["ciede2000"] = delta_e_mean(e, counts, exact=True)
        return scores

    probe = _Probe(measure, n_distinct)
    return _bisect(probe, min(k_max, probe.most), goal), dict(probe.probes)


def _color_labels(source: Any, work: NDArray[np.float64]) -> NDArray[np.int32]:
    """The nearest of ``work`` (the stored palette in the fit's space) for each distinct
    color, by the source's own exact search."""
    source.partials(work)
    labels = source.labels_for(work)
    assert labels is not None, "the partials just computed give the labels"
    return np.asarray(labels)


def _on_sample(arr: da.Array, seed: int, fit: dict[str, Any]) -> _Probe:
    """Probes on a fixed sample of the pixels (every s-th row and column): the fit of each K
    on the sample, its PSNR on the sample."""
    spatial = arr.shape[-3:-1]
    step = max(1, math.ceil(math.sqrt(math.prod(spatial) / SAMPLE_PIXELS)))
    sample = np.asarray(arr[..., ::step, ::step, :])
    colorspace, alpha = fit["colorspace"], fit.get("alpha", "auto")

    def measure(k: int) -> Scores:
        result = fit_palette(sample, k, **{**fit, "seed": seed, "on_iteration": None})
        labels = apply_palette(sample, result.palette, colorspace=colorspace, alpha=alpha)
        measured = quality(sample, labels, result.palette, alpha=alpha)
        return {"psnr": measured["psnr"], "ciede2000": measured["ciede2000"]}

    return _Probe(measure, math.prod(sample.shape[:-1]))
