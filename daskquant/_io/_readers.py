"""Opening images lazily: NumPy/Dask arrays, Zarr and OME-Zarr, TIFF, ordinary image files.

=========================  ============================================================
source                     how it is read
=========================  ============================================================
NumPy / Dask array         as is (NumPy is chunked with the default chunks)
Zarr array (v2 or v3)      :func:`dask.array.from_zarr`, chunks whole multiples of Zarr's
OME-Zarr image (0.4, 0.5)  the level asked for (0 = full resolution), axes -> (y, x, c)
(Big)TIFF, tiled or not    tifffile's Zarr store, opened inside each task (:mod:`._tiff`);
                           samples read by what the tags say (:mod:`._photometric`); any
                           file whose content is a TIFF (NDPI, SCN, BIF, QPTIFF, SVS,
                           OME-TIFF), its main image (not a thumbnail, label or macro)
MRXS, DICOM-WSI slides     OpenSlide (``daskquant[slide]``), region by region (:mod:`._slides`)
PNG, JPEG, BMP, WebP, ...  the whole file in memory, by the decoder that reads the format
                           correctly: OpenCV or Pillow (:mod:`._decoders`)
=========================  ============================================================

Every image comes back as (H, W) for one channel, (H, W, C) otherwise, or (N, H, W, C) for
a stack: gray, gray + alpha, RGB or RGBA as a viewer shows them (CMYK, CIELAB, palettes
and the like converted), or the bands of a multispectral TIFF or array, in the file's dtype
(n-bit samples in 8, 16 or 32 bits). :func:`image_alpha` says which channel the file's own
metadata makes alpha. Failures are :class:`InputError` naming the file.
"""

from __future__ import annotations

import os
from typing import Any

import dask.array as da
import numpy as np
from numpy.typing import NDArray

from daskquant._errors import InputError, InvalidParameterError
from daskquant._io._chunks import (
    Chunks,
    aligned_chunks,
    default_chunks,
    full_chunks,
    spatial_chunks,
)
from daskquant._io._decoders import DECODED_SUFFIXES, decode_file
from daskquant._io._layout import Alpha
from daskquant._io._slides import SLIDE_SUFFIXES, open_slide, slide_levels
from daskquant._io._storage import Location, location, storage_context
from daskquant._io._tiff import TIFF_SUFFIXES, is_tiff, open_tiff, tiff_alpha, tiff_levels

__all__ = [
    "IMAGE_SUFFIXES",
    "check_source",
    "decoded_in_memory",
    "image_alpha",
    "level_count",
    "open_image",
]

IMAGE_SUFFIXES = DECODED_SUFFIXES | TIFF_SUFFIXES | SLIDE_SUFFIXES


def open_image(
    source: Any,
    *,
    chunks: Chunks = None,
    level: int = 0,
    storage_options: dict[str, Any] | None = None,
) -> da.Array:
    """A lazy dask array of an image: an array, a Zarr/OME-Zarr path, or an image file.

    Parameters
    ----------
    source : ndarray, dask array, zarr.Array, str or PathLike
        See the module docstring for the formats read.
    chunks : int or (int, int), optional
        Spatial chunk size in pixels. By default, tens of megapixels per chunk for large
        images (at least ~8 chunks for smaller ones), in whole tiles or Zarr chunks (see
        :mod:`daskquant._io._chunks`).
    level : int
        Resolution level of a pyramidal TIFF or an OME-Zarr image; 0 is the full resolution.
    storage_options : dict, optional
        Options of the filesystem of a URL ``source`` (``s3://``, ``gs://``, ``az://``,
        ``http(s)://``, ``memory://``, ...), as fsspec takes them; see the "Storage and URLs" page.

    Returns
    -------
    (H, W), (H, W, C) or (N, H, W, C) dask array
        Nothing is read yet, except for files decoded whole (PNG, JPEG, BMP, WebP, ...).

    Raises
    ------
    InputError
        Missing, unreadable, truncated or corrupt file, or an unknown format.
    InvalidParameterError
        ``level`` or ``chunks`` out of range.

    Examples
    --------
    >>> import numpy as np, daskquant as dq
    >>> dq.open_image(np.zeros((4, 6, 3), np.uint8)).shape
    (4, 6, 3)
    """
    if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or level < 0:
        raise InvalidParameterError(f"level must be an integer >= 0, got {level!r}")
    spatial = spatial_chunks(chunks)
    if isinstance(source, (da.Array, np.ndarray)):
        _no_levels(source, level)
        return _from_array(source, spatial)
    if _is_zarr_array(source):
        _no_levels(source, level)
        return _from_zarr(source, spatial)
    if not isinstance(source, (str, os.PathLike)):
        raise InputError(
            f"cannot read an image from a {type(source).__name__}; pass an array or the path "
            "of an image file or Zarr store"
        )
    with storage_context(storage_options):
        return _open_location(location(source), spatial, level)


def _from_array(source: NDArray | da.Array, spatial: tuple[int, int] | None) -> da.Array:
    if isinstance(source, da.Array):
        return source if spatial is None else source.rechunk(full_chunks(spatial, source.ndim))
    shape = _with_channels(source.shape)
    spec = full_chunks(spatial, source.ndim) if spatial else default_chunks(shape)[: source.ndim]
    return da.from_array(source, chunks=spec)


