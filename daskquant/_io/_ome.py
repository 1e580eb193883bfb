"""OME-Zarr (NGFF): reading images of versions 0.1 to 0.5 (and bioformats2raw layouts).

Writing (NGFF 0.5, with a label image) is :mod:`daskquant._store._ome`.
"""

from __future__ import annotations

from typing import Any, cast

import dask.array as da
import zarr

from daskquant._errors import InputError, InvalidParameterError
from daskquant._io._chunks import aligned_chunks
from daskquant._io._storage import Location

__all__ = ["NGFF_VERSION", "ome_image", "ome_spatial", "open_ome"]

NGFF_VERSION = "0.5"  # the version daskquant writes


def ome_image(node: Any, path: Location) -> tuple[zarr.Group, dict[str, Any]] | None:
    """The image group and its first multiscale if ``node`` is an OME-Zarr image.

    A bioformats2raw layout (series in ``0``, ``1``, ...) gives its first series.
    """
    if not isinstance(node, zarr.Group):
        return None
    attrs = cast(dict[str, Any], node.attrs.asdict())
    ome = attrs.get("ome", attrs)  # 0.5 nests everything under "ome"; 0.4 does not
    if "multiscales" in ome:
        multiscales = ome["multiscales"]
        if not multiscales or not multiscales[0].get("datasets"):
            raise InputError(f"{path}: OME-Zarr image with no datasets in its multiscales")
        return node, multiscales[0]
    if "bioformats2raw.layout" in ome and "0" in node:
        return ome_image(node["0"], path / "0")
    return None


def open_ome(
    group: zarr.Group,
    multiscale: dict[str, Any],
    path: Location,
    *,
    level: int = 0,
    chunks: tuple[int, int] | None = None,
) -> da.Array:
    """One level of an OME-Zarr image as (H, W) or (H, W, C); other axes must have size 1."""
    datasets = multiscale["datasets"]
    if not 0 <= level < len(datasets):
        raise InvalidParameterError(
            f"level={level}: {path} has {len(datasets)} resolution level(s), "
            f"0 to {len(datasets) - 1}"
        )
    try:
        z = group[datasets[level]["path"]]
        if not isinstance(z, zarr.Array):
            raise KeyError(datasets[level]["path"])
    except KeyError as exc:
        raise InputError(
            f"{path}: OME-Zarr level {datasets[level]['path']!r} is missing; the store is "
            "incomplete"
        ) from exc
    names = _axis_names(multiscale.get("axes"), z.ndim)
    if "y" not in names or "x" not in names:
        raise InputError(f"{path}: OME-Zarr image without y and x axes (axes {names})")
    y, x = names.index("y"), names.index("x")
    size = chunks or aligned_chunks((z.shape[y], z.shape[x]), (z.chunks[y], z.chunks[x]))
    spec = [1] * z.ndim
    spec[y], spec[x] = size
    if "c" in names:
        spec[names.index("c")] = z.shape[names.index("c")]
    arr = da.from_zarr(z, chunks=tuple(spec))
    index: list[Any] = []
    for name, n in zip(names, z.shape, strict=True):
        if name in ("y", "x", "c"):
            index.append(slice(None))
        elif n == 1:
            index.append(0)
        else:
            raise InputError(
                f"{path}: OME-Zarr image has {n} positions on axis {name!r}; daskquant "
                "quantizes 2-D images (y, x and channels), so extract one plane first"
            )
    arr = arr[tuple(index)]
    kept = [n for n in names if n in ("y", "x", "c")]
    arr = arr.transpose([kept.index(a) for a in ("y", "x", "c") if a in kept])
    if "c" in kept and arr.shape[-1] == 1:
        arr = arr[..., 0]
    return arr


def _axis_names(axes: Any, ndim: int) -> list[str]:
    if axes is None:  # versions 0.1 and 0.2: always t, c, z, y, x
        return ["t", "c", "z", "y", "x"][-ndim:]
    return [a if isinstance(a, str) else str(a["name"]) for a in axes]


def ome_spatial(path: Location, *, level: int = 0) -> dict[str, Any] | None:
    """The pixel size of one level of an OME-Zarr image, ``{"pixel_size": [y, x], "unit":
    <the y axis's unit>}``, from its ``coordinateTransformations`` (the level's scale times
    the multiscale's); None for a Zarr store that is not an OME-Zarr image, or one whose
    y and x have neither a unit nor a scale other than 1."""
    try:
        found = ome_image(zarr.open(path.zarr_store(read_only=True), mode="r"), path)
    except Exception:  # not readable here: open_image reports it
        return None
    if found is None:
        return None
    multiscale = found[1]
    datasets = multiscale["datasets"]
    if not 0 <= level < len(datasets):
        return None
    names = _axis_names(multiscale.get("axes"), len(_scale(datasets[level]) or [0] * 2))
    scale = _scale(datasets[level]) or [1.0] * len(names)
    overall = _scale(multiscale) or [1.0] * len(names)
    if "y" not in names or "x" not in names or len(scale) != len(names):
        return None
    y, x = names.index("y"), names.index("x")
    size = [float(scale[i]) * float(overall[i]) for i in (y, x)]
    axes = multiscale.get("axes") or []
    unit = axes[y].get("unit") if len(axes) > y and isinstance(axes[y], dict) else None
    if unit is None and size == [1.0, 1.0]:
        return None
    info: dict[str, Any] = {"pixel_size": size}
    if unit is not None:
        info["unit"] = str(unit)
    return info


def _scale(node: dict[str, Any]) -> list[float] | None:
    for t in node.get("coordinateTransformations") or []:
        if t.get("type") == "scale" and "scale" in t:
            return [float(v) for v in t["scale"]]
    return None
