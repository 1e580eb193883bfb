"""Whole-slide formats tifffile cannot read (MRXS, DICOM-WSI), read through OpenSlide.

OpenSlide (``openslide-python`` with ``openslide-bin``, the optional extra
``daskquant[slide]``) reads a slide region by region; the dask array built here holds
only the file's path, level and identity, and each worker process opens the slide once
(cached) the first time one of its tasks reads a region. Pixels come as OpenSlide gives
them: RGBA, with alpha 0 where the scanner took no picture. Without the extra, these
formats are refused with one line naming it (:func:`slide_refusal`). Slides that are
TIFF files (SVS, NDPI, SCN, BIF, QPTIFF) are read by tifffile (:mod:`._tiff`).
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import dask.array as da
import numpy as np
from numpy.typing import NDArray

from daskquant._errors import InputError, InvalidParameterError
from daskquant._io._chunks import default_chunks
from daskquant._io._storage import LocalLocation, Location

__all__ = ["SLIDE_EXTRA", "SLIDE_SUFFIXES", "open_slide", "slide_levels", "slide_refusal"]

SLIDE_SUFFIXES = {".mrxs", ".dcm"}  # 3DHistech MIRAX; DICOM whole-slide images
SLIDE_EXTRA = "daskquant[slide]"

Identity = tuple[int, int, int]


def slide_refusal(where: Location | str) -> str:
    """The one-line refusal of a slide OpenSlide would read, when it is not installed."""
    return (
        f"{where}: MRXS and DICOM whole-slide images are read through OpenSlide; install "
        f"the optional extra: pip install '{SLIDE_EXTRA}'"
    )


def open_slide(
    where: Location, *, level: int = 0, chunks: tuple[int, int] | None = None
) -> da.Array:
    """A lazy (H, W, 4) uint8 RGBA dask array of one level of a slide OpenSlide reads.

    Raises
    ------
    InputError
        OpenSlide is not installed, the slide is not a local file, or OpenSlide cannot
        read it.
    InvalidParameterError
        ``level`` does not exist in the slide.
    """
    path, identity = _local(where)
    slide = _slide(path, identity)
    if not 0 <= level < slide.level_count:
        raise InvalidParameterError(
            f"level={level}: {where} has {slide.level_count} resolution level(s), "
            f"0 to {slide.level_count - 1}"
        )
    width, height = slide.level_dimensions[level]
    shape = (int(height), int(width), 4)
    size = chunks if chunks is not None else default_chunks(shape)[:2]
    region = _SlideRegion(path, level, shape, identity)
    return da.from_array(region, chunks=(*size, 4), asarray=False, fancy=False)


def slide_levels(where: Location) -> int:
    """How many resolution levels OpenSlide finds in a slide."""
    return int(_slide(*_local(where)).level_count)


def _local(where: Location) -> tuple[str, Identity]:
    try:
        import openslide  # noqa: F401
    except ImportError as exc:
        raise InputError(slide_refusal(where)) from exc
    if not isinstance(where, LocalLocation):
        raise InputError(f"{where}: OpenSlide reads local files only; copy the slide here")
    v = where.version()
    return str(where.local()), (v.mtime_ns, v.size, v.ctime_ns)


_LOCK = threading.Lock()


@functools.lru_cache(maxsize=8)
def _cached(path: str, identity: Identity) -> Any:
    import openslide

    try:
        return openslide.OpenSlide(path)
    except Exception as exc:  # OpenSlideUnsupportedFormatError, OpenSlideError
        raise InputError(f"{path}: OpenSlide cannot read this slide ({exc})") from exc


def _slide(path: str, identity: Identity) -> Any:
    with _LOCK:
        return _cached(path, identity)


class _SlideRegion:
    """Array-like view of one level of a slide; picklable (holds only the path)."""

    def __init__(self, path: str, level: int, shape: tuple[int, int, int], identity: Identity):
        self.path = path
        self.level = level
        self.shape = shape
        self.dtype = np.dtype(np.uint8)
        self.ndim = 3
        self.identity = identity

    def __getitem__(self, key: tuple[slice, ...]) -> NDArray:
        rows, cols = (s.indices(n) for s, n in zip(key[:2], self.shape[:2], strict=True))
        slide = _slide(self.path, self.identity)
        scale = slide.level_downsamples[self.level]
        # read_region takes the corner in level-0 pixels and the size in this level's.
        corner = (round(cols[0] * scale), round(rows[0] * scale))
        image = slide.read_region(corner, self.level, (cols[1] - cols[0], rows[1] - rows[0]))
        out = np.asarray(image, np.uint8)
        return out[(slice(None), slice(None), *key[2:])]

    def __dask_tokenize__(self) -> tuple[Any, ...]:
        return ("daskquant-slide", self.path, self.level, self.identity)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_SlideRegion, (self.path, self.level, self.shape, self.identity))
