"""Where the points live: a chunked dask image (pixel path) or its color histogram.

A source answers the few questions the Lloyd driver asks, each in ONE compute:
partial sums for given centers, the farthest member of a cluster (empty-cluster repair),
and, once, its bounding box and a weighted point set to seed from. Per-block partials are
combined in a tree with a fixed fan-in, never in a linear chain; centers enter the graph
once per compute, as a single key every block task depends on.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import dask
import dask.array as da
import numpy as np
from numpy.typing import NDArray

from daskquant import _kernels as K

__all__ = [
    "Histogram",
    "HistogramSource",
    "Partials",
    "PixelSource",
    "Source",
    "histogram_capable",
    "persist_in_memory",
]

FAN_IN = 8
_SEED_SAMPLE = 1 << 18  # pixels drawn for k-means++ seeding when no exact histogram exists


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
    def colors(self) -> NDArray[np.uint8]:
        return K.decode_colors(self.codes, self.channels)


class Source(Protocol):
    channels: int
    exact: bool

    def partials(self, centers: NDArray[np.float64], *, labels: Any = None) -> Partials: ...

    def farthest(
        self,
        centers: NDArray[np.float64],
        k: int,
        base: NDArray[np.float64],
        excluded: NDArray,
        *,
        labels: Any = None,
    ) -> tuple[float, NDArray | None, int]: ...


def persist_in_memory(arr: da.Array) -> da.Array:
    """Place an array that is already in the client's memory on the workers, once.

    Without this, every compute would embed the array's data in its graph again. The data
    has to travel once anyway, so the "large graph" warning for this transfer is silenced.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*large graph.*", category=UserWarning)
        return arr.persist()


def histogram_capable(dtype: np.dtype, channels: int) -> bool:
    """True where the exact color histogram applies: 8-bit with at most 3 clustered channels."""
    return np.dtype(dtype) == np.uint8 and channels <= 3


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
    centers: NDArray[np.float64],
    labels: NDArray | None,
    *,
    channels: int,
    alpha: int | None,
) -> Partials:
    px, mask = _split(block, channels, alpha)
    lab = None if labels is None else labels.reshape(-1)
    return Partials(*K.partial_sums(px, centers, mask=mask, labels=lab))


def _block_farthest(
    block: NDArray,
    centers: NDArray[np.float64],
    labels: NDArray | None,
    *,
    k: int,
    base: NDArray[np.float64],
    excluded: NDArray,
    channels: int,
    alpha: int | None,
) -> tuple[float, NDArray | None, int]:
    px, mask = _split(block, channels, alpha)
    lab = None if labels is None else labels.reshape(-1)
    return K.farthest_member(px, centers, k, base, excluded, mask=mask, labels=lab)


Farthest = tuple[float, NDArray | None, int]


def _combine_farthest(*parts: Farthest) -> Farthest:
    best: Farthest = (-1.0, None, 0)
    for d, color, n in parts:
        if color is None:
            continue
        if best[1] is None or d > best[0]:
            best = (d, color, n)
        elif d == best[0]:
            a, b = tuple(color.tolist()), tuple(best[1].tolist())
            if a == b:
                best = (d, color, best[2] + n)
            elif a > b:
                best = (d, color, n)
    return best


def _block_histogram(block: NDArray, *, channels: int, alpha: int | None) -> Histogram:
    px, mask = _split(block, channels, alpha)
    codes, counts = K.sparse_histogram(np.ascontiguousarray(px), mask)
    return Histogram(codes, counts, channels)


def _combine_histograms(*parts: Histogram) -> Histogram:
    codes = np.concatenate([p.codes for p in parts])
    counts = np.concatenate([p.counts for p in parts])
    uniq, inverse = np.unique(codes, return_inverse=True)
    merged = np.zeros(uniq.shape[0], np.int64)
    np.add.at(merged, inverse, counts)
    return Histogram(uniq.astype(np.uint32), merged, parts[0].channels)


@dataclass(frozen=True)
class Stats:
    """Per-channel bounds of the valid pixels, their count, and the non-finite values."""

    low: NDArray[np.float64]
    high: NDArray[np.float64]
    n_valid: int
    n_nonfinite: int


def _block_stats(block: NDArray, *, channels: int, alpha: int | None) -> Stats:
    px, mask = _split(block, channels, alpha)
    if mask is not None:
        px = px[mask != 0]
    n_nonfinite = 0
    if px.dtype.kind == "f":
        finite = np.isfinite(px).all(axis=1)
        n_nonfinite = int(px.shape[0] - np.count_nonzero(finite))
        px = px[finite]
    if px.shape[0] == 0:
        empty = np.full(channels, np.nan)
        return Stats(empty, empty, 0, n_nonfinite)
    return Stats(
        px.min(axis=0).astype(np.float64),
        px.max(axis=0).astype(np.float64),
        int(px.shape[0]),
        n_nonfinite,
    )


def _combine_stats(*parts: Stats) -> Stats:
    return Stats(
        np.fmin.reduce([p.low for p in parts]),
        np.fmax.reduce([p.high for p in parts]),
        sum(p.n_valid for p in parts),
        sum(p.n_nonfinite for p in parts),
    )


def _tree(parts: list[Any], combine: Any) -> Any:
    """Combine delayed partials in a tree of fan-in FAN_IN; returns one Delayed."""
    while len(parts) > 1:
        parts = [
            dask.delayed(combine, pure=True)(*parts[i : i + FAN_IN])
            for i in range(0, len(parts), FAN_IN)
        ]
    return parts[0]


