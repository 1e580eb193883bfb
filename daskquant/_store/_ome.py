"""Writing a quantized image as OME-Zarr (NGFF 0.5 on Zarr v3), with its labels.

Written layout of one image::

    <image>/            attributes "ome": version 0.5, multiscales with axes c, y, x
      0, 1, 2, ...      the quantized image, (C, H, W), each level half the previous
      labels/           attributes "ome": {"labels": [<name>]}
        <name>/         "ome": multiscales with axes y, x, and "image-label" whose
          0, 1, ...     "colors" are the palette: {"label-value": i + 1, "rgba": [r, g, b, 255]}

The label image holds palette index + 1: NGFF label images and napari's Labels layer
treat value 0 as background (drawn transparent), so 0 is kept for "no data" (the masked
pixels of ``nodata=`` / ``mask=``, whatever their reserved label) and every palette color,
the first too, is visible. The store's image record says so
(``label_offset`` = 1, see :func:`daskquant._store._store.palette_indices`); K = 256
colors make the label image 16-bit.

Levels are made by keeping every second row and column (nearest neighbour), so every
level of the image holds palette colors only and every level of the labels is exact.
Reading OME-Zarr images is :mod:`daskquant._io._ome`.
"""

from __future__ import annotations

from typing import Any

import dask.array as da
import numpy as np
import zarr
from numpy.typing import NDArray

from daskquant._errors import InvalidParameterError
from daskquant._io._ome import NGFF_VERSION
from daskquant._store._store import get_array, write_large

__all__ = ["LABEL_OFFSET", "PYRAMID_MIN_SIDE", "write_ome_image"]

LABEL_OFFSET = 1  # the label image holds palette index + 1; 0 is "no data"
PYRAMID_MIN_SIDE = 256  # no level is made once the largest side is at most this

_AXES = [
    {"name": "c", "type": "channel"},
    {"name": "y", "type": "space"},
    {"name": "x", "type": "space"},
]


def write_ome_image(
    group: zarr.Group,
    *,
    name: str,
    image: da.Array,
    labels: da.Array,
    colors: NDArray[np.uint8],
    chunks: tuple[int, int],
    resume: bool = False,
    pixel_size: tuple[float, float, str] | None = None,
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
        Palette index of every pixel (written as index + 1, see the module docstring).
    colors : (K, 3) uint8 ndarray
        The palette as 8-bit RGB, for the label image's colors.
    chunks : (int, int)
        Spatial chunk size of every level.
    resume : bool
        Keep the chunks already written (see :func:`daskquant._store._store.write_large`).
    pixel_size : (float, float, str), optional
        The (y, x) size of a full-resolution pixel and its unit (``"micrometer"``): the
        scale of level k is that times 2^k, and the y and x axes carry the unit. By
        default a pixel is 1 with no unit.

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
    image_paths, label_paths, written = _write_levels(
        group, name, image, _label_values(labels, len(colors)), chunks=chunks, resume=resume
    )
    _write_metadata(group, name, image_paths, colors, pixel_size)
    return {"image": image_paths, "labels": label_paths}, written


def _label_values(labels: da.Array, n_colors: int) -> da.Array:
    """The label image's values: palette index + 1, in a dtype that holds K + 1 values,
    and 0 ("no data") for the reserved label of masked pixels, the only label value of
    K or more (255 or 65535: not left to wrap around to 0 by chance)."""
    dtype = np.dtype(np.uint8 if n_colors + LABEL_OFFSET <= 256 else np.uint16)
    shifted = labels.astype(dtype) + np.asarray(LABEL_OFFSET, dtype)
    return da.where(labels >= n_colors, dtype.type(0), shifted)


def _write_levels(
    group: zarr.Group,
    name: str,
    image: da.Array,
    labels: da.Array,
    *,
    chunks: tuple[int, int],
    resume: bool,
) -> tuple[list[str], list[str], int]:
    """Write the pyramid level by level; the paths of the image's and the labels' levels,
    and the number of chunks written."""
    n_channels = image.shape[2]
    image_paths: list[str] = []
    label_paths: list[str] = []
    cyx = image.transpose(2, 0, 1).rechunk((n_channels, *chunks))
    yx = labels.rechunk(chunks)
    written = 0
    while True:
        level = len(image_paths)
        image_paths.append(str(level))
        label_paths.append(f"labels/{name}/{level}")
        written += write_large(
            group,
            {image_paths[-1]: cyx, label_paths[-1]: yx},
            dimension_names={image_paths[-1]: ("c", "y", "x"), label_paths[-1]: ("y", "x")},
            resume=resume,
        )
        if max(yx.shape) <= PYRAMID_MIN_SIDE:
            return image_paths, label_paths, written
        # The next level from the one just written, not from the whole computation again.
        stored_image = da.from_zarr(get_array(group, image_paths[-1]))
        stored_labels = da.from_zarr(get_array(group, label_paths[-1]))
        cyx = stored_image[:, ::2, ::2].rechunk((n_channels, *chunks))
        yx = stored_labels[::2, ::2].rechunk(chunks)


def _write_metadata(
    group: zarr.Group,
    name: str,
    image_paths: list[str],
    colors: NDArray[np.uint8],
    pixel_size: tuple[float, float, str] | None,
) -> None:
    """The "ome" attributes of the image, its labels group and its label image."""
    size = (1.0, 1.0) if pixel_size is None else pixel_size[:2]
    axes = _AXES
    if pixel_size is not None:
        axes = [_AXES[0], *({**a, "unit": pixel_size[2]} for a in _AXES[1:])]
    group.attrs["ome"] = {
        "version": NGFF_VERSION,
        "multiscales": [_multiscale(name, axes, image_paths, size)],
    }
    group["labels"].attrs["ome"] = {"version": NGFF_VERSION, "labels": [name]}
    group[f"labels/{name}"].attrs["ome"] = {
        "version": NGFF_VERSION,
        "multiscales": [
            _multiscale(name, axes[1:], [str(i) for i in range(len(image_paths))], size)
        ],
        "image-label": {
            "colors": [
                {"label-value": i + LABEL_OFFSET, "rgba": [*(int(v) for v in rgb), 255]}
                for i, rgb in enumerate(colors)
            ],
            "source": {"image": "../../"},
        },
    }


def _multiscale(
    name: str, axes: list[dict[str, str]], paths: list[str], size: tuple[float, float]
) -> dict[str, Any]:
    lead = [1.0] * (len(axes) - 2)
    sy, sx = (float(v) for v in size)
    return {
        "name": name,
        "axes": axes,
        "datasets": [
            {
                "path": p,
                "coordinateTransformations": [
                    {"type": "scale", "scale": [*lead, sy * 2.0**i, sx * 2.0**i]}
                ],
            }
            for i, p in enumerate(paths)
        ],
    }
