"""Export a finished store as a paletted image file: indexed PNG or tiled TIFF with a colormap.

Both are written strip by strip from the Zarr labels, so the whole image is never in memory,
and both hold the labels themselves with the palette inside the file: a viewer shows the
colors, and a program reads back the exact palette indices.

Masked pixels (the reserved label ``labels.nodata`` of ``nodata=`` / ``mask=``) and fully
transparent pixels of an input with alpha stay transparent (see
:mod:`daskquant._store._transparency`): the PNG gets one more palette entry, index K,
transparent in its tRNS chunk; a TIFF puts them at the reserved index (255 or 65535) and
marks it as the file's nodata (the GDAL_NODATA tag, which GDAL and rasterio read as the
dataset mask).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from daskquant._color._display import RgbBands, rgb8_palette
from daskquant._errors import InvalidParameterError, StoreError
from daskquant._io._png import write_indexed
from daskquant._io._storage import (
    LocalLocation,
    Location,
    StoreLike,
    location,
    storage_context,
)
from daskquant._store._geotiff import is_georeferenced, tiff_resolution, write_geotiff
from daskquant._store._pyramid import write_pyramid_tiff
from daskquant._store._store import (
    PaletteIndices,
    get_array,
    open_finished,
    palette_indices,
    pick_record,
)
from daskquant._store._transparency import (
    ClearedLabels,
    Transparency,
    clear_index,
    transparency,
)

__all__ = ["export"]

PNG_MAX_COLORS = 256

Labels = PaletteIndices | ClearedLabels  # what the writers read in strips


def export(
    store: StoreLike,
    path: StoreLike,
    *,
    name: str | None = None,
    overwrite: bool = False,
    storage_options: dict[str, Any] | None = None,
    rgb_bands: RgbBands = None,
) -> Path | str:
    """Write the labels of a finished store as a paletted image file.

    Parameters
    ----------
    store : path
        A complete daskquant store (any layout: single image, collection, OME-Zarr).
    path : path
        ``.png``: indexed PNG, the palette in its PLTE chunk (K <= 256), 1, 2 or 4 bits
        per pixel when K <= 2, 4 or 16, else 8.
        ``.tif`` / ``.tiff``: tiled, deflate-compressed TIFF pyramid with photometric
        palette and a colormap (8-bit indices for K <= 256, else 16-bit): levels halved by
        nearest neighbour until the longer side fits in 1024 pixels, in the main IFD chain
        (as OpenSlide reads them); BigTIFF when large; with the pixel size of a slide input
        as resolution tags (pixels per centimeter). A store made
        from a georeferenced input (a GeoTIFF) gives a paletted GeoTIFF in Cloud-Optimized
        layout instead: tiled, with overviews, the palette as color table, the input's CRS
        and transform (needs rasterio, ``daskquant[geo]``; K <= 256).
        Masked pixels (``labels.nodata`` of ``nodata=`` / ``mask=``) and pixels of alpha 0
        are transparent: in a PNG the extra palette index K with alpha 0 in tRNS, in a
        TIFF or GeoTIFF the reserved index (255, or 65535) marked as the file's nodata.
    name : str, optional
        Which image of a collection (default: the only one; required for several).
    overwrite : bool
        Replace an existing file at ``path``.
    storage_options : dict, optional
        Options of the filesystem of a URL ``store`` or ``path`` (credentials, endpoint),
        as fsspec takes them; see the "Storage and URLs" page.
    rgb_bands : three ints, "R,G,B" or None
        Which bands of a multi-band palette the file's colors show as red, green and blue
        (0-based). None: the first three; one or two bands are shown as gray (the first).
        The labels written are the same whatever is shown.

    Returns
    -------
    Path or str
        ``path`` (a Path, or the URL), written completely (through a temporary file and a
        rename, or one upload).

    Raises
    ------
    StoreError
        The store is missing, incomplete or not a daskquant store; ``path`` exists.
    InvalidParameterError
        Unknown suffix, too many colors for PNG, a stack of images, or an unknown ``name``.

    Examples
    --------
    >>> dq.export("scan.zarr", "scan.png")  # doctest: +SKIP
    PosixPath('scan.png')
    """
    with storage_context(storage_options):
        target = location(path)
        return _export(location(store), target, name, overwrite=overwrite, rgb_bands=rgb_bands)


def _export(
    store: Location,
    target: Location,
    name: str | None,
    *,
    overwrite: bool,
    rgb_bands: RgbBands = None,
) -> Path | str:
    path = str(target)
    suffix = target.suffix.lower()
    if suffix not in _WRITERS:
        raise InvalidParameterError(
            f"{path}: export writes .png (indexed) or .tif/.tiff (colormap) files; "
            f"{suffix or 'no suffix'} is neither"
        )
    stored, colors, spatial, seen = _labels_and_colors(store, name, rgb_bands)
    if suffix == ".png" and len(colors) + (seen is not None) > PNG_MAX_COLORS:
        raise InvalidParameterError(
            f"{path}: a PNG palette holds at most {PNG_MAX_COLORS} colors and {store} has "
            f"{len(colors)}{' and transparent pixels' if seen is not None else ''}; export "
            "to .tif instead"
        )
    if target.exists() and not overwrite:
        raise StoreError(f"{path} already exists; pass overwrite=True to replace it")
    clear = None if seen is None else clear_index(suffix, len(colors))
    labels: Labels = stored
    if seen is not None and clear is not None:
        labels = ClearedLabels(stored, seen, clear)
    writer = _writer(suffix, spatial)
    _write_whole(target, lambda tmp: writer(tmp, labels, colors, nodata=clear))
    return Path(target) if isinstance(target, LocalLocation) else path


def _labels_and_colors(
    store: Location, name: str | None, rgb_bands: RgbBands = None
) -> tuple[PaletteIndices, NDArray[np.uint8], dict[str, Any] | None, Transparency | None]:
    """The (H, W) labels of the image ``name`` in a finished store, its palette as
    (K, 3) 8-bit RGB, where its pixels are (the record's ``spatial``), and which of its
    pixels are transparent (None: none)."""
    group = open_finished(store)
    record = pick_record(group, name, store=store)
    labels = palette_indices(group, record)  # an OME label image holds index + 1
    if labels.ndim != 2:
        raise InvalidParameterError(
            f"{store}: the labels are a stack {labels.shape}; export writes 2-D images"
        )
    palette = np.asarray(get_array(group, "palette")[...])
    seen = transparency(group, record)
    colors = rgb8_palette(palette, palette.dtype, rgb_bands=rgb_bands)
    return labels, colors, record.spatial, seen


def _writer(suffix: str, spatial: dict[str, Any] | None) -> _Writer:
    """The writer of a suffix, for an image placed by ``spatial``: a georeferenced TIFF is
    a GeoTIFF (COG layout), a slide's TIFF carries its pixel size."""
    if suffix in (".tif", ".tiff") and spatial and is_georeferenced(spatial):
        return partial(write_geotiff, spatial=spatial)
    if suffix in (".tif", ".tiff") and spatial:
        return partial(write_pyramid_tiff, resolution=tiff_resolution(spatial))
    return _WRITERS[suffix]


def _write_whole(target: Location, write: Callable[[Location], None]) -> None:
    """Run ``write`` on a temporary local file, then put it in place (a rename next to a
    local ``target``, one upload to a URL): a reader sees no file or the whole one, never
    a part."""
    try:
        with target.writing() as tmp:
            write(tmp)
    except OSError as exc:
        raise StoreError(f"{target}: cannot write the file ({exc.strerror or exc})") from exc


def _strips(labels: Labels, rows: int) -> Iterator[NDArray]:
    """Full-width strips of ``rows`` rows, read one at a time."""
    for y in range(0, labels.shape[0], rows):
        yield np.asarray(labels[y : y + rows])


def _strip_rows(labels: Labels) -> int:
    return max(1, int(labels.chunks[0]))


def _write_png(
    where: Location, labels: Labels, colors: NDArray[np.uint8], *, nodata: int | None
) -> None:
    """An indexed PNG; ``nodata`` (transparent pixels) is the extra index K, transparent in
    the tRNS chunk, so the bit depth follows K + 1."""
    alpha = None
    if nodata is not None:
        colors = np.vstack([colors, np.zeros((1, 3), np.uint8)])
        alpha = np.r_[np.full(nodata, 255, np.uint8), np.uint8(0)]
    with where.create() as f:
        shape = (int(labels.shape[0]), int(labels.shape[1]))
        write_indexed(f, shape, colors, _strips(labels, _strip_rows(labels)), alpha=alpha)


class _Writer(Protocol):
    def __call__(
        self,
        where: Location,
        labels: Labels,
        colors: NDArray[np.uint8],
        *,
        nodata: int | None,
    ) -> None: ...


# Writers by (lower-case) suffix.
_WRITERS: dict[str, _Writer] = {
    ".png": _write_png,
    ".tif": write_pyramid_tiff,
    ".tiff": write_pyramid_tiff,
}
