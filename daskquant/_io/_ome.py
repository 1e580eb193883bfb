"""OME-Zarr (NGFF): reading images of versions 0.4 and 0.5, writing 0.5 with labels.

Written layout of one image (NGFF 0.5 on Zarr v3)::

    <image>/            attributes "ome": version 0.5, multiscales with axes c, y, x
      0, 1, 2, ...      the quantized image, (C, H, W), each level half the previous
      labels/           attributes "ome": {"labels": [<name>]}
        <name>/         "ome": multiscales with axes y, x, and "image-label" whose
          0, 1, ...     "colors" are the palette: {"label-value": i, "rgba": [r, g, b, 255]}

Levels are made by keeping every second row and column (nearest neighbour), so every
level of the image holds palette colors only and every level of the labels is exact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import dask.array as da
import numpy as np
import zarr
from numpy.typing import NDArray

from daskquant._errors import InputError, InvalidParameterError
from daskquant._io._chunks import aligned_chunks
from daskquant._store._store import get_array, write_large

__all__ = ["NGFF_VERSION", "ome_image", "open_ome", "write_ome_image"]

NGFF_VERSION = "0.5"
PYRAMID_MIN_SIDE = 256  # no level is made once the largest side is at most this


def ome_image(node: Any, path: Path) -> tuple[zarr.Group, dict[str, Any]] | None:
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
    path: Path,
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


def write_ome_image(
    group: zarr.Group,
    *,
    name: str,
    image: da.Array,
    labels: da.Array,
    colors: NDArray[np.uint8],
    chunks: tuple[int, int],
    resume: bool = False,
) -> tuple[dict[str, list[str]], int]:
    """Write a quantized image and its labels as an NGFF 0.5 image with a label image.

    Parameters
    ----------
    group : zarr.Group
        Where the image goes (its attributes get the "ome" metadata).
    name : str
        Name of the label image, ``labels/<name>``.
    image : (H, W, C) dask array
        The quantized image.
    labels : (H, W) dask array
        Palette index of every pixel.
    colors : (K, 3) uint8 ndarray
        The palette as 8-bit RGB, for the label image's colors.
    chunks : (int, int)
        Spatial chunk size of every level.
    resume : bool
        Keep the chunks already written (see :func:`daskquant._store._store.write_large`).

    Returns
    -------
    dict
        ``{"image": [level paths], "labels": [level paths]}`` relative to ``group``.
    int
        The number of chunks written.
    """
    if image.ndim != 3 or labels.ndim != 2:
        raise InvalidParameterError(
            "ome=True writes 2-D images (H, W[, C]); quantize a stack as a collection of "
            "files instead"
        )
    n_channels = image.shape[2]
    image_paths, label_paths = [], []
    cyx = image.transpose(2, 0, 1).rechunk((n_channels, *chunks))
    yx = labels.rechunk(chunks)
    level = written = 0
    while True:
        image_paths.append(str(level))
        label_paths.append(f"labels/{name}/{level}")
        written += write_large(
            group,
            {image_paths[-1]: cyx, label_paths[-1]: yx},
            dimension_names={image_paths[-1]: ("c", "y", "x"), label_paths[-1]: ("y", "x")},
            resume=resume,
        )
        if max(yx.shape) <= PYRAMID_MIN_SIDE:
            break
        # The next level from the one just written, not from the whole computation again.
        stored_image = da.from_zarr(get_array(group, image_paths[-1]))
        stored_labels = da.from_zarr(get_array(group, label_paths[-1]))
        cyx = stored_image[:, ::2, ::2].rechunk((n_channels, *chunks))
        yx = stored_labels[::2, ::2].rechunk(chunks)
        level += 1
    axes = [
        {"name": "c", "type": "channel"},
        {"name": "y", "type": "space"},
        {"name": "x", "type": "space"},
    ]
    group.attrs["ome"] = {
        "version": NGFF_VERSION,
        "multiscales": [_multiscale(name, axes, image_paths)],
    }
    group["labels"].attrs["ome"] = {"version": NGFF_VERSION, "labels": [name]}
    group[f"labels/{name}"].attrs["ome"] = {
        "version": NGFF_VERSION,
        "multiscales": [_multiscale(name, axes[1:], [str(i) for i in range(level + 1)])],
        "image-label": {
            "colors": [
                {"label-value": i, "rgba": [*(int(v) for v in rgb), 255]}
                for i, rgb in enumerate(colors)
            ],
            "source": {"image": "../../"},
        },
    }
    return {"image": image_paths, "labels": label_paths}, written


def _multiscale(name: str, axes: list[dict[str, str]], paths: list[str]) -> dict[str, Any]:
    lead = [1.0] * (len(axes) - 2)
    return {
        "name": name,
        "axes": axes,
        "datasets": [
            {
                "path": p,
                "coordinateTransformations": [{"type": "scale", "scale": [*lead, 2.0**i, 2.0**i]}],
            }
            for i, p in enumerate(paths)
        ],
    }
