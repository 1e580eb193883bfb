"""xarray and rioxarray ``DataArray`` inputs: the pixels as an (H, W[, C]) array, and where
they are as the ``spatial`` record a GeoTIFF file gets (see :mod:`daskquant._io._georef`).

=================  ==================================================================
dims               ``(y, x)``, ``(y, x, band)`` or ``(band, y, x)``; the spatial dims are
                   rioxarray's ``rio.y_dim`` / ``rio.x_dim`` (``y``/``x``,
                   ``latitude``/``longitude``, ...), else the names below, else the order
                   (a 3-D array's band axis is the last when it has at most 4 entries,
                   else the first)
data               NumPy- or Dask-backed; a Dask array keeps its chunks (nothing is read)
``crs``            ``rio.crs``: ``"EPSG:<code>"`` where it has one, else its WKT
``transform``      ``rio.transform()`` (from the ``spatial_ref`` coordinate or the x/y
                   coordinates), left out when it is the identity (no coordinates)
``nodata``         ``rio.nodata`` (``NaN`` for ``open_rasterio(..., masked=True)``)
``bands``          the ``long_name`` attribute rioxarray sets from the band descriptions
=================  ==================================================================

rioxarray (``daskquant[geo]``) is needed for the georeferencing only: without it a
DataArray is read by its dim names, with no ``spatial`` record. xarray is never imported
here unless the caller already has (a DataArray cannot exist without it).
"""

from __future__ import annotations

import sys
from typing import Any

from daskquant._errors import InputError

__all__ = ["dataarray_image", "is_dataarray"]

_Y_NAMES = ("y", "lat", "latitude", "row", "rows")
_X_NAMES = ("x", "lon", "longitude", "col", "cols", "column", "columns")
_MAX_BANDS = 4  # the most channels an image has (RGBA)


def is_dataarray(obj: Any) -> bool:
    """Whether ``obj`` is an ``xarray.DataArray`` (without importing xarray)."""
    xr = sys.modules.get("xarray")
    return xr is not None and isinstance(obj, xr.DataArray)


def dataarray_image(arr: Any) -> tuple[Any, dict[str, Any] | None]:
    """The pixels of a DataArray as an (H, W) or (H, W, C) NumPy or Dask array, and its
    ``spatial`` record (None where it has no CRS, transform, nodata or band names).

    Raises
    ------
    InputError
        The DataArray does not have 2 or 3 dims, or its spatial dims cannot be told.
    """
    if arr.ndim not in (2, 3):
        raise InputError(
            f"a DataArray image has dims (y, x), (y, x, band) or (band, y, x); got {arr.dims}"
        )
    y, x = _spatial_dims(arr)
    band = [d for d in arr.dims if d not in (y, x)]
    pixels = arr.transpose(y, x, *band).data
    return pixels, _spatial(arr, bands=pixels.shape[2] if band else 1)


def _spatial_dims(arr: Any) -> tuple[Any, Any]:
    rio = _rio(arr)
    if rio is not None:
        try:
            return rio.y_dim, rio.x_dim
        except Exception:  # rioxarray's MissingSpatialDimensionError: not named as it knows
            pass
    names = {str(d).lower(): d for d in arr.dims}
    y = next((names[n] for n in _Y_NAMES if n in names), None)
    x = next((names[n] for n in _X_NAMES if n in names), None)
    if y is not None and x is not None:
        return y, x
    if y is not None or x is not None:
        raise InputError(
            f"a DataArray with dims {arr.dims}: name both spatial dims (y and x), or neither"
        )
    dims = list(arr.dims)
    if arr.ndim == 3:  # by order: (y, x, band) when the last axis can be bands
        del dims[-1 if arr.shape[-1] <= _MAX_BANDS else 0]
    return dims[0], dims[1]


def _rio(arr: Any) -> Any:
    """The rioxarray accessor, or None where rioxarray is not installed."""
    try:
        import rioxarray  # noqa: F401  (registers the .rio accessor)
    except ImportError:
        return None
    return arr.rio


def _spatial(arr: Any, *, bands: int) -> dict[str, Any] | None:
    rio = _rio(arr)
    if rio is None:
        return None
    info: dict[str, Any] = {}
    crs = rio.crs
    if crs is not None:
        epsg = crs.to_epsg()
        info["crs"] = f"EPSG:{epsg}" if epsg is not None else crs.to_wkt()
    try:
        transform = rio.transform()
    except Exception:  # rioxarray cannot place dims it does not know: no transform
        transform = None
    if transform is not None and not transform.is_identity:
        info["transform"] = [float(v) for v in tuple(transform)[:6]]
    if rio.nodata is not None:
        info["nodata"] = float(rio.nodata)
    names = arr.attrs.get("long_name")
    if isinstance(names, str):  # rioxarray's one description shared by every band
        names = [names] * bands
    if isinstance(names, (tuple, list)) and len(names) == bands and any(names):
        info["bands"] = [str(n or "") for n in names]
    return info or None
