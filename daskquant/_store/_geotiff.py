"""Export of a georeferenced store: a paletted GeoTIFF in Cloud-Optimized layout.

The labels are written strip by strip into a tiled GeoTIFF with the palette as its color
table and the input's CRS and transform (see :mod:`daskquant._io._georef`); GDAL then
builds the overviews (nearest neighbour: every overview holds palette indices only) and
copies the whole into COG layout (overviews and tiles in the order a reader fetches
them). Needs rasterio (``pip install 'daskquant[geo]'``), whose wheels include GDAL.

The TIFF resolution tags of a slide's pixel size are :func:`tiff_resolution`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray

from daskquant._errors import InvalidParameterError
from daskquant._io._storage import Location

__all__ = ["OVERVIEW_MIN_SIDE", "is_georeferenced", "tiff_resolution", "write_geotiff"]

OVERVIEW_MIN_SIDE = 256  # overviews halve until the longer side fits in this
_BLOCK = 512


def is_georeferenced(spatial: dict[str, Any] | None) -> bool:
    """Whether an image record's ``spatial`` places the image on the Earth."""
    return bool(spatial) and ("crs" in spatial or "transform" in spatial)  # type: ignore[operator]


def tiff_resolution(spatial: dict[str, Any] | None) -> dict[str, Any]:
    """tifffile's ``resolution``/``resolutionunit`` for a pixel size in micrometers (pixels
    per centimeter, as slide scanners write them); empty without one."""
    if not spatial or spatial.get("unit") != "micrometer" or "pixel_size" not in spatial:
        return {}
    y, x = (float(v) for v in spatial["pixel_size"])
    return {"resolution": (1e4 / x, 1e4 / y), "resolutionunit": "CENTIMETER"}


def write_geotiff(
    where: Location,
    labels: Any,
    colors: NDArray[np.uint8],
    *,
    spatial: dict[str, Any],
    nodata: int | None = None,
) -> None:
    """Write ``labels`` ((H, W) palette indices, read in strips) as a COG with a color table,
    the CRS and the transform of ``spatial``; ``nodata``, the index of transparent pixels,
    as the band's nodata (transparent in the color table)."""
    try:
        import rasterio
        import rasterio.shutil
        from rasterio.enums import Resampling
    except ImportError:
        raise InvalidParameterError(
            f"{where}: exporting a georeferenced store as GeoTIFF needs rasterio; install "
            "it with pip install 'daskquant[geo]'"
        ) from None
    if len(colors) > 256:
        raise InvalidParameterError(
            f"{where}: a GeoTIFF color table holds at most 256 colors and the store has "
            f"{len(colors)}"
        )
    h, w = (int(s) for s in labels.shape)
    staging = os.fspath(where.local()) + ".staging.tif"
    try:
        with rasterio.open(staging, "w", **_profile(h, w, spatial), nodata=nodata) as dst:
            for y, strip in _strips(labels):
                dst.write(strip[None], window=((y, y + strip.shape[0]), (0, w)))
            table = {i: (*(int(v) for v in c), 255) for i, c in enumerate(colors)}
            if nodata is not None:
                table[nodata] = (0, 0, 0, 0)
            dst.write_colormap(1, table)
            dst.build_overviews(_overview_factors(h, w), Resampling.nearest)
        rasterio.shutil.copy(
            staging,
            os.fspath(where.local()),
            driver="COG",
            COMPRESS="DEFLATE",
            BLOCKSIZE=_BLOCK,
            OVERVIEWS="FORCE_USE_EXISTING",
        )
    finally:
        if os.path.exists(staging):
            os.unlink(staging)


def _profile(h: int, w: int, spatial: dict[str, Any]) -> dict[str, Any]:
    from affine import Affine

    profile: dict[str, Any] = {
        "driver": "GTiff",
        "height": h,
        "width": w,
        "count": 1,
        "dtype": "uint8",
        "photometric": "palette",
        "compress": "deflate",
    }
    if h > _BLOCK or w > _BLOCK:  # GDAL wants tiles of a multiple of 16, not over the image
        profile.update(tiled=True, blockxsize=_BLOCK, blockysize=_BLOCK)
    if "crs" in spatial:
        profile["crs"] = spatial["crs"]
    if "transform" in spatial:
        profile["transform"] = Affine(*spatial["transform"])
    return profile


def _strips(labels: Any) -> Iterator[tuple[int, NDArray[np.uint8]]]:
    """Strips of whole Zarr chunks (at least one block of rows), read one at a time."""
    rows = _BLOCK * -(-max(1, int(labels.chunks[0])) // _BLOCK)
    for y in range(0, int(labels.shape[0]), rows):
        yield y, np.asarray(labels[y : y + rows]).astype(np.uint8, copy=False)


def _overview_factors(h: int, w: int) -> list[int]:
    factors = []
    factor = 2
    while max(h, w) / (factor // 2) > OVERVIEW_MIN_SIDE:
        factors.append(factor)
        factor *= 2
    return factors
