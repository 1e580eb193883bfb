"""Fixed palettes: reading them from every source, and the lookup tables that apply them.

Sources (:func:`load_palette`): hex colors, text/JSON/GIMP files, indexed PNGs, earlier
daskquant stores and summaries, built-in named palettes. Every 8-bit source gives uint8 RGB;
``dtype=`` scales a palette to the image it will be applied to.

Lookup (:func:`distinct_labels`, :func:`table_piece`): 8-bit pixels are labelled per color,
not per pixel. Measured on a 4-megapixel block of a photo mosaic (720,560 distinct colors,
2 busy cores): nearest-center distances per pixel 0.17 / 0.23 / 0.47 s for K = 16 / 64 / 256;
labelling the block's distinct colors and looking them up 0.08 / 0.11 / 0.22 s; a full
2^24-entry table costs 0.9 / 1.9 / 5.9 s to build and then 0.02 s a block. So blocks label
their own distinct colors, and only images large enough to repay it (see
``_labels.GLOBAL_TABLE_PIXELS``) build the full table, once, in parallel pieces.
"""

from __future__ import annotations

import json
import os
import re
import struct
import threading
from pathlib import Path
from typing import Any

import numba
import numpy as np
from numpy.typing import ArrayLike, NDArray

from daskquant._color._spaces import ColorSpace, to_space
from daskquant._engine import _kernels as K
from daskquant._errors import InvalidParameterError

__all__ = [
    "BUILTIN",
    "distinct_labels",
    "load_palette",
    "nearest_colors",
    "table_piece",
]

# The most colors (K) of any palette, fitted or given. Labels are uint16 above 256 colors;
# the limit issue 8 sets, 65535, leaves the label value 65535 unused.
MAX_COLORS = 65535
# matplotlib's "tab10", the usual categorical colors.
_TAB10 = "#1f77b4,#ff7f0e,#2ca02c,#d62728,#9467bd,#8c564b,#e377c2,#7f7f7f,#bcbd22,#17becf"
BUILTIN = {
    "gray:N": "N gray levels from black to white, N in 2..256 (also grey:N)",
    "cube:N": "N levels per channel, N^3 colors, N in 2..40",
    "web216": "the 216 web-safe colors (cube:6)",
    "tab10": "matplotlib's 10 categorical colors",
}
_HEX = re.compile(r"#?([0-9a-fA-F]{6})|#([0-9a-fA-F]{3})")
_FORMS = (
    "give hex colors ('#1f77b4,#ff7f0e'), a built-in name ("
    + ", ".join(BUILTIN)
    + "), or the path of a .txt/.hex, .json, .gpl or .png file or of a daskquant store"
)