def check_source(source: str | os.PathLike[str] | Location) -> None:
    """Refuse, without reading any pixel, a source that cannot be an image: missing, a
    folder that is not a Zarr store, an empty file, or an unknown format.

    Raises
    ------
    InputError
        Naming the file and what is wrong with it.
    """
    where = source if isinstance(source, Location) else location(source)
    if not where.exists():
        raise InputError(f"{where}: no such file or directory")
    if where.is_dir():
        if not where.is_zarr():
            raise InputError(
                f"{where}: is a folder but not a Zarr store; to quantize the images in it "
                "with one shared palette, pass the folder to dq.quantize or dq.open_collection"
            )
        return
    if where.version().size == 0:
        raise InputError(f"{where}: the file is empty (0 bytes); copy it again")
    if where.suffix.lower() not in IMAGE_SUFFIXES and not is_tiff(where):
        raise InputError(
            f"{where}: unknown image format {where.suffix!r}; daskquant reads Zarr and "
            f"OME-Zarr stores and {', '.join(sorted(IMAGE_SUFFIXES))} files"
        )


def _open_location(where: Location, spatial: tuple[int, int] | None, level: int) -> da.Array:
    """A file or store, by what it is: a Zarr store, a TIFF file, or a file decoded whole."""
    check_source(where)
    if where.is_dir():
        return _open_zarr(where, spatial, level)
    if where.suffix.lower() in SLIDE_SUFFIXES:
        return open_slide(where, level=level, chunks=spatial)
    if is_tiff(where):
        return open_tiff(where, level=level, chunks=spatial)
    _no_levels(where, level)
    return _open_decoded(where, spatial)


def image_alpha(source: Any, *, level: int = 0) -> Alpha:
    """Which channel of ``open_image(source)`` the file's own metadata makes alpha.

    A TIFF: the sample ExtraSamples marks as alpha (read last), or None: a 4th band without
    that mark (RGB + near-infrared) is data. Other files: "auto", the channel-count rule of
    :func:`daskquant._io._layout.as_image`, since their readers give gray + alpha or RGBA
    exactly where the file has alpha (PNG, WebP, BMP; slides are RGBA); arrays and Zarr
    stores, which carry no such metadata, follow that rule too.
    """
    if isinstance(source, (str, os.PathLike, Location)):
        where = location(source)
        if where.suffix.lower() not in SLIDE_SUFFIXES and where.is_file() and is_tiff(where):
            return tiff_alpha(where, level=level)
    return "auto"


def level_count(source: Any) -> int:
    """Resolution levels :func:`open_image` can read from ``source`` (1 if not a pyramid)."""
    if not isinstance(source, (str, os.PathLike)):
        return 1
    where = location(source)
    if where.is_dir() and where.is_zarr():
        from daskquant._io._ome import ome_image

        found = ome_image(_open_node(where), where)
        return 1 if found is None else len(found[1]["datasets"])
    if where.suffix.lower() in SLIDE_SUFFIXES:
        return slide_levels(where)
    if is_tiff(where):
        return tiff_levels(where)
    return 1


def decoded_in_memory(source: Any) -> bool:
    """True where :func:`open_image` holds the whole image in memory (arrays, files decoded
    whole)."""
    if isinstance(source, np.ndarray):
        return True
    if isinstance(source, (str, os.PathLike)):
        return location(source).suffix.lower() in DECODED_SUFFIXES
    return False


def _no_levels(source: Any, level: int) -> None:
    if level != 0:
        what = source if isinstance(source, Location) else f"a {type(source).__name__}"
        raise InvalidParameterError(
            f"level={level}: {what} has one resolution level; levels exist only in "
            "pyramidal TIFF files and OME-Zarr images"
        )


def _with_channels(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (*shape, 1) if len(shape) == 2 else shape


def _is_zarr_array(source: Any) -> bool:
    import zarr

    return isinstance(source, zarr.Array)


def _open_node(path: Location) -> Any:
    import zarr

    try:
        return zarr.open(path.zarr_store(read_only=True), mode="r")
    except Exception as exc:
        raise InputError(f"{path}: not a readable Zarr store ({exc})") from exc


def _open_zarr(path: Location, spatial: tuple[int, int] | None, level: int) -> da.Array:
    import zarr

    from daskquant._io._ome import ome_image, open_ome

    node = _open_node(path)
    if isinstance(node, zarr.Array):
        _no_levels(path, level)
        return _from_zarr(node, spatial)
    found = ome_image(node, path)
    if found is not None:
        group, multiscale = found
        return open_ome(group, multiscale, path, level=level, chunks=spatial)
    arrays = sorted(name for name, a in node.arrays() if a.ndim >= 2)
    if len(arrays) == 1:
        _no_levels(path, level)
        return _from_zarr(node[arrays[0]], spatial)
    listed = ", ".join(arrays) if arrays else "none"
    raise InputError(
        f"{path}: is a Zarr group that is not an OME-Zarr image, with image arrays: {listed}; "
        "give the path of the array to read, e.g. "
        f"{path / (arrays[0] if arrays else 'ARRAY')}"
    )


def _from_zarr(z: Any, spatial: tuple[int, int] | None) -> da.Array:
    """A Zarr array's image axes read in chunks that are whole Zarr chunks (or as asked)."""
    if z.ndim < 2:
        raise InputError(f"{z.store_path}: a {z.ndim}-D Zarr array is not an image")
    yx = (0, 1) if z.ndim <= 3 else (z.ndim - 3, z.ndim - 2)
    size = spatial or aligned_chunks(
        (z.shape[yx[0]], z.shape[yx[1]]), (z.chunks[yx[0]], z.chunks[yx[1]])
    )
    chunks = list(z.chunks)
    chunks[yx[0]], chunks[yx[1]] = size
    if z.ndim == 3:
        chunks[2] = z.shape[2]
    return da.from_zarr(z, chunks=tuple(chunks))


def _open_decoded(path: Location, spatial: tuple[int, int] | None) -> da.Array:
    return _from_array(decode_file(path), spatial)
