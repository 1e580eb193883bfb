"""Where an image's pixels are: GeoTIFF georeferencing and the physical pixel size of slides.

:func:`spatial_info` reads, from the header alone, what must survive quantization for the
result to be useful, as plain JSON values (the store keeps them in its image records):

============  =====================================================================
key           what
============  =====================================================================
``crs``       the coordinate reference system: ``"EPSG:<code>"`` where it has one,
              else its WKT (from rasterio; the GeoKeys alone give only EPSG codes)
``transform`` the affine pixel-to-CRS transform ``[a, b, c, d, e, f]`` (rasterio's
              order: ``x = a * col + b * row + c``, ``y = d * col + e * row + f``),
              of the pixel's corner (a PixelIsPoint file is shifted by half a pixel,
              as GDAL does)
``nodata``    the GDAL nodata value, a float
``bands``     the band descriptions, where the file names any
``pixel_size`` ``[y, x]`` size of a pixel, in ``unit``
``unit``      ``"micrometer"`` (slides, OME), an NGFF/UDUNITS unit name
============  =====================================================================

GeoTIFF tags are read by rasterio where it is installed (``daskquant[geo]``, the
reference reader), else from tifffile's decoding of the GeoTIFF tags
(ModelPixelScale/ModelTiepoint/ModelTransformation, GeoKeyDirectory, GDAL_NODATA,
GDAL_METADATA), with the same result for files with an EPSG code. Pixel sizes come from
an Aperio (SVS) description's ``MPP``, an OME-TIFF's ``PhysicalSizeX/Y`` (and units), a
Hamamatsu NDPI's resolution tags, or any TIFF's resolution tags in centimeters; an
OME-Zarr input's are read by :func:`daskquant._io._ome.ome_spatial`. A level of a pyramid
gets the full resolution's values scaled by its size.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

from daskquant._io._ome import ome_spatial
from daskquant._io._storage import LocalLocation, Location, location
from daskquant._io._tiff import is_tiff, main_series, tiff_file

__all__ = ["GEO_READERS", "scaled", "spatial_info", "tiff_spatial"]

log = logging.getLogger("daskquant")

_UNITS_TO_MICRONS = {  # OME's UnitsLength symbols
    "µm": 1.0,
    "um": 1.0,
    "nm": 1e-3,
    "mm": 1e3,
    "cm": 1e4,
    "m": 1e6,
}
_RESOLUTION_CM = 3  # TIFF ResolutionUnit CENTIMETER
_USER_DEFINED = 32767  # a GeoKey value that is not an EPSG code


def spatial_info(source: Any, *, level: int = 0) -> dict[str, Any] | None:
    """The georeferencing and pixel size of an image file or OME-Zarr store (see the module
    docstring), or None for arrays and files that have neither."""
    import os

    if not isinstance(source, (str, os.PathLike, Location)):
        return None
    where = source if isinstance(source, Location) else location(source)
    if where.is_dir():
        return ome_spatial(where, level=level)
    if not is_tiff(where):
        return None
    # rasterio reads local files by path; a URL's tags come from tifffile
    path = str(where.local()) if isinstance(where, LocalLocation) else None
    with tiff_file(where) as tf:
        return tiff_spatial(tf, level=level, path=path)


def tiff_spatial(
    tf: Any, *, level: int = 0, path: str | None = None, reader: str | None = None
) -> dict[str, Any] | None:
    """:func:`spatial_info` of an open ``tifffile.TiffFile``; ``reader`` picks the GeoTIFF
    reader (``"rasterio"`` or ``"tifffile"``; by default rasterio where installed)."""
    series = tf.series[main_series(tf)]
    page = series.pages[0] if series.pages else tf.pages[0]
    info: dict[str, Any] = {}
    if getattr(tf, "is_geotiff", False):
        info.update(GEO_READERS[reader or _default_reader(path)](tf, page, path))
    size = _pixel_size(tf, page)
    if size is not None:
        info["pixel_size"], info["unit"] = list(size), "micrometer"
    if not info:
        return None
    if level:
        full, this = series.levels[0], series.levels[level]
        y, x = full.axes.index("Y"), full.axes.index("X")
        info = scaled(info, full.shape[y] / this.shape[y], full.shape[x] / this.shape[x])
    return info


def scaled(info: dict[str, Any], fy: float, fx: float) -> dict[str, Any]:
    """``info`` for pixels ``fy`` times taller and ``fx`` times wider (a pyramid level)."""
    out = dict(info)
    if "transform" in info:
        a, b, c, d, e, f = info["transform"]
        out["transform"] = [a * fx, b * fy, c, d * fx, e * fy, f]
    if "pixel_size" in info:
        out["pixel_size"] = [info["pixel_size"][0] * fy, info["pixel_size"][1] * fx]
    return out


def _default_reader(path: str | None) -> str:
    if path is None:
        return "tifffile"
    try:
        import rasterio  # noqa: F401
    except ImportError:
        return "tifffile"
    return "rasterio"


def _geo_rasterio(tf: Any, page: Any, path: str | None) -> dict[str, Any]:
    import rasterio

    with rasterio.open(path) as ds:
        info: dict[str, Any] = {}
        if ds.crs is not None:
            epsg = ds.crs.to_epsg()
            info["crs"] = f"EPSG:{epsg}" if epsg is not None else ds.crs.to_wkt()
        if not ds.transform.is_identity:
            info["transform"] = [float(v) for v in tuple(ds.transform)[:6]]
        if ds.nodata is not None:
            info["nodata"] = float(ds.nodata)
        if any(ds.descriptions):
            info["bands"] = [d or "" for d in ds.descriptions]
        return info


def _geo_tifffile(tf: Any, page: Any, path: str | None) -> dict[str, Any]:
    tags = page.geotiff_tags or {}
    info: dict[str, Any] = {}
    code = tags.get("ProjectedCSTypeGeoKey", tags.get("GeographicTypeGeoKey"))
    if code is not None and int(code) != _USER_DEFINED:
        info["crs"] = f"EPSG:{int(code)}"
    elif tags:
        log.warning("%s: a CRS without an EPSG code needs rasterio (daskquant[geo])", path)
    transform = _transform(tags)
    if transform is not None:
        info["transform"] = transform
    nodata = page.tags.get(42113)  # GDAL_NODATA
    if nodata is not None and str(nodata.value).strip():
        info["nodata"] = float(str(nodata.value).strip("\x00 "))
    bands = _band_descriptions(page)
    if bands:
        info["bands"] = bands
    return info


def _transform(tags: dict[str, Any]) -> list[float] | None:
    """The affine transform of the pixel corners, from the GeoTIFF model tags."""
    if "ModelTransformation" in tags:
        m = [float(v) for v in tags["ModelTransformation"]]
        a, b, c, d, e, f = m[0], m[1], m[3], m[4], m[5], m[7]
    elif "ModelPixelScale" in tags and "ModelTiepoint" in tags:
        sx, sy = (float(v) for v in tags["ModelPixelScale"][:2])
        i, j, _, x, y, _ = (float(v) for v in tags["ModelTiepoint"][:6])
        a, b, c, d, e, f = sx, 0.0, x - i * sx, 0.0, -sy, y + j * sy
    else:
        return None
    if int(tags.get("GTRasterTypeGeoKey", 1)) == 2:  # PixelIsPoint: values at centers
        c, f = c - (a + b) / 2, f - (d + e) / 2
    return [a, b, c, d, e, f]


def _band_descriptions(page: Any) -> list[str]:
    """Band descriptions of a GDAL_METADATA tag, as rasterio gives them."""
    tag = page.tags.get(42112)
    if tag is None:
        return []
    try:
        root = ET.fromstring(str(tag.value))
    except ET.ParseError:
        return []
    found = {
        int(item.get("sample", -1)): item.text or ""
        for item in root.iter("Item")
        if item.get("role") == "description"
    }
    if not found:
        return []
    n = max(found) + 1
    return [found.get(i, "") for i in range(n)]


# GeoTIFF readers by name: rasterio (the reference) and tifffile's tags (the fallback).
GEO_READERS: dict[str, Callable[[Any, Any, str | None], dict[str, Any]]] = {
    "rasterio": _geo_rasterio,
    "tifffile": _geo_tifffile,
}


def _pixel_size(tf: Any, page: Any) -> tuple[float, float] | None:
    """(y, x) size of a full-resolution pixel in micrometers, where the file says."""
    for found in (_svs_mpp(tf, page), _ome_size(tf), _resolution_size(tf, page)):
        if found is not None:
            return found
    return None


def _svs_mpp(tf: Any, page: Any) -> tuple[float, float] | None:
    match = re.search(r"\bMPP\s*=\s*([0-9.eE+-]+)", str(page.description or ""))
    if not (getattr(tf, "is_svs", False) or "Aperio" in str(page.description)) or not match:
        return None
    mpp = float(match.group(1))
    return (mpp, mpp) if mpp > 0 else None


def _ome_size(tf: Any) -> tuple[float, float] | None:
    xml = getattr(tf, "ome_metadata", None)
    if not xml:
        return None
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    pixels = next((e for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "Pixels"), None)
    if pixels is None or pixels.get("PhysicalSizeX") is None:
        return None
    sizes = []
    for axis in ("Y", "X"):
        value = pixels.get(f"PhysicalSize{axis}", pixels.get("PhysicalSizeX"))
        factor = _UNITS_TO_MICRONS.get(pixels.get(f"PhysicalSize{axis}Unit", "µm"))
        if value is None or factor is None:
            return None
        sizes.append(float(value) * factor)
    return sizes[0], sizes[1]


def _resolution_size(tf: Any, page: Any) -> tuple[float, float] | None:
    """From XResolution/YResolution: in an NDPI file, or any file in pixels per cm (a
    resolution in inches is left alone: it is 72 or 300 dpi in most files, not a scale)."""
    unit = page.tags.get(296)  # ResolutionUnit
    if not (getattr(tf, "is_ndpi", False) or (unit is not None and unit.value == _RESOLUTION_CM)):
        return None
    sizes = []
    for code in (283, 282):  # YResolution, XResolution
        tag = page.tags.get(code)
        if tag is None:
            return None
        num, den = tag.value
        if num <= 0:
            return None
        sizes.append(1e4 * den / num)  # micrometers per pixel
    return sizes[0], sizes[1]
