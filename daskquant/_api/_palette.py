"""load_palette: a palette from any of the places people keep them.

The dispatcher over sources: texts and built-in names, palette files, PNGs and earlier
daskquant stores are found and read here (through the storage seam, :mod:`._io._storage`);
the texts are parsed by :mod:`daskquant._color._palettes`.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from daskquant._color._palettes import (
    array_palette,
    bad_file,
    checked_palette,
    image_colors,
    palette_name,
    parse_gpl,
    parse_json,
    parse_named,
    parse_text,
)
from daskquant._errors import InvalidParameterError
from daskquant._io._png import SIGNATURE, indexed_palette
from daskquant._io._storage import Location, location, storage_context
from daskquant._store._store import get_array, open_finished

__all__ = ["load_palette"]

_U8 = np.dtype(np.uint8)


def load_palette(
    source: str | os.PathLike[str] | ArrayLike,
    *,
    dtype: np.dtype | type | None = None,
    channels: int | None = None,
    storage_options: dict[str, Any] | None = None,
) -> NDArray:
    """A palette from any of the places people keep them.

    Parameters
    ----------
    source : str, path or array
        - hex colors separated by commas or spaces: ``"#1f77b4,#ff7f0e"`` (``#abc`` short
          forms too);
        - a built-in name: ``"gray:N"``, ``"cube:N"``, ``"web216"``, ``"tab10"``;
        - a text file (``.txt``, ``.hex``, ...): one color a line, as hex (Paint.NET's
          ``AARRGGBB`` too) or ``r g b`` numbers; lines starting with ``;``, ``//`` or
          ``# `` are comments;
        - a JSON file: a list of hex strings or of ``[r, g, b]`` lists, or an object with
          such a list under ``"palette"`` or ``"colors"`` (a ``daskquant quantize --json``
          summary works, its ``"dtype"`` is respected);
        - a GIMP palette (``.gpl``);
        - a PNG: the PLTE of an indexed PNG, or the distinct colors (in order of first
          appearance) of a PNG with at most 65535 colors, such as a swatch;
        - a daskquant output store (its ``palette``), to reuse one palette across jobs;
        - a (K, C) array, taken as it is.
    dtype : dtype, optional
        The dtype of the image the palette is for: values are scaled from the source's
        range (8-bit for colors and files; a store's or summary's own dtype) to this one,
        e.g. x 257 for uint16 and / 255 for floats, then rounded for integers. Arrays are
        only cast.
    channels : {1, 3}, optional
        3 repeats gray palettes into RGB; 1 takes gray palettes (R = G = B) as (K, 1) and
        refuses colored ones.
    storage_options : dict, optional
        Options of the filesystem of a URL ``source`` (a palette file or store in object
        storage or on a web server), as for :func:`daskquant.open_image`.

    Returns
    -------
    (K, C) ndarray
        uint8 RGB (K, 3) for 8-bit sources unless ``dtype``/``channels`` say otherwise.

    Raises
    ------
    InvalidParameterError
        The source cannot be read or is not a palette; the message names it.

    Examples
    --------
    >>> load_palette("#ff0000, #00f").tolist()
    [[255, 0, 0], [0, 0, 255]]
    >>> load_palette("gray:3", dtype=np.uint16).tolist()
    [[0, 0, 0], [32896, 32896, 32896], [65535, 65535, 65535]]
    """
    if isinstance(source, (str, os.PathLike)):
        with storage_context(storage_options):
            colors, native = _from_string(source)
    else:
        colors, native = array_palette(source, dtype)
    name = palette_name(source)
    return checked_palette(colors, native, name=name, dtype=dtype, channels=channels)


def _from_string(source: str | os.PathLike[str]) -> tuple[NDArray, np.dtype]:
    text = os.fspath(source)
    where = location(source)
    if where.exists():
        return _from_location(where)
    return parse_named(text, path_like=isinstance(source, os.PathLike)), _U8


def _from_location(where: Location) -> tuple[NDArray, np.dtype]:
    """A palette file (by its content: PNG, GIMP; else by suffix) or a store."""
    if where.is_dir():
        return _from_store(where)
    name = str(where)
    try:
        with where.open() as f:
            head = f.read(8)
        if head.startswith(SIGNATURE[:4]):
            return _from_png(where)
        text = where.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidParameterError(f"palette file {name!r} cannot be read: {exc}") from exc
    suffix = where.suffix.lower()
    if suffix == ".json":
        return parse_json(text, name)
    if suffix == ".gpl" or text.startswith("GIMP Palette"):
        return parse_gpl(text, name), _U8
    return parse_text(text, name), _U8


def _from_png(where: Location) -> tuple[NDArray, np.dtype]:
    """The PLTE of an indexed PNG, else the distinct colors of the decoded image."""
    data = where.read_bytes()
    paletted, plte = indexed_palette(data)
    if paletted:
        if plte is None or len(plte) % 3:
            raise bad_file(str(where), "indexed PNG without a valid PLTE chunk")
        return np.frombuffer(plte, np.uint8).reshape(-1, 3).copy(), _U8
    import cv2

    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise bad_file(str(where), "the PNG cannot be decoded")
    img = img.reshape(img.shape[0], img.shape[1], -1)
    img = img[..., 2::-1] if img.shape[2] >= 3 else img[..., :1]  # BGR(A) -> RGB; gray
    return image_colors(img, str(where))


def _from_store(where: Location) -> tuple[NDArray, np.dtype]:
    try:
        group = open_finished(where)
    except Exception as exc:  # StoreError and zarr's own: the folder is not a finished store
        raise InvalidParameterError(
            f"palette {str(where)!r}: a folder must be a finished daskquant store ({exc})"
        ) from exc
    palette = np.asarray(get_array(group, "palette")[...])
    return palette, palette.dtype
