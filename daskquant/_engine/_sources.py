"""Where the points live: a chunked dask image (pixel path) or its color histogram.

A source answers the few questions the Lloyd driver asks, each in ONE compute:
partial sums for given centers, the farthest member of a cluster (empty-cluster repair),
and, once, its bounding box and a weighted point set to seed from. Per-block partials are
combined in a tree with a fixed fan-in, never in a linear chain; centers enter the graph
once per compute, as a single key every block task depends on.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import dask
import dask.array as da
import numpy as np
from numpy.typing import NDArray

from daskquant._engine import _kernels as K
from daskquant._engine._codes import ColorCoding, coding_for
from daskquant._engine._dask import tree_reduce

__all__ = [
    "Farthest",
    "Histogram",
    "Partials",
    "PixelSource",
    "Source",
    "Stats",
    "combine_partials",
    "histogram_capable",
    "integer_colors",
]

_SEED_SAMPLE = 1 << 18  # pixels drawn for k-means++ seeding when no exact histogram exists


Farthest = tuple[NDArray[np.float64], NDArray, NDArray[np.int64]]


@dataclass(frozen=True)
class Partials:
    """Per-cluster sums (K, C), sums of squares (K, C), counts (K,), distance sums (K,)."""

    sums: NDArray
    sq: NDArray
    counts: NDArray[np.int64]
    dist: NDArray[np.float64]

    def __add__(self, other: Partials) -> Partials:
        return Partials(
            self.sums + other.sums,
            self.sq + other.sq,
            self.counts + other.counts,
            self.dist + other.dist,
        )


@dataclass(frozen=True)
class Histogram:
    """Distinct colors of an 8-bit image: packed codes (M,), sorted, and pixel counts (M,)."""

    codes: NDArray[np.uint32]
    counts: NDArray[np.int64]
    channels: int

    @property
    def coding(self) -> ColorCoding:
        return ColorCoding(self.channels)

    @property
    def colors(self) -> NDArray[np.uint8]:
        return self.coding.decode(self.codes)


class Source(Protocol):
    channels: int
    exact: bool

    def partials(self, centers: NDArray[np.float64], *, labels: Any = None) -> Partials: ...

    def farthest(
        self,
        centers: NDArray[np.float64],
        k: int,
        base: NDArray[np.float64],
        n: int,
        *,
        labels: Any = None,
    ) -> Farthest: ...


def histogram_capable(dtype: np.dtype, channels: int) -> bool:
    """True where the exact color histogram applies: colors with codes (8-bit, at most 3
    clustered channels; see :func:`._codes.coding_for`)."""
    return coding_for(dtype, channels) is not None


def _split(
    block: NDArray, channels: int, alpha: int | None
) -> tuple[NDArray, NDArray[np.uint8] | None]:
    flat = block.reshape(-1, block.shape[-1])
    px = flat[:, :channels]
    if px.dtype == np.float16:
        px = px.astype(np.float32)
    mask = None if alpha is None else (flat[:, alpha] != 0).view(np.uint8)
    return px, mask


def _block_partials(
    block: NDArray,
    offset: tuple[int, ...],
    labels: NDArray | None,
    centers: NDArray[np.float64],
    *,
    channels: int,
    alpha: int | None,
) -> Partials:
    px, mask = _split(block, channels, alpha)
    lab = None if labels is None else labels.reshape(-1)
    return Partials(*K.partial_sums(px, centers, mask=mask, labels=lab))


def _block_farthest(
    block: NDArray,
    offset: tuple[int, ...],
    labels: NDArray | None,
    centers: NDArray[np.float64],
    base: NDArray[np.float64],
    *,
    k: int,
    n: int,
    channels: int,
    alpha: int | None,
) -> Farthest:
    px, mask = _split(block, channels, alpha)
    lab = None if labels is None else labels.reshape(-1)
    return K.farthest_members(px, centers, k, base, n, mask=mask, labels=lab)


def _merge_farthest(*parts: Farthest, n: int) -> Farthest:
    return K.merge_farthest(list(parts), n)


def _block_histogram(
    block: NDArray, offset: object, labels: object, *, channels: int, alpha: int | None
) -> Histogram:
    px, mask = _split(block, channels, alpha)
    codes, counts = ColorCoding(channels).histogram(px, mask)
    return Histogram(codes, counts, channels)


def _combine_histograms(*parts: Histogram) -> Histogram:
    coding = parts[0].coding
    codes, counts = coding.merge([(p.codes, p.counts) for p in parts])
    return Histogram(codes, counts, coding.channels)


@dataclass(frozen=True)
class Stats:
    """Per-channel bounds of the valid pixels, their count, the non-finite values, and
    whether every finite valid value is an integer; with a cap ``few``, the distinct valid
    values (M, C) where there are at most ``few`` (else None)."""

    low: NDArray[np.float64]
    high: NDArray[np.float64]
    n_valid: int
    n_nonfinite: int
    integral: bool = True
    distinct: NDArray | None = None

    def holds_uint8(self) -> bool:
        """Every valid value is a finite integer in 0..255 (the values of an 8-bit image)."""
        return (
            self.n_nonfinite == 0
            and self.n_valid > 0
            and self.integral
            and bool((self.low >= 0).all() and (self.high <= 255).all())
        )


# Rows looked at together while collecting distinct values under a cap: a photo's block
# passes the cap within its first window, so the check costs little where it fails.
_DISTINCT_WINDOW = 1 << 14


def _few_distinct(px: NDArray, few: int) -> NDArray | None:
    """The distinct rows of (P, C) ``px`` where there are at most ``few``, else None."""
    seen = px[:0]
    for start in range(0, px.shape[0], _DISTINCT_WINDOW):
        seen = np.unique(np.concatenate([seen, px[start : start + _DISTINCT_WINDOW]]), axis=0)
        if seen.shape[0] > few:
            return None
    return seen


def _block_stats(
    block: NDArray,
    offset: object,
    labels: object,
    *,
    channels: int,
    alpha: int | None,
    few: int = 0,
) -> Stats:
    px, mask = _split(block, channels, alpha)
    if mask is not None:
        px = px[mask != 0]
    low, high, n_nonfinite, integral = K.band_stats(px)
    if n_nonfinite:
        px = px[np.isfinite(px).all(axis=1)]
    distinct = _few_distinct(px, few) if few else None
    if px.shape[0] == 0:
        empty = np.full(channels, np.nan)
        return Stats(empty, empty, 0, int(n_nonfinite), distinct=distinct)
    return Stats(low, high, int(px.shape[0]), int(n_nonfinite), integral, distinct)


def _combine_stats(*parts: Stats, few: int = 0) -> Stats:
    distinct = None
    if few and all(p.distinct is not None for p in parts):
        distinct = _few_distinct(np.concatenate([p.distinct for p in parts]), few)
    return Stats(
        np.fmin.reduce([p.low for p in parts]),
        np.fmax.reduce([p.high for p in parts]),
        sum(p.n_valid for p in parts),
        sum(p.n_nonfinite for p in parts),
        all(p.integral for p in parts),
        distinct,
    )


def integer_colors(image: da.Array, *, channels: int, alpha: int | None) -> da.Array:
    """A float image whose valid pixels hold integers in 0..255 (:meth:`Stats.holds_uint8`)
    as the same image in uint8, lazily: it then takes the exact histogram path, with the
    result of the 8-bit image. Alpha becomes 255 where it is not 0 (only that is read)."""
    fn = partial(_block_integer_colors, channels=channels, alpha=alpha)
    return da.map_blocks(fn, image, dtype=np.uint8)


def _block_integer_colors(block: NDArray, *, channels: int, alpha: int | None) -> NDArray:
    out = np.zeros(block.shape, np.uint8)
    with np.errstate(invalid="ignore"):  # transparent pixels may hold anything, even NaN
        out[..., :channels] = block[..., :channels]
    if alpha is not None:
        out[..., alpha] = np.where(block[..., alpha] != 0, 255, 0)
        out[..., :channels] *= out[..., alpha : alpha + 1] != 0
    return out


def _uniform(
    block_shape: tuple[int, ...], offset: tuple[int, ...], shape: tuple[int, ...], key: int
) -> NDArray[np.float64]:
    """A uniform number in [0, 1) per pixel of a block, from a hash of its global index.

    It depends only on the pixel's position in the whole image and on ``key``, not on how
    the image is chunked.
    """
    ndim = len(block_shape) - 1
    index = np.zeros((1,) * ndim, np.uint64)
    for axis, (start, size, full) in enumerate(
        zip(offset, block_shape[:-1], shape[:-1], strict=True)
    ):
        coords = np.arange(start, start + size, dtype=np.uint64)
        index = index * np.uint64(full) + coords.reshape(
            (1,) * axis + (size,) + (1,) * (ndim - 1 - axis)
        )
    bits = _splitmix64(index.reshape(-1) ^ np.uint64(key)) >> np.uint64(11)
    return bits.astype(np.float64) / float(1 << 53)


def _valid_rows(px: NDArray, mask: NDArray | None) -> NDArray[np.bool_]:
    keep = np.ones(px.shape[0], bool) if mask is None else mask != 0
    if px.dtype.kind == "f":
        keep &= np.isfinite(px).all(axis=1)
    return keep


def _block_sample(
    block: NDArray,
    offset: tuple[int, ...],
    labels: object,
    centers: NDArray[np.float64] | None,
    *,
    scale: float,
    key: int,
    shape: tuple[int, ...],
    channels: int,
    alpha: int | None,
) -> NDArray[np.float64]:
    # Each pixel is kept with probability scale (no centers) or scale x its squared distance
    # to the nearest center (k-means|| oversampling).
    px, mask = _split(block, channels, alpha)
    u = _uniform(block.shape, offset, shape, key)
    keep = _valid_rows(px, mask)
    if centers is None:
        keep &= u < scale
    else:
        keep &= u < scale * K.min_distances(px, centers)
    return np.asarray(px[keep], np.float64)


def _block_pick(
    block: NDArray,
    offset: tuple[int, ...],
    labels: object,
    *,
    key: int,
    shape: tuple[int, ...],
    channels: int,
    alpha: int | None,
) -> tuple[float, NDArray | None]:
    # The valid pixel with the smallest hash: one pixel drawn uniformly from the image.
    px, mask = _split(block, channels, alpha)
    u = np.where(_valid_rows(px, mask), _uniform(block.shape, offset, shape, key), np.inf)
    i = int(np.argmin(u))
    return (float(u[i]), np.asarray(px[i], np.float64)) if np.isfinite(u[i]) else (np.inf, None)


def _combine_pick(*parts: tuple[float, NDArray | None]) -> tuple[float, NDArray | None]:
    return min(parts, key=lambda p: p[0])


def _concat(*parts: NDArray) -> NDArray:
    return np.concatenate(parts)


def _splitmix64(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


class PixelSource:
    """The pixels of a chunked image (..., C_total), as per-block tasks.

    Parameters
    ----------
    image : dask array
        Channel axis last, in one chunk.
    channels : int
        How many leading channels are clustered.
    alpha : int or None
        Index of the alpha channel; pixels whose alpha is 0 are left out.
    """

    def __init__(self, image: da.Array, *, channels: int, alpha: int | None) -> None:
        self.image = image
        self.channels = channels
        self.alpha = alpha
        self.exact = image.dtype in K.INT_DTYPES
        self._blocks = list(image.to_delayed().ravel())
        self._offsets = _block_offsets(image.chunks)
        self._opts: dict[str, Any] = {"channels": channels, "alpha": alpha}

    def _reduce(
        self, fn: Any, combine: Any, *shared: Any, labels: da.Array | None = None, **kw: Any
    ) -> Any:
        """One compute: ``fn(block, offset, labels_block, *shared)`` per block, tree-combined.

        Each shared array enters the graph once, as a key every block task depends on.
        """
        (result,) = dask.compute(self._graph(fn, combine, *shared, labels=labels, **kw))
        return result

    def _graph(
        self, fn: Any, combine: Any, *shared: Any, labels: da.Array | None = None, **kw: Any
    ) -> Any:
        """The Delayed :meth:`_reduce` computes."""
        keys = [dask.delayed(a, pure=True) if isinstance(a, np.ndarray) else a for a in shared]
        lab = [None] * len(self._blocks) if labels is None else labels.to_delayed().ravel()
        task = dask.delayed(partial(fn, **kw, **self._opts), pure=True)
        parts = [
            task(b, off, lb, *keys)
            for b, off, lb in zip(self._blocks, self._offsets, lab, strict=True)
        ]
        return tree_reduce(parts, combine)

    def blocks_graph(self, fn: Any, combine: Any, **kw: Any) -> Any:
        """The Delayed of ``fn(block, offset, None, **kw)`` per block, tree-combined by
        ``combine`` (one pass over the pixels, for the other engine modules: the summary)."""
        return self._graph(fn, combine, **kw)

    def partials(self, centers: NDArray[np.float64], *, labels: Any = None) -> Partials:
        c = np.asarray(centers, np.float64)
        return self._reduce(_block_partials, combine_partials, c, labels=labels)

    def farthest(
        self,
        centers: NDArray[np.float64],
        k: int,
        base: NDArray[np.float64],
        n: int,
        *,
        labels: Any = None,
    ) -> Farthest:
        """The ``n`` farthest distinct colors from ``base`` in cluster ``k`` (one compute)."""
        c = np.asarray(centers, np.float64)
        merge = partial(_merge_farthest, n=n)
        return self._reduce(_block_farthest, merge, c, base, labels=labels, k=k, n=n)

    def histogram(self) -> Histogram:
        return self._reduce(_block_histogram, _combine_histograms)

    def histogram_graph(self) -> Any:
        """The Delayed of :meth:`histogram`: the merge tree, to compute where it is kept."""
        return self._graph(_block_histogram, _combine_histograms)

    def stats(self, few: int = 0) -> Stats:
        """The pixels' :class:`Stats` (with their distinct values, if at most ``few``)."""
        (result,) = dask.compute(self.stats_graph(few))
        return result

    def stats_graph(self, few: int = 0) -> Any:
        """The Delayed of :meth:`stats`."""
        return self._graph(_block_stats, partial(_combine_stats, few=few), few=few)

    def sample(
        self, centers: NDArray[np.float64] | None, scale: float, key: int
    ) -> NDArray[np.float64]:
        """Pixels kept with probability ``scale`` (x squared distance to ``centers``)."""
        return self._reduce(
            _block_sample, _concat, centers, scale=scale, key=key, shape=self.image.shape
        )

    def pick(self, key: int) -> NDArray[np.float64]:
        """One valid pixel drawn uniformly (the smallest hash of its global index)."""
        _, px = self._reduce(_block_pick, _combine_pick, key=key, shape=self.image.shape)
        return px

    def seed_points(self, n_valid: int, key: int) -> tuple[NDArray, NDArray]:
        """Distinct values of a chunking-independent random sample, with multiplicities."""
        (result,) = dask.compute(self.seed_points_graph(n_valid, key))
        return result

    def seed_points_graph(self, n_valid: int, key: int) -> Any:
        """The Delayed of :meth:`seed_points`: the sample drawn and made distinct in tasks,
        to compute where it is kept."""
        scale = min(1.0, _SEED_SAMPLE / max(n_valid, 1))
        sample = self._graph(
            _block_sample, _concat, None, scale=scale, key=key, shape=self.image.shape
        )
        return dask.delayed(_distinct_rows, pure=True)(sample)


def _distinct_rows(sample: NDArray[np.float64]) -> tuple[NDArray, NDArray[np.float64]]:
    points, weights = np.unique(sample, axis=0, return_counts=True)
    return points, weights.astype(np.float64)


def combine_partials(*parts: Partials) -> Partials:
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    return total


def _block_offsets(chunks: tuple[tuple[int, ...], ...]) -> list[tuple[int, ...]]:
    """Start of every block on the non-channel axes, in ``to_delayed().ravel()`` order."""
    starts = [np.concatenate([[0], np.cumsum(c)[:-1]]).astype(int).tolist() for c in chunks]
    return [tuple(s) for s in itertools.product(*starts[:-1])]
