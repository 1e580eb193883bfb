"""``quantize`` as a pipeline: plan (inputs, options, chunks) -> fit or resume -> label ->
write -> summarize (and draw the preview). Each step is a function below ``_run``."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import zarr
from numpy.typing import ArrayLike, NDArray

from daskquant._api._fit import (
    FitResult,
    Init,
    Method,
    _check_int,
    _rng,
    fit_palette,
    to_palette,
)
from daskquant._api._inputs import Input, Source, check_inputs, describe, open_inputs
from daskquant._api._labels import label_image, masked_label, palette_centers, with_masked
from daskquant._api._masking import masked_inputs
from daskquant._api._options import QuantizeOptions, resume_request
from daskquant._api._output import Output, named_output
from daskquant._api._palette import load_palette
from daskquant._api._quality import QUALITY_MAX_PIXELS
from daskquant._api._quality import quality as measure_quality
from daskquant._api._target import TargetSearch, search_colors
from daskquant._color._display import RgbBands, display_bands, rgb8_palette
from daskquant._color._dither import Dither
from daskquant._color._palettes import MAX_COLORS
from daskquant._color._spaces import ColorSpace
from daskquant._errors import DaskQuantError, InputError, InvalidParameterError, StoreError
from daskquant._io._collection import (
    pixel_set,
)
from daskquant._io._layout import Alpha, Layout, check_alpha
from daskquant._io._masks import Nodata
from daskquant._io._storage import Location, storage_context
from daskquant._store._claim import check_unclaimed, claimed
from daskquant._store._export import export
from daskquant._store._ome import LABEL_OFFSET, write_ome_image
from daskquant._store._preview import store_preview
from daskquant._store._resume import check_request, input_fingerprint
from daskquant._store._store import (
    ImageRecord,
    check_writable,
    create_store,
    mark_complete,
    open_store,
    palette_indices,
    store_attrs,
    write_arrays,
    write_large,
)
from daskquant._version import __version__

__all__ = ["Summary", "check_job", "quantize"]

log = logging.getLogger("daskquant")

_PALETTE_SAVED = "palette_saved"  # store attribute: palette, centers and counts are written


@dataclass(frozen=True)
class Summary:
    """What a :func:`quantize` run did. ``as_dict()`` is JSON-ready.

    For a collection, ``shape`` is (total pixels, channels) and ``extra["images"]`` lists
    every image with its name, source, shape and arrays in the store.
    """

    store: str
    shape: tuple[int, ...]
    dtype: str
    n_colors: int
    n_pixels: int
    n_iter: int
    converged: bool
    compactness: float
    method: str
    seconds: float
    palette: list[list[float]]
    counts: list[int]
    preview: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pixels_per_second(self) -> float:
        return self.n_pixels / self.seconds if self.seconds > 0 else float("inf")

    def as_dict(self) -> dict[str, Any]:
        """The summary as plain JSON values (NaN and inf, which JSON lacks, become None)."""
        d = asdict(self)
        d["pixels_per_second"] = self.pixels_per_second
        return _plain(d)


def _block_quantize(
    block: NDArray, labels: NDArray, palette: NDArray, *, layout: Layout
) -> NDArray:
    out = block.copy()
    lab = labels[..., 0]
    kept = lab < len(palette)  # masked pixels (the reserved label) keep their values
    out[kept, : layout.channels] = palette[lab[kept]]
    return out


def quantize(
    image: Source,
    store: str | Path,
    *,
    n_colors: int = 16,
    max_iter: int = 20,
    epsilon: float | None = None,
    attempts: int | None = None,
    init: Init | ArrayLike = "k-means++",
    seed: int | np.random.Generator | None = None,
    method: Method = "auto",
    chunks: tuple[int, ...] | int | None = None,
    level: int = 0,
    palette: ArrayLike | str | os.PathLike[str] | None = None,
    pin: ArrayLike | str | os.PathLike[str] | None = None,
    colorspace: ColorSpace = "rgb",
    dither: Dither = "none",
    strict: bool = False,
    target_psnr: float | None = None,
    min_psnr: float | None = None,
    target_deltae: float | None = None,
    max_deltae: float | None = None,
    metrics: bool | None = None,
    write_image: bool = False,
    ome: bool = False,
    overwrite: bool = False,
    resume: bool = False,
    preview: str | Path | None = None,
    keep_store: str | Path | None = None,
    on_iteration: Callable[[int, float], None] | None = None,
    storage_options: dict[str, Any] | None = None,
    nodata: Nodata = None,
    mask: ArrayLike | str | os.PathLike[str] | None = None,
    rgb_bands: RgbBands = None,
    alpha: Alpha = "auto",
    quality: bool | None = None,
) -> Summary:
    """Quantize an image, or a collection of images, to one palette and write a Zarr store.

    Parameters not listed below are those of :func:`fit_palette`.

    Parameters
    ----------
    image : array, dask array, xarray DataArray, path, glob pattern, or list of paths
        One image: (H, W), (H, W, C) or (N, H, W, C) array, or the path of an image file,
        TIFF, Zarr array or OME-Zarr image (see :func:`daskquant.open_image`). An xarray
        or rioxarray ``DataArray`` with dims (y, x[, band]) or (band, y, x), NumPy- or
        Dask-backed, keeps its CRS, transform (from its coordinates), nodata and band
        descriptions in the store as a GeoTIFF file does (rioxarray, in
        ``daskquant[geo]``, reads them). Several
        images: a folder that is not a Zarr store, a glob pattern (``"scans/*.tif"``) or a
        list of paths; they may differ in size, and share one palette fitted over all.
    store : path or URL
        Output Zarr v3 store, ``.zarr`` or no suffix (layouts in
        :mod:`daskquant._store._store`): one image's labels go to ``labels``, a
        collection's to ``labels/<name>`` (the file name without suffix). Or an image,
        ``.png``, ``.tif`` or ``.tiff``: the labels with the palette, as
        :func:`daskquant.export` writes them, from a store that lives next to the image
        while the job runs and is then removed (or kept at ``keep_store``). Other
        suffixes are refused.
    chunks : int or tuple, optional
        Spatial chunk size in pixels; by default chosen from the image (and its tiles).
    level : int
        Resolution level to quantize, for pyramidal TIFF and OME-Zarr inputs.
    palette : (K, C) array, str or path, optional
        A fixed palette: skip the fit, map every pixel to its nearest palette color. Any
        source :func:`daskquant.load_palette` reads (hex colors, ``gray:N``, ``web216``, a
        .txt/.json/.gpl file, an indexed PNG, an earlier output store).
    pin : (P, C) array, str or path, optional
        Colors kept exactly in the fitted palette, first and in the order given (see
        :func:`fit_palette`); the store's ``fit.n_pinned`` attribute counts them.
    colorspace : {"rgb", "lab", "din99"}
        Where distances are measured, for the fit and the labels (see :func:`fit_palette`).
    dither : {"none", "bayer2", "bayer4", "bayer8", "floyd-steinberg"}
        Ordered dithering of the labels (see :func:`daskquant.apply_palette`).
    strict : bool
        Refuse (``TooFewColorsError``) an image with fewer distinct colors than
        ``n_colors``. By default such an image keeps exactly its own colors: K is reduced
        to their number, and the summary's ``extra["kept_exactly"]`` and the store's
        ``fit`` attributes (``kept_exactly``, ``n_colors_requested``) say so.
    target_psnr : float, optional
        A quality target, as pngquant's ``--quality min-max`` has one: use the fewest
        colors, at most ``n_colors``, whose result reaches this PSNR (dB, as
        :func:`daskquant.quality` measures it). The search runs on the image's exact color
        histogram (8-bit images; one pass over the pixels, then each K tried costs one fit
        on the distinct colors), else on a sample of 2^18 pixels, never a job per K; it is a
        bisection over K, which assumes the PSNR grows with K (see the "Quality target"
        section of the guide). Where even ``n_colors`` misses the target, ``n_colors`` is
        used. ``Summary.n_colors`` is the K chosen; ``Summary.extra["target"]`` and the
        store's ``target`` attribute hold the K chosen, the PSNR it reaches as searched,
        whether it reaches the target, and every K tried. Not with ``palette``, ``pin``,
        start centers as ``init``, or dithering.
    min_psnr : float, optional
        The least PSNR accepted (pngquant's min): if even ``n_colors`` colors stay below
        it, :class:`~daskquant.QualityTooLowError` is raised and nothing is written.
    target_deltae : float, optional
        A CIEDE2000 target, as ``target_psnr``: the fewest colors, at most ``n_colors``,
        whose result has at most this mean CIEDE2000 (as :func:`daskquant.quality`
        measures it). With ``target_psnr`` too, K meets both.
    max_deltae : float, optional
        The largest mean CIEDE2000 accepted, as ``min_psnr``.
    metrics : bool or None
        Measure PSNR and mean CIEDE2000 of the written result (one more pass over the
        pixels; ``Summary.extra["quality"]`` and the store's ``quality`` attribute). None:
        for images up to 2^24 pixels.
    write_image : bool
        Also write the quantized image (the input's shape and dtype, alpha carried over).
    ome : bool
        Write OME-Zarr (NGFF 0.5) instead: the quantized image with a multiscale pyramid
        and its labels as ``labels/<name>`` with the palette as ``image-label.colors``.
    overwrite : bool
        Replace an existing store (only a Zarr store; other files are never deleted).
    resume : bool
        Finish the store of an interrupted job with the same inputs and options: its saved
        palette is used (no fit) and only the chunks not yet written are computed; the
        result is bit-identical to an uninterrupted run. A store made with other inputs or
        options is refused; without a store, the job runs from the start.
    preview : path, optional
        Write a before/after PNG with the palette swatch there (see
        :func:`daskquant.preview`; for a collection, its first image).
    keep_store : path or URL, optional
        With an image ``store``: where its Zarr store is written, and kept.
    storage_options : dict, optional
        Options of the filesystem of every URL (inputs, ``store``, ``palette``,
        ``preview``: ``s3://``, ``gs://``, ``az://``, ``http(s)://``, ...), as fsspec
        takes them (``{"anon": True}``, ``{"endpoint_url": ...}``). Credentials are read
        from the environment as each filesystem reads them; these options are never
        written to the store, the summary or a message. See the "Storage and URLs" page.
    nodata : number, sequence of numbers, "nan", "none" or None
        Leave out the pixels whose every band equals its nodata value (see
        :func:`fit_palette`). None (default): a GeoTIFF's own nodata value, where it has
        one; "none": no nodata value, not even the file's.
    mask : (H, W) array, dask array, Zarr array, or the path of a mask image, optional
        Nonzero = keep, 0 = leave out (one image, not a collection). Pixels left out by
        ``nodata`` or ``mask`` take no part in the fit or the counts, and are labelled
        255 (uint8 labels, so K <= 255) or 65535 (uint16 labels), recorded as
        ``labels.nodata`` in the store's attributes.
    quality : bool or None
        Deprecated name of ``metrics`` (a ``FutureWarning``); ``metrics`` wins where both
        are given.
    rgb_bands : three ints, "R,G,B" or None
        Which bands the ``preview`` and an image ``store`` (``.png``, ``.tif``) show as red,
        green and blue (0-based, alpha not counted; see :func:`daskquant.preview`). None:
        the first three; one or two bands are shown as gray (the first).
    alpha : int, None or "auto"
        Which channel is alpha (not clustered; fully transparent pixels left out): its
        index, None (no channel is), or "auto" (default): what the file's own metadata says
        (TIFF ExtraSamples 1 or 2; the alpha of PNG, WebP and BMP files; slides' RGBA), and
        for arrays and Zarr stores, which have no such metadata, the last channel of 2
        (gray + alpha) or 4 (RGBA) channels. So a 4-band TIFF without ExtraSamples (RGB +
        near-infrared) has no alpha, and a 4-band array of such data needs ``alpha=None``.
        A given index is moved last: the quantized image has its alpha last.

    Returns
    -------
    Summary

    Raises
    ------
    InputError
        An input cannot be read or quantized (the message names the file); nothing is
        written.
    InvalidParameterError, StoreError
        A bad option; the output exists (without ``overwrite``), cannot be written, or
        cannot be resumed; another job is writing it (see :mod:`daskquant._store._claim`:
        the job claims its output while it runs, so two jobs never write one output).
    """
    options = QuantizeOptions.of(locals())
    with storage_context(options.storage_options):
        target = _named(image, store, options)
        for out in target.claims:  # before the claim beside it is created
            check_writable(out)
        with claimed(*target.claims):
            if target.image is None:
                return _run(image, target.store, options)
            return _run_to_image(image, target, options)


def _named(image: Source, store: Any, options: QuantizeOptions) -> Output:
    return named_output(
        image,
        store,
        keep_store=options.keep_store,
        n_colors=options.n_colors,
        palette=options.palette,
        overwrite=options.overwrite,
    )


def _run_to_image(image: Source, target: Output, options: QuantizeOptions) -> Summary:
    """A job whose output is an image: the store, then the image exported from it (the
    store removed unless it is kept)."""
    assert target.image is not None
    try:
        summary = _run(image, target.store, options)
        export(target.store, target.image, overwrite=True, rgb_bands=options.rgb_bands)
    finally:
        if not target.keep:
            target.store.remove(ignore_errors=True)
    kept = {"store": str(target.store)} if target.keep else {}
    return replace(summary, store=str(target.image), extra={**summary.extra, **kept})


# -- the pipeline: plan -> fit or resume -> label -> write -> summarize -------------------


@dataclass(frozen=True)
class _Plan:
    """What a job will do, known before anything is computed or written."""

    out: Location
    inputs: list[Input]
    many: bool  # a collection: one palette over several images, each under its name
    pixels: da.Array  # what the fit sees: the image, or the collection's pixel set
    request: dict[str, Any]  # see resume_request
    previous: zarr.Group | None  # the store to resume, if any
    name: str | None  # how messages name the input (None: an array)
    masked: list[Input] | None = None  # the inputs as fitted and labelled, if any is masked

    @property
    def layout(self) -> Layout:
        return self.inputs[0].layout

    @property
    def pixel_alpha(self) -> int | None:
        """The alpha channel of ``pixels`` (of the masked inputs, where masked)."""
        return (self.masked or self.inputs)[0].layout.alpha


@dataclass
class _Colors:
    """The palette of a job: fitted, given, or saved by the interrupted job it resumes.

    ``palette``, ``counts``, ``n_pixels`` and ``attrs`` are known from the start for a
    resumed job, after the labels otherwise (see :func:`_count`).
    """

    centers: NDArray[np.float64]
    fit: FitResult | None = None
    resumed: bool = False
    palette: NDArray | None = None
    counts: NDArray[np.int64] | None = None
    n_pixels: int = 0
    attrs: dict[str, Any] = field(default_factory=dict)
    target: TargetSearch | None = None  # the search over K of a quality target


def _run(image: Source, out: Location, options: QuantizeOptions) -> Summary:
    t0 = time.perf_counter()
    plan = _plan(image, out, options)
    colors = _fit_or_resume(plan, options)
    labels = _label(plan, colors, options)
    if not colors.resumed:
        _count(plan, colors, labels, options)
    group = _open_output(plan, colors, options)
    records, written, measured = _write(group, plan, colors, labels, options)
    preview_path = _preview(group, plan, records, options)
    return _summarize(plan, colors, records, written, measured, preview_path, t0)


def check_job(image: Source, store: str | os.PathLike[str], options: QuantizeOptions) -> None:
    """What a job checks before it reads a pixel (the command line, before it starts a
    cluster): the output can be written (or resumed), and every input file can be an image.

    Raises
    ------
    StoreError, InputError
    """
    if options.palette is None:
        _check_int("n_colors", options.n_colors, 1, MAX_COLORS)
    with storage_context(options.storage_options):
        target = _named(image, store, options)
        for out in target.claims:
            check_unclaimed(out)
        if target.keep:
            _check_output(target.store, options)
        else:
            check_writable(target.store)
        check_inputs(image)


def _check_output(out: Location, options: QuantizeOptions) -> zarr.Group | None:
    """Refuse an output that exists (unless replaced or resumed) or cannot be written;
    the store to resume, if any."""
    previous = None
    if out.exists() and options.resume:
        previous = open_store(out)
    elif out.exists() and not options.overwrite:
        raise StoreError(
            f"{out} already exists; choose another output path, pass overwrite=True "
            "to replace it, or resume=True to finish it"
        )
    check_writable(out)
    return previous


def _plan(image: Source, out: Location, options: QuantizeOptions) -> _Plan:
    """Check the output and open every input (reading what must be read to refuse bad
    input before anything is written); the job's resume request."""
    previous = _check_output(out, options)
    with dask.annotate(phase="loading"):
        inputs, many = open_inputs(
            image, chunks=options.chunks, level=options.level, alpha=check_alpha(options.alpha)
        )
    if options.ome and any(i.array.ndim != 3 for i in inputs):
        raise InvalidParameterError(
            "ome=True writes 2-D images; pass the images of a stack as a collection of files"
        )
    request = resume_request(
        options,
        inputs=input_fingerprint([i.source for i in inputs], image),
        chunks=[[int(c) for c in i.array.chunksize] for i in inputs],
    )
    display_bands(inputs[0].layout.channels, options.rgb_bands)  # refused before any work
    masked = masked_inputs(inputs, nodata=options.nodata, mask=options.mask, many=many)
    seen = masked or inputs
    pixels = pixel_set([i.array for i in seen]) if many else seen[0].array
    return _Plan(out, inputs, many, pixels, request, previous, describe(image, inputs), masked)


def _fit_or_resume(plan: _Plan, options: QuantizeOptions) -> _Colors:
    """The palette saved by the job this one resumes, else a fitted one, else the given
    one."""
    saved = _saved_fit(plan.out, plan.previous, plan.request)
    if saved is not None:
        return saved
    if options.palette is None:
        with dask.annotate(phase="fit"), _naming(plan):
            k, kwargs, target = _colors_for_target(plan, options)
            fit = fit_palette(plan.pixels, k, **kwargs)
        return _Colors(fit.centers, fit=fit, target=target)
    given = options.palette
    if isinstance(given, (str, os.PathLike)):
        given = load_palette(given, dtype=plan.pixels.dtype, channels=plan.layout.channels)
    return _Colors(palette_centers(given, plan.layout))


def _colors_for_target(
    plan: _Plan, options: QuantizeOptions
) -> tuple[int, dict[str, Any], TargetSearch | None]:
    """K and the fit's keywords: those asked for, or, with a quality target, the K the
    search found and the seed it searched with (drawn here where none was given)."""
    kwargs = {**options.fit_kwargs(), "alpha": plan.pixel_alpha}
    goal = options.goal()
    if goal is None:
        return options.n_colors, kwargs, None
    _check_int("n_colors", options.n_colors, 1, MAX_COLORS)
    kwargs["seed"], _ = _rng(options.seed)
    target = search_colors(
        plan.pixels, n_colors=options.n_colors, goal=goal, seed=kwargs["seed"], fit=kwargs
    )
    return target.n_colors, kwargs, target


@contextmanager
def _naming(plan: _Plan) -> Iterator[None]:
    """Errors about the pixels (too few colors, all transparent, NaN) name the input: the
    file, or for a collection the members with NaN values, else the collection."""
    try:
        yield
    except InputError as exc:
        if plan.name is None:
            raise
        culprits = _nonfinite_members(plan) if "NaN" in str(exc) else []
        name = ", ".join(culprits) if culprits else plan.name
        raise type(exc)(f"{name}: {exc}") from exc


def _nonfinite_members(plan: _Plan) -> list[str]:
    """The collection members holding NaN or inf values (looked for only after the fit
    found some)."""
    if not plan.many or plan.pixels.dtype.kind != "f":
        return []
    channels = plan.layout.channels
    bad = [(~da.isfinite(i.array[..., :channels])).any() for i in plan.inputs]
    (found,) = dask.compute(bad)
    return [str(i.source) for i, b in zip(plan.inputs, found, strict=True) if b]


def _label(plan: _Plan, colors: _Colors, options: QuantizeOptions) -> list[da.Array]:
    """Every input's labels, lazily (the fit's own labels of the distinct colors serve
    where there is no dithering)."""
    fit = colors.fit
    color_labels = fit.color_labels if fit and options.dither == "none" else None
    labels = [
        label_image(
            i.array,
            i.layout,
            colors.centers,
            color_labels,
            colorspace=options.colorspace,
            dither=options.dither,
        )
        for i in plan.masked or plan.inputs
    ]
    if plan.masked is None:
        return labels
    reserved = masked_label(len(colors.centers))
    return [
        with_masked(lab, i.array, i.layout, m.array, reserved)
        for lab, i, m in zip(labels, plan.inputs, plan.masked, strict=True)
    ]


def _count(plan: _Plan, colors: _Colors, labels: list[da.Array], options: QuantizeOptions) -> None:
    """Complete ``colors`` of a job that starts afresh: palette, counts and attributes
    (counting the labels where the fit's counts do not apply)."""
    fit = colors.fit
    colors.palette = to_palette(colors.centers, plan.pixels.dtype) if fit is None else fit.palette
    if fit is None or options.dither != "none":  # the fit's counts are those of undithered labels
        k = len(colors.centers)
        with dask.annotate(phase="counts"):
            (counts,) = dask.compute(sum(da.bincount(lab.ravel(), minlength=k) for lab in labels))
        colors.counts = counts[:k]  # without the masked pixels' reserved label
        colors.n_pixels = sum(int(lab.size) for lab in labels)
        if plan.masked is not None:
            colors.n_pixels -= int(counts[k:].sum())
    else:
        colors.counts, colors.n_pixels = fit.counts, fit.n_pixels
    attrs = _attributes(plan, fit, colors.centers, options)
    attrs["labels"] = options.label_attrs()
    if plan.masked is not None:
        attrs["labels"]["nodata"] = masked_label(len(colors.centers))
    attrs["request"] = plan.request
    if colors.target is not None:
        attrs["target"] = colors.target.as_dict()
    if options.palette is not None:
        attrs["palette_source"] = options.palette_source()
    colors.attrs = attrs


def _open_output(plan: _Plan, colors: _Colors, options: QuantizeOptions) -> zarr.Group:
    """The store to write into: the resumed one as it is, else a new one, incomplete."""
    if colors.resumed:
        return zarr.open_group(plan.out.zarr_store(), mode="r+")
    replace = options.overwrite or plan.previous is not None
    return create_store(plan.out, colors.attrs, overwrite=replace)


def _write(
    group: zarr.Group,
    plan: _Plan,
    colors: _Colors,
    labels: list[da.Array],
    options: QuantizeOptions,
) -> tuple[list[ImageRecord], int, dict[str, float] | None]:
    """Write the palette, every image and the attributes, then mark the store complete;
    the image records, the number of chunks written and the quality measured."""
    assert colors.palette is not None and colors.counts is not None
    try:
        if not colors.resumed:
            arrays = {"palette": colors.palette, "centers": colors.centers}
            write_arrays(group, {**arrays, "counts": colors.counts}, {})
            # Only now are they whole (an array's zarr.json is written before its data).
            group.attrs[_PALETTE_SAVED] = True
        with dask.annotate(phase="writing"):
            records, written = _write_images(
                group, plan, labels, colors.palette, options, resume=colors.resumed
            )
        measured = _quality(group, plan, colors, records, options)
        attrs = colors.attrs
        if measured is not None:
            attrs["quality"] = {k: _json_number(v) for k, v in measured.items()}
        group.attrs["daskquant"] = {**attrs, "images": [r.as_dict() for r in records]}
        mark_complete(group)
    except DaskQuantError:
        # An input that fails to decode half-way: leave nothing behind, as for bad input
        # found before writing. Other failures (and a resumed job) keep the incomplete
        # store, for inspection and resume=True.
        if not colors.resumed:
            plan.out.remove(ignore_errors=True)
        raise
    return records, written, measured


def _quality(
    group: zarr.Group,
    plan: _Plan,
    colors: _Colors,
    records: list[ImageRecord],
    options: QuantizeOptions,
) -> dict[str, float] | None:
    """PSNR and CIEDE2000 of the written result, if asked (by default for small images)."""
    asked = options.metrics
    assert colors.palette is not None
    if not (asked if asked is not None else colors.n_pixels <= QUALITY_MAX_PIXELS):
        return None
    # Measured on the written labels, so they are not computed a second time.
    stored = [palette_indices(group, r).to_dask() for r in records]
    with dask.annotate(phase="quality"):
        # The masked inputs' alpha leaves the masked pixels out.
        seen = plan.masked or plan.inputs
        arrays = [i.array for i in seen]
        return measure_quality(arrays, stored, colors.palette, alpha=plan.pixel_alpha)


def _preview(
    group: zarr.Group, plan: _Plan, records: list[ImageRecord], options: QuantizeOptions
) -> str | None:
    if options.preview is None:
        return None
    # An image in memory is shown from there; a file is read again through its own
    # pyramid where it has one (see daskquant._store._preview).
    first = plan.inputs[0]
    before = first.array if first.in_memory or first.source is None else None
    with dask.annotate(phase="preview"):
        shown = options.rgb_bands
        return str(
            store_preview(group, records[0], options.preview, before=before, rgb_bands=shown)
        )


def _summarize(
    plan: _Plan,
    colors: _Colors,
    records: list[ImageRecord],
    written: int,
    measured: dict[str, float] | None,
    preview_path: str | None,
    t0: float,
) -> Summary:
    shape = tuple(int(s) for s in plan.pixels.shape)
    assert colors.palette is not None and colors.counts is not None
    return Summary(
        store=str(plan.out),
        shape=(shape[0], shape[-1]) if plan.many else shape,
        dtype=str(plan.pixels.dtype),
        n_colors=len(colors.centers),
        n_pixels=colors.n_pixels,
        **_fit_facts(colors.fit, colors.attrs.get("fit")),
        seconds=time.perf_counter() - t0,
        palette=np.asarray(colors.palette, np.float64).tolist(),
        counts=[int(c) for c in colors.counts],
        preview=preview_path,
        extra={
            "chunks_written": written,
            **({"resumed": True} if colors.resumed else {}),
            **_kept_facts(colors.attrs.get("fit")),
            **({"target": colors.attrs["target"]} if "target" in colors.attrs else {}),
            **({"images": [r.as_dict() for r in records]} if plan.many else {}),
            **({"quality": measured} if measured is not None else {}),
        },
    )


def _saved_fit(
    out: Location, previous: zarr.Group | None, request: dict[str, Any]
) -> _Colors | None:
    """What an interrupted job saved before writing: centers, palette, counts, attributes.

    None when there is nothing to resume (no store, or one stopped before its palette was
    saved: the job then starts again). A store made for another request is refused.
    """
    if previous is None:
        return None
    attrs = store_attrs(previous)
    check_request(out, attrs.get("request"), request)
    names = ("centers", "palette", "counts")
    if not previous.attrs.get(_PALETTE_SAVED) or not all(
        isinstance(previous.get(n), zarr.Array) for n in names
    ):
        return None
    counts = np.asarray(previous["counts"], np.int64)
    return _Colors(
        np.asarray(previous["centers"], np.float64),
        resumed=True,
        palette=np.asarray(previous["palette"]),
        counts=counts,
        n_pixels=int(np.sum(counts)),
        attrs={k: v for k, v in attrs.items() if k not in ("images", "quality")},
    )


def _kept_facts(saved: dict[str, Any] | None) -> dict[str, Any]:
    """The summary's note of an image that kept its own colors (fewer than asked for)."""
    if not saved or not saved.get("kept_exactly"):
        return {}
    return {"kept_exactly": True, "n_colors_requested": int(saved["n_colors_requested"])}


def _fit_facts(fit: FitResult | None, saved: dict[str, Any] | None) -> dict[str, Any]:
    """Iterations, convergence, compactness and path of this job's fit, else of the fit
    saved in the store (a resumed job), else of a fixed palette."""
    if fit is not None:
        names = ("n_iter", "converged", "compactness", "method")
        saved = {name: getattr(fit, name) for name in names}
    if not saved:
        return {"n_iter": 0, "converged": True, "compactness": float("nan"), "method": "palette"}
    return {
        "n_iter": int(saved["n_iter"]),
        "converged": bool(saved["converged"]),
        "compactness": float(saved["compactness"]),
        "method": str(saved["method"]),
    }


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _json_number(value: float) -> float | str:
    # JSON (and so Zarr attributes) has no inf or NaN: a perfect match has PSNR "inf".
    return float(value) if np.isfinite(value) else str(value)


def _write_images(
    group: zarr.Group,
    plan: _Plan,
    labels: list[da.Array],
    pal: NDArray,
    options: QuantizeOptions,
    *,
    resume: bool,
) -> tuple[list[ImageRecord], int]:
    """Write every image's labels (and quantized image) in its layout (with ``resume``,
    only the chunks not yet written); their records and the number of chunks written."""
    images = _quantized(plan, labels, pal) if options.ome or options.write_image else []
    if options.ome:
        return _write_ome(group, plan, labels, images, pal, level=options.level, resume=resume)
    records = []
    large: dict[str, da.Array] = {}
    for j, (inp, lab) in enumerate(zip(plan.inputs, labels, strict=True)):
        suffix = f"/{inp.name}" if plan.many else ""
        large[f"labels{suffix}"] = lab
        if options.write_image:
            img = images[j]
            large[f"image{suffix}"] = img[..., 0] if inp.layout.squeeze else img
        image_paths = [f"image{suffix}"] if options.write_image else []
        alpha_paths: list[str] = []
        if inp.layout.alpha is not None and not options.write_image:  # the exports' alpha
            alpha_paths = [f"alpha{suffix}"]
            large[alpha_paths[0]] = inp.array[..., inp.layout.alpha]
        records.append(
            _record(inp, [f"labels{suffix}"], image_paths, "", options.level, alpha=alpha_paths)
        )
    written = write_large(group, large, resume=resume)
    return records, written


def _quantized(plan: _Plan, labels: list[da.Array], pal: NDArray) -> list[da.Array]:
    """Every input's quantized image, lazily (built only where it is written: a
    ``map_blocks`` per image is much of a collection's client work)."""
    shared = dask.delayed(pal, pure=True)
    images = []
    for inp, lab in zip(plan.inputs, labels, strict=True):
        fn = partial(_block_quantize, layout=inp.layout)
        images.append(da.map_blocks(fn, inp.array, lab[..., None], shared, dtype=inp.array.dtype))
    return images


def _write_ome(
    group: zarr.Group,
    plan: _Plan,
    labels: list[da.Array],
    images: list[da.Array],
    pal: NDArray,
    *,
    level: int,
    resume: bool,
) -> tuple[list[ImageRecord], int]:
    """The OME-Zarr layout of :func:`_write_images`: each image a multiscale pyramid with
    its labels beside it, a collection's under ``images/<name>``."""
    many = plan.many
    records = []
    written = 0
    colors = rgb8_palette(pal, pal.dtype)
    for inp, lab, img in zip(plan.inputs, labels, images, strict=True):
        prefix = f"images/{inp.name}/" if many else ""
        target = group.require_group(prefix.rstrip("/")) if many else group
        chunks = (inp.array.chunks[0][0], inp.array.chunks[1][0])
        paths, n = write_ome_image(
            target,
            name=inp.name,
            image=img,
            labels=lab,
            colors=colors,
            chunks=chunks,
            resume=resume,
            pixel_size=_pixel_size(inp.spatial),
        )
        written += n
        records.append(
            _record(inp, paths["labels"], paths["image"], prefix, level, offset=LABEL_OFFSET)
        )
    return records, written


def _pixel_size(spatial: dict[str, Any] | None) -> tuple[float, float, str] | None:
    """(y, x, unit) of an input's pixels where it says (a microscope's pixel size)."""
    if not spatial or "pixel_size" not in spatial or "unit" not in spatial:
        return None
    y, x = spatial["pixel_size"]
    return float(y), float(x), str(spatial["unit"])


def _record(
    inp: Input,
    labels: list[str],
    image: list[str],
    prefix: str,
    level: int,
    *,
    offset: int = 0,
    alpha: Sequence[str] = (),
) -> ImageRecord:
    return ImageRecord(
        name=inp.name,
        labels=tuple(prefix + p for p in labels),
        image=tuple(prefix + p for p in image),
        source=inp.source,
        level=level,
        shape=tuple(int(s) for s in inp.array.shape),
        label_offset=offset,
        spatial=inp.spatial,
        alpha=tuple(prefix + p for p in alpha),
    )


def _attributes(
    plan: _Plan, fit: FitResult | None, centers: NDArray, options: QuantizeOptions
) -> dict[str, Any]:
    """The store's ``daskquant`` attributes known before writing: version, layout, input
    and fit (the caller adds those that come from the options alone)."""
    inputs, many, layout = plan.inputs, plan.many, plan.layout
    first = inputs[0].array
    attrs: dict[str, Any] = {
        "version": __version__,
        "n_colors": len(centers),
        "layout": ("ome-" if options.ome else "") + ("collection" if many else "image"),
        "input": {
            "source": [i.source for i in inputs] if many else (inputs[0].source or "array"),
            "shape": None if many else list(first.shape),
            "dtype": str(first.dtype),
            "chunks": [int(c[0]) for c in first.chunks],
            "channels": layout.channels,
            "alpha": layout.alpha,
            "level": options.level,
        },
    }
    if fit is None:
        attrs["fit"] = None
        return attrs
    attrs["fit"] = {
        "max_iter": fit.max_iter,
        "epsilon": fit.epsilon,
        "attempts": fit.attempts,
        "init": fit.init,
        "seed": fit.seed,
        "method": fit.method,
        "compactness": fit.compactness,
        "n_iter": fit.n_iter,
        "converged": fit.converged,
        "n_pixels": fit.n_pixels,
        "n_distinct": fit.n_distinct,
        **(
            {"kept_exactly": True, "n_colors_requested": options.n_colors}
            if fit.kept_exactly
            else {}
        ),
        "colorspace": fit.colorspace,
    }
    if fit.n_pinned:  # the palette's first n_pinned colors are the pinned ones
        attrs["fit"]["n_pinned"] = fit.n_pinned
    return attrs
