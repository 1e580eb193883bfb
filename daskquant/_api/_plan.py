"""A job's plan before it runs (``daskquant plan``): what :func:`daskquant.quantize` will do
with the same inputs and options, from the inputs' headers only.

Counts (chunks, tasks) are those of the job's graphs; bytes and memory are estimates from
sizes (decoded pixels, labels, the distinct-color data, the lookup table), the numbers a
cluster user sizes workers with. Nothing is decoded and no cluster is needed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import dask.array as da
import numpy as np

from daskquant._api._fit import (
    _default_attempts,
    converge_iter,
    label_dtype,
)
from daskquant._api._inputs import file_alpha
from daskquant._api._options import QuantizeOptions
from daskquant._engine._attempts import FINALISTS
from daskquant._engine._codes import ColorCoding
from daskquant._engine._dask import FAN_IN
from daskquant._engine._sources import histogram_capable
from daskquant._engine._summary import MAX_CELLS
from daskquant._io._chunks import file_chunks
from daskquant._io._collection import collection_paths, is_collection
from daskquant._io._headers import Header, image_header
from daskquant._io._layout import as_image, check_alpha
from daskquant._io._readers import open_image
from daskquant._io._xarray import dataarray_image, is_dataarray

__all__ = ["IN_PROCESS_PIXELS", "JobPlan", "job_pixels", "job_plan", "runs_in"]

# The command line runs a job of at most this many pixels (16.8 MP) in its own process, on
# dask's threaded scheduler, when no scheduler or local-cluster size is given: starting a
# LocalCluster (worker processes that import the stack and load the compiled kernels)
# takes longer than such a job (benchmarks/results/small.md). The result is the same.
IN_PROCESS_PIXELS = 1 << 24

# Bytes per distinct color held where the histogram is fitted: its code (4) and count (8),
# its point (3 x 8), Z-order (8) and boxed copy (3 x 8 + 8 + 4 label), per attempt copy.
_PER_COLOR = 4 + 8 + 24 + 8
_PER_COLOR_ATTEMPT = 24 + 8 + 8 + 4


@dataclass(frozen=True)
class JobPlan:
    """What a job will do. Sizes in bytes; ``tasks`` per phase (upper bounds where the
    number of Lloyd iterations decides)."""

    inputs: list[dict[str, Any]]
    pixels: int
    channels: int
    dtype: str
    chunks: int
    fit: str
    attempts: int
    tasks: dict[str, int]
    bytes_read: int
    bytes_written: int
    worker_peak: int
    client_peak: int
    runs: str = "cluster"  # "threads": the command's own process (see runs_in)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Files = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


def job_plan(
    image: Files | Any, options: QuantizeOptions, *, threads_per_worker: int = 1
) -> JobPlan:
    """The plan of ``quantize(image, ..., **options)``: reads the inputs' headers only.

    ``image`` is what the command takes (a file, a store or a collection) or an xarray
    DataArray. ``threads_per_worker`` scales the per-worker peak (each thread holds a
    chunk).
    """
    paths: Sequence[str | os.PathLike[str]]
    alpha = check_alpha(options.alpha)
    if is_dataarray(image):
        headers = [_dataarray_header(image, options)]
        alphas: list[Any] = [alpha]
    else:
        if is_collection(image):
            paths = collection_paths(image)
        else:
            assert isinstance(image, (str, os.PathLike)), "a file, a store or a collection"
            paths = [image]
        spec = file_chunks(options.chunks)
        headers = [image_header(p, chunks=spec, level=options.level) for p in paths]
        alphas = [file_alpha(p, alpha, level=options.level) for p in paths]
    prepared = [as_image(h.array, alpha=a) for h, a in zip(headers, alphas, strict=True)]
    arr0, layout = prepared[0]
    pixels = sum(_pixels(a) for a, _ in prepared)
    chunks = sum(math.prod(a.numblocks) for a, _ in prepared)
    fit, attempts = _fit_path(arr0.dtype, layout.channels, options)
    chunk_bytes = max(_largest_chunk(a) for a, _ in prepared)
    item = arr0.dtype.itemsize * arr0.shape[-1]
    passes = _passes(fit, options, attempts)
    label_bytes = pixels * label_dtype(options.n_colors).itemsize
    written = label_bytes + (pixels * item if options.write_image else 0)
    runs = runs_in(pixels)
    worker_peak = _worker_peak(
        fit, chunk_bytes, pixels, options, threads_per_worker, attempts, layout.channels
    )
    decoded = max(
        (_pixels(a) * item for h, (a, _) in zip(headers, prepared, strict=True) if h.decoded),
        default=0,
    )
    return JobPlan(
        inputs=[_describe(h, a) for h, (a, _) in zip(headers, prepared, strict=True)],
        pixels=pixels,
        channels=int(arr0.shape[-1]),
        dtype=str(arr0.dtype),
        chunks=chunks,
        fit=fit,
        attempts=attempts,
        tasks=_tasks(fit, chunks, attempts, options, runs=runs),
        bytes_read=sum(_read_bytes(h, a) for h, (a, _) in zip(headers, prepared, strict=True))
        * passes,
        bytes_written=written,
        worker_peak=worker_peak,
        # In the command's own process, the client is the worker too.
        client_peak=decoded + (64 << 20) + (worker_peak if runs == "threads" else 0),
        runs=runs,
    )


def runs_in(pixels: int) -> str:
    """Where the command line runs a job of ``pixels`` pixels when neither a scheduler nor
    a local cluster's size is given: "threads" (its own process, dask's threaded
    scheduler) up to ``IN_PROCESS_PIXELS``, else "cluster" (a LocalCluster)."""
    return "threads" if pixels <= IN_PROCESS_PIXELS else "cluster"


def job_pixels(image: Files, options: QuantizeOptions, *, limit: int = IN_PROCESS_PIXELS) -> int:
    """The pixels of a job's inputs, from their headers only; reading stops once the sum
    passes ``limit`` (a large collection is not read header by header to decide)."""
    paths = collection_paths(image) if is_collection(image) else [image]
    spec = file_chunks(options.chunks)
    total = 0
    for path in paths:
        assert isinstance(path, (str, os.PathLike)), "a file, a store or a collection"
        header = image_header(path, chunks=spec, level=options.level)
        total += _pixels(as_image(header.array, alpha=None)[0])  # alpha or not: the same
        if total > limit:
            break
    return total


def _dataarray_header(image: Any, options: QuantizeOptions) -> Header:
    """A DataArray as the job opens it (see ``_inputs._array_input``): NumPy-backed ones
    are held by the client, Dask-backed ones are read by the tasks."""
    pixels, _ = dataarray_image(image)
    arr, _ = as_image(open_image(pixels, level=options.level), chunks=options.chunks)
    return Header("DataArray", arr, not isinstance(pixels, da.Array), None)


def _pixels(arr: da.Array) -> int:
    return int(math.prod(arr.shape[:-1]))


def _largest_chunk(arr: da.Array) -> int:
    return int(math.prod(max(c) for c in arr.chunks)) * arr.dtype.itemsize


def _read_bytes(header: Header, arr: da.Array) -> int:
    """Bytes one pass over the input reads: the file (or store) once for a file decoded
    whole (it is then held on the workers), else the decoded pixels."""
    if header.decoded and header.file_bytes is not None:
        return header.file_bytes
    return _pixels(arr) * arr.dtype.itemsize * int(arr.shape[-1])


def _fit_path(dtype: np.dtype, channels: int, options: QuantizeOptions) -> tuple[str, int]:
    """Which fit applies and its number of attempts."""
    if options.palette is not None:
        return "none (fixed palette)", 0
    if options.method == "pixels":
        fit = "pixels"
    elif options.method == "summary" or not histogram_capable(dtype, channels):
        fit = "summary"
    else:
        fit = "histogram"
    if options.attempts is not None:
        attempts = int(options.attempts)
    elif fit == "pixels" or not isinstance(options.init, str):
        attempts = 1
    else:  # the most: with the defaults, fewer where the distinct colors are many
        attempts = _default_attempts(True, options.colorspace, converge=_continues(fit, options))
    return fit, attempts


def _continues(fit: str, options: QuantizeOptions) -> bool:
    """Whether the best attempts continue to a fixed point (the defaults on the histogram)."""
    return (
        fit == "histogram" and converge_iter(options.epsilon, options.method, options.max_iter) > 0
    )


def _passes(fit: str, options: QuantizeOptions, attempts: int) -> int:
    """Passes over the pixels: the fit's (histogram: one; pixels: statistics, a seeding
    sample and one per Lloyd update of every attempt, at most; summary: statistics, the
    summary and at most one per Lloyd update on the pixels), labels and counts."""
    if fit == "histogram":
        return 2
    if fit == "pixels":
        return 2 + 2 + attempts * int(options.max_iter)
    if fit == "summary":
        return 2 + 2 + int(options.max_iter)
    return 1


def _tree(n: int) -> int:
    """Combine tasks of a tree of fan-in FAN_IN over ``n`` parts."""
    total = 0
    while n > 1:
        n = math.ceil(n / FAN_IN)
        total += n
    return total


def _tasks(
    fit: str, chunks: int, attempts: int, options: QuantizeOptions, *, runs: str
) -> dict[str, int]:
    reduce = chunks + _tree(chunks)
    tasks = {"loading": chunks}
    if fit == "histogram" and runs == "threads":  # the attempts and the table: no tasks
        tasks["histogram"] = reduce
    elif fit == "histogram":  # the merged histogram stays on a worker, the attempts too
        tasks["histogram"] = reduce + 2
        tasks["attempts"] = attempts + 1  # and the seeds' task
        if _continues(fit, options):  # the finalists' too
            tasks["attempts"] += FINALISTS + 1
        tasks["labels table"] = 3
    elif fit == "pixels":
        tasks["statistics"] = reduce
        tasks["init"] = reduce * attempts
        tasks["iterations"] = reduce * attempts * int(options.max_iter)
    elif fit == "summary":
        tasks["statistics"] = reduce
        tasks["summary"] = reduce + 1
        tasks["attempts"] = attempts
        tasks["iterations"] = reduce * int(options.max_iter)
    tasks["labels"] = chunks
    tasks["counts"] = reduce
    tasks["writing"] = chunks * (2 if options.write_image else 1)
    return tasks


def _worker_peak(
    fit: str,
    chunk: int,
    pixels: int,
    options: QuantizeOptions,
    threads: int,
    attempts: int,
    channels: int,
) -> int:
    """Per worker: every thread with a chunk, its labels and a histogram's scratch; the
    worker that holds the distinct colors, their attempts' copies and the lookup table."""
    per_thread = 3 * chunk
    coding = ColorCoding(3)
    if fit == "histogram":
        per_thread += coding.bins * 4  # the dense scratch table of a block's histogram
        colors = min(pixels, coding.bins)
        fitting = colors * (_PER_COLOR + min(attempts, threads) * _PER_COLOR_ATTEMPT)
        table = coding.bins * label_dtype(options.n_colors).itemsize
        return threads * per_thread + fitting + table
    if fit == "summary":  # a block's cell codes and sums, then the merged cells' attempts
        cells = min(pixels, MAX_CELLS)
        per_cell = 8 + 8 + 2 * 8 * channels + 8  # code, count, sums and means, Z-order
        fitting = cells * (per_cell + min(attempts, threads) * _PER_COLOR_ATTEMPT)
        return threads * 3 * per_thread + fitting
    return threads * per_thread


def _describe(header: Header, arr: da.Array) -> dict[str, Any]:
    return {
        "source": os.fspath(header.source),
        "shape": [int(s) for s in arr.shape],
        "dtype": str(arr.dtype),
        "chunk": [int(max(c)) for c in arr.chunks],
        "chunks": int(math.prod(arr.numblocks)),
        "decoded whole": header.decoded,
        "file bytes": header.file_bytes,
    }