def _seed_sample(
    block: NDArray,
    offset: tuple[int, ...],
    *,
    shape: tuple[int, ...],
    rate: float,
    key: int,
    channels: int,
    alpha: int | None,
) -> NDArray:
    # A counter-based hash of each pixel's global index picks the sample, so the sample does
    # not depend on how the image is chunked.
    index = np.zeros((1,) * (block.ndim - 1), np.uint64)
    for axis, (start, size, full) in enumerate(
        zip(offset, block.shape[:-1], shape[:-1], strict=True)
    ):
        coords = np.arange(start, start + size, dtype=np.uint64)
        index = index * np.uint64(full) + coords.reshape(
            (1,) * axis + (size,) + (1,) * (block.ndim - 2 - axis)
        )
    keep = (_splitmix64(index.reshape(-1) ^ np.uint64(key)) >> np.uint64(11)) < np.uint64(
        int(rate * (1 << 53))
    )
    px, mask = _split(block, channels, alpha)
    if mask is not None:
        keep &= mask != 0
    px = px[keep]
    if px.dtype.kind == "f":
        px = px[np.isfinite(px).all(axis=1)]
    return np.asarray(px, np.float64)


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
    labels : dask array, optional
        Initial memberships aligned with ``image``'s blocks (``KMEANS_USE_INITIAL_LABELS``).
    """

    def __init__(self, image: da.Array, *, channels: int, alpha: int | None) -> None:
        self.image = image
        self.channels = channels
        self.alpha = alpha
        self.exact = image.dtype in K.INT_DTYPES
        self._blocks = list(image.to_delayed().ravel())
        self._opts: dict[str, Any] = {"channels": channels, "alpha": alpha}

    def _label_blocks(self, labels: da.Array | None) -> list[Any]:
        if labels is None:
            return [None] * len(self._blocks)
        return list(labels.to_delayed().ravel())

    def partials(self, centers: NDArray[np.float64], *, labels: Any = None) -> Partials:
        c = dask.delayed(np.asarray(centers, np.float64), pure=True)
        fn = partial(_block_partials, **self._opts)
        parts = [
            dask.delayed(fn, pure=True)(b, c, lab)
            for b, lab in zip(self._blocks, self._label_blocks(labels), strict=True)
        ]
        (result,) = dask.compute(_tree(parts, _combine_partials))
        return result

    def farthest(
        self,
        centers: NDArray[np.float64],
        k: int,
        base: NDArray[np.float64],
        excluded: NDArray,
        *,
        labels: Any = None,
    ) -> tuple[float, NDArray | None, int]:
        c = dask.delayed(np.asarray(centers, np.float64), pure=True)
        fn = partial(_block_farthest, k=k, base=base, excluded=excluded, **self._opts)
        parts = [
            dask.delayed(fn, pure=True)(b, c, lab)
            for b, lab in zip(self._blocks, self._label_blocks(labels), strict=True)
        ]
        (result,) = dask.compute(_tree(parts, _combine_farthest))
        return result

    def histogram(self) -> Histogram:
        fn = partial(_block_histogram, **self._opts)
        (result,) = dask.compute(
            _tree([dask.delayed(fn, pure=True)(b) for b in self._blocks], _combine_histograms)
        )
        return result

    def stats(self) -> Stats:
        fn = partial(_block_stats, **self._opts)
        (result,) = dask.compute(
            _tree([dask.delayed(fn, pure=True)(b) for b in self._blocks], _combine_stats)
        )
        return result

    def seed_points(self, n_valid: int, key: int) -> tuple[NDArray, NDArray]:
        """Distinct values of a chunking-independent random sample, with multiplicities."""
        rate = min(1.0, _SEED_SAMPLE / max(n_valid, 1))
        offsets = _block_offsets(self.image.chunks)
        fn = partial(_seed_sample, shape=self.image.shape, rate=rate, key=key, **self._opts)
        parts = [
            dask.delayed(fn, pure=True)(b, off)
            for b, off in zip(self._blocks, offsets, strict=True)
        ]
        (pieces,) = dask.compute(parts)
        sample = np.concatenate(pieces) if pieces else np.empty((0, self.channels))
        if sample.shape[0] == 0:
            return sample, np.empty(0)
        points, weights = np.unique(sample, axis=0, return_counts=True)
        return points, weights.astype(np.float64)


def _combine_partials(*parts: Partials) -> Partials:
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    return total


def _block_offsets(chunks: tuple[tuple[int, ...], ...]) -> list[tuple[int, ...]]:
    """Start of every block on the non-channel axes, in ``to_delayed().ravel()`` order."""
    starts = [np.concatenate([[0], np.cumsum(c)[:-1]]).astype(int).tolist() for c in chunks]
    return [tuple(s) for s in itertools.product(*starts[:-1])]


class HistogramSource:
    """The distinct colors of an 8-bit image weighted by their pixel counts, in memory.

    Every question costs O(distinct colors), not O(pixels), and the answers are bit-identical
    to :class:`PixelSource`'s because integer sums are exact and the kernels are shared.
    """

    def __init__(self, hist: Histogram) -> None:
        self.hist = hist
        self.colors = hist.colors
        self.channels = hist.channels
        self.exact = True

    def partials(self, centers: NDArray[np.float64], *, labels: Any = None) -> Partials:
        return Partials(*K.partial_sums(self.colors, centers, weights=self.hist.counts))

    def farthest(
        self,
        centers: NDArray[np.float64],
        k: int,
        base: NDArray[np.float64],
        excluded: NDArray,
        *,
        labels: Any = None,
    ) -> tuple[float, NDArray | None, int]:
        d, color, _ = K.farthest_member(self.colors, centers, k, base, excluded)
        if color is None:
            return d, None, 0
        code = K.color_codes(color.reshape(1, -1))[0]
        return d, color, int(self.hist.counts[np.searchsorted(self.hist.codes, code)])