def load_palette(
    source: str | os.PathLike[str] | ArrayLike,
    *,
    dtype: np.dtype | type | None = None,
    channels: int | None = None,
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
        colors, native = _from_string(source)
    else:
        colors = np.asarray(source)
        if colors.ndim == 1:
            colors = colors[:, None]
        if colors.dtype.kind not in "uif":
            raise InvalidParameterError(f"palette: expected numbers, got dtype {colors.dtype}")
        native = colors.dtype if dtype is None else np.dtype(dtype)  # arrays: cast only
        if np.dtype(native).kind in "ui" and colors.dtype.kind == "f":
            colors = _rounded(colors, np.dtype(native))
    name = _name(source)
    if colors.ndim != 2 or colors.shape[1] not in (1, 3, 4) or colors.shape[0] == 0:
        raise InvalidParameterError(
            f"palette {name}: expected (K, 1) or (K, 3) colors, got shape {colors.shape}"
        )
    if colors.shape[0] > MAX_COLORS:
        raise InvalidParameterError(
            f"palette {name} has {colors.shape[0]} colors; at most {MAX_COLORS} are supported"
        )
    if colors.dtype.kind == "f" and not np.isfinite(colors).all():
        raise InvalidParameterError(f"palette {name} has NaN or inf values")
    colors = colors[:, :3] if colors.shape[1] == 4 else colors  # drop alpha
    if channels is not None:
        colors = _channels(colors, channels, name)
    if dtype is not None:
        colors = _rescale(colors, native, np.dtype(dtype), name)
    return colors


def _name(source: Any) -> str:
    return repr(os.fspath(source)) if isinstance(source, (str, os.PathLike)) else "(array)"


def _channels(colors: NDArray, channels: int, name: str) -> NDArray:
    if channels == 3:
        return np.repeat(colors, 3, axis=1) if colors.shape[1] == 1 else colors
    if channels == 1:
        if colors.shape[1] == 1:
            return colors
        if not (colors == colors[:, :1]).all():
            raise InvalidParameterError(
                f"palette {name} has colored entries; a gray image needs a gray palette "
                "(for example 'gray:16')"
            )
        return colors[:, :1].copy()
    raise InvalidParameterError(f"channels must be 1 or 3, got {channels!r}")


def _full_scale(dtype: np.dtype) -> float:
    if dtype.kind == "f":
        return 1.0
    if dtype.kind == "u":
        return float(np.iinfo(dtype).max)
    raise InvalidParameterError(f"palette values of dtype {dtype} cannot be scaled")


def _rescale(colors: NDArray, native: np.dtype, target: np.dtype, name: str) -> NDArray:
    if native == target:
        return colors.astype(target)
    if native.kind == "i" or target.kind == "i":  # signed values: no full-scale mapping
        return colors.astype(target) if target.kind == "f" else _rounded(colors, target)
    values = colors.astype(np.float64) * (_full_scale(target) / _full_scale(native))
    return values.astype(target) if target.kind == "f" else _rounded(values, target)


def _rounded(values: NDArray, dtype: np.dtype) -> NDArray:
    info = np.iinfo(dtype)
    return np.clip(np.rint(values), info.min, info.max).astype(dtype)


# --- strings and files --------------------------------------------------------------------


def _from_string(source: str | os.PathLike[str]) -> tuple[NDArray, np.dtype]:
    text = os.fspath(source)
    path = Path(text)
    if path.exists():
        return _from_path(path)
    builtin = _builtin(text.strip().lower())
    if builtin is not None:
        return builtin, np.dtype(np.uint8)
    tokens = [t for t in re.split(r"[,;\s]+", text.strip()) if t]
    if tokens and all(_HEX.fullmatch(t) for t in tokens):
        return np.array([_hex(t) for t in tokens], np.uint8), np.dtype(np.uint8)
    if isinstance(source, os.PathLike) or "/" in text or "\\" in text or path.suffix:
        raise InvalidParameterError(f"palette {text!r}: no such file; {_FORMS}")
    raise InvalidParameterError(f"palette {text!r} is not a palette: {_FORMS}")


def _hex(token: str) -> list[int]:
    m = _HEX.fullmatch(token)
    assert m is not None
    digits = m.group(1) or "".join(c * 2 for c in m.group(2))
    return [int(digits[i : i + 2], 16) for i in (0, 2, 4)]


def _builtin(name: str) -> NDArray[np.uint8] | None:
    if name == "web216":
        name = "cube:6"
    if name == "tab10":
        return np.array([_hex(t) for t in _TAB10.split(",")], np.uint8)
    m = re.fullmatch(r"(gray|grey|cube):(\d+)", name)
    if m is None:
        return None
    kind, n = m.group(1), int(m.group(2))
    high = 40 if kind == "cube" else 256
    if not 2 <= n <= high:
        raise InvalidParameterError(f"palette {name!r}: N must be between 2 and {high}")
    levels = np.rint(np.linspace(0, 255, n)).astype(np.uint8)
    if kind == "cube":
        r, g, b = np.meshgrid(levels, levels, levels, indexing="ij")
        return np.stack([r.ravel(), g.ravel(), b.ravel()], axis=1)
    return np.repeat(levels[:, None], 3, axis=1)


def _from_path(path: Path) -> tuple[NDArray, np.dtype]:
    if path.is_dir():
        return _from_store(path)
    try:
        with path.open("rb") as f:
            head = f.read(8)
        if head.startswith(b"\x89PNG"):
            return _from_png(path)
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidParameterError(f"palette file {str(path)!r} cannot be read: {exc}") from exc
    suffix = path.suffix.lower()
    if suffix == ".json":
        return _from_json(text, path)
    if suffix == ".gpl" or text.startswith("GIMP Palette"):
        return _from_gpl(text, path), np.dtype(np.uint8)
    return _from_text(text, path), np.dtype(np.uint8)


def _bad(path: Path, what: str) -> InvalidParameterError:
    return InvalidParameterError(f"palette file {str(path)!r}: {what}")


def _numbers(values: list[str], path: Path, line: int) -> list[int]:
    try:
        if len(values) != 3:
            raise ValueError
        nums = [int(v) for v in values]
    except ValueError:
        raise _bad(path, f"line {line}: expected three integers 0-255") from None
    if any(not 0 <= v <= 255 for v in nums):
        raise _bad(path, f"line {line}: values must be between 0 and 255")
    return nums


def _from_text(text: str, path: Path) -> NDArray[np.uint8]:
    colors = []
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith((";", "//")):
            continue
        if line.startswith("#") and not re.match(r"#[0-9a-fA-F]{3}\b|#[0-9a-fA-F]{6}\b", line):
            continue  # a comment
        token = line.split()[0].rstrip(",")
        if re.fullmatch(r"#?[0-9a-fA-F]{8}", token):  # Paint.NET: AARRGGBB
            colors.append(_hex(token.lstrip("#")[2:]))
        elif _HEX.fullmatch(token):
            colors.append(_hex(token))
        else:
            colors.append(_numbers(re.split(r"[,;\s]+", line)[:3], path, no))
    if not colors:
        raise _bad(path, "no colors found; write one color a line, as #rrggbb or 'r g b'")
    return np.array(colors, np.uint8)


def _from_gpl(text: str, path: Path) -> NDArray[np.uint8]:
    lines = text.splitlines()
    if not lines or not lines[0].startswith("GIMP Palette"):
        raise _bad(path, "a GIMP palette starts with the line 'GIMP Palette'")
    colors = []
    for no, raw in enumerate(lines[1:], 2):
        line = raw.strip()
        if not line or line.startswith("#") or re.match(r"[A-Za-z]+:", line):
            continue  # comments, "Name:", "Columns:", "Channels:"
        colors.append(_numbers(line.split()[:3], path, no))
    if not colors:
        raise _bad(path, "the GIMP palette has no colors")
    return np.array(colors, np.uint8)


def _from_json(text: str, path: Path) -> tuple[NDArray, np.dtype]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad(path, f"not valid JSON ({exc})") from exc
    native = np.dtype(np.uint8)
    if isinstance(data, dict):
        if "dtype" in data:
            native = np.dtype(str(data["dtype"]))
        data = data.get("palette", data.get("colors"))
    if not isinstance(data, list) or not data:
        raise _bad(path, "expected a list of colors, or an object with a 'palette' list")
    if all(isinstance(c, str) and _HEX.fullmatch(c.strip()) for c in data):
        return np.array([_hex(c.strip()) for c in data], np.uint8), np.dtype(np.uint8)
    try:
        colors = np.array(data, np.float64)
    except (TypeError, ValueError):
        raise _bad(path, "colors must be hex strings or lists of numbers") from None
    if colors.ndim != 2:
        raise _bad(path, "colors must all have the same number of values")
    return (colors.astype(native) if native.kind == "f" else _rounded(colors, native)), native


def _from_png(path: Path) -> tuple[NDArray, np.dtype]:
    data = path.read_bytes()
    pos, color_type, plte = 8, -1, None
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            color_type = body[9]
        elif kind == b"PLTE":
            plte = body
        elif kind in (b"IDAT", b"IEND"):
            break
        pos += 12 + length
    if color_type == 3:
        if plte is None or len(plte) % 3:
            raise _bad(path, "indexed PNG without a valid PLTE chunk")
        return np.frombuffer(plte, np.uint8).reshape(-1, 3).copy(), np.dtype(np.uint8)
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise _bad(path, "the PNG cannot be decoded")
    img = img.reshape(img.shape[0], img.shape[1], -1)
    if img.shape[2] >= 3:
        img = img[..., 2::-1]  # BGR(A) -> RGB
    else:
        img = img[..., :1]
    flat = img.reshape(-1, img.shape[2])
    colors, first = np.unique(flat, axis=0, return_index=True)
    if colors.shape[0] > MAX_COLORS:
        raise _bad(
            path,
            f"not an indexed PNG, and it has {colors.shape[0]} distinct colors (more than "
            f"{MAX_COLORS}); save the palette as an indexed PNG or a swatch image",
        )
    return np.ascontiguousarray(colors[np.argsort(first)]), img.dtype


def _from_store(path: Path) -> tuple[NDArray, np.dtype]:
    from daskquant._store._store import get_array, open_finished

    try:
        group = open_finished(path)
    except Exception as exc:  # StoreError and zarr's own: the folder is not a finished store
        raise InvalidParameterError(
            f"palette {str(path)!r}: a folder must be a finished daskquant store ({exc})"
        ) from exc
    palette = np.asarray(get_array(group, "palette")[...])
    return palette, palette.dtype


# --- lookup tables for 8-bit pixels -------------------------------------------------------


@numba.njit(nogil=True, cache=True)
def _first_seen(codes, slot, uniq, inverse):  # type: ignore[no-untyped-def]
    # slot[code] is the index of code among the distinct codes seen so far, or -1.
    m = 0
    for i in range(codes.shape[0]):
        c = codes[i]
        s = slot[c]
        if s < 0:
            s = m
            slot[c] = m
            uniq[m] = c
            m += 1
        inverse[i] = s
    return m


_slots = threading.local()


def _slot_table(bins: int) -> NDArray[np.int32]:
    # One table per thread and size, reused: only the touched entries are reset after use.
    tables = getattr(_slots, "tables", None)
    if tables is None:
        tables = _slots.tables = {}
    if bins not in tables:
        tables[bins] = np.full(bins, -1, np.int32)
    table: NDArray[np.int32] = tables[bins]
    return table


def nearest_colors(
    colors: NDArray[np.uint8],
    centers: NDArray[np.float64],
    *,
    space: ColorSpace,
    dtype: np.dtype,
) -> NDArray:
    """Nearest center of each 8-bit color (M, C), in RGB values or in a perceptual ``space``
    (``centers`` then in that space)."""
    points = colors if space == "rgb" else to_space(colors, space)
    return K.assign_labels(points, centers, dtype)


def distinct_labels(
    pixels: NDArray[np.uint8],
    centers: NDArray[np.float64],
    *,
    space: ColorSpace,
    dtype: np.dtype,
) -> NDArray:
    """Labels of (N, C<=3) 8-bit pixels through a table of their distinct colors.

    The same labels as a nearest-center search per pixel (exact distances, ties to the lowest
    index), at the cost of one search per distinct color.
    """
    codes = K.color_codes(np.ascontiguousarray(pixels))
    bins = 1 << (8 * pixels.shape[1])
    slot = _slot_table(bins)
    uniq = np.empty(min(codes.shape[0], bins), np.uint32)
    inverse = np.empty(codes.shape[0], np.int32)
    m = _first_seen(codes, slot, uniq, inverse)
    slot[uniq[:m]] = -1
    labels = nearest_colors(
        K.decode_colors(uniq[:m], pixels.shape[1]), centers, space=space, dtype=dtype
    )
    return labels[inverse]


def table_piece(
    start: int,
    stop: int,
    centers: NDArray[np.float64],
    *,
    channels: int,
    space: ColorSpace,
    dtype: np.dtype,
) -> NDArray:
    """Entries ``start:stop`` of the full lookup table: the label of every packed color code."""
    codes = np.arange(start, stop, dtype=np.uint32)
    return nearest_colors(K.decode_colors(codes, channels), centers, space=space, dtype=dtype)
