"""Fixed palettes: the built-in ones, and the parsers of the texts people write them in.

Pure functions of strings and arrays: hex colors, ``gray:N`` and the other built-ins,
text (``.txt``/``.hex``), GIMP (``.gpl``) and JSON palettes, the distinct colors of a
swatch image, and the checks and scaling every palette gets. Every 8-bit source gives
uint8 RGB; ``dtype=`` scales a palette to the image it will be applied to. Finding and
reading the sources (files, PNGs, earlier stores) is :func:`daskquant.load_palette`
(:mod:`daskquant._api._palette`); the lookup tables that apply a palette to 8-bit pixels
are :mod:`daskquant._engine._lookup`.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import PurePath
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from daskquant._errors import InvalidParameterError

__all__ = [
    "BUILTIN",
    "MAX_COLORS",
    "array_palette",
    "bad_file",
    "checked_palette",
    "image_colors",
    "palette_name",
    "parse_gpl",
    "parse_json",
    "parse_named",
    "parse_text",
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


def array_palette(source: ArrayLike, dtype: np.dtype | type | None) -> tuple[NDArray, np.dtype]:
    """A (K, C) array given as a palette, and the dtype its values are in: arrays are only
    cast to ``dtype`` (floats rounded for an integer ``dtype``), never scaled."""
    colors = np.asarray(source)
    if colors.ndim == 1:
        colors = colors[:, None]
    if colors.dtype.kind not in "uif":
        raise InvalidParameterError(f"palette: expected numbers, got dtype {colors.dtype}")
    native = colors.dtype if dtype is None else np.dtype(dtype)
    if np.dtype(native).kind in "ui" and colors.dtype.kind == "f":
        colors = _rounded(colors, np.dtype(native))
    return colors, np.dtype(native)


def checked_palette(
    colors: NDArray,
    native: np.dtype,
    *,
    name: str,
    dtype: np.dtype | type | None = None,
    channels: int | None = None,
) -> NDArray:
    """A palette's colors (K, C) checked, alpha dropped, and then fitted to an image's
    channels and ``dtype`` (see :func:`daskquant.load_palette`); ``native`` is the dtype
    the values are in. An image of other than 1 or 3 bands (multispectral) takes a palette
    of exactly its bands."""
    bands = channels is not None and channels not in (1, 3)
    widths = (channels,) if bands else (1, 3, 4)
    if colors.ndim != 2 or colors.shape[1] not in widths or colors.shape[0] == 0:
        wanted = f"(K, {channels})" if bands else "(K, 1) or (K, 3)"
        raise InvalidParameterError(
            f"palette {name}: expected {wanted} colors, got shape {colors.shape}"
        )
    if colors.shape[0] > MAX_COLORS:
        raise InvalidParameterError(
            f"palette {name} has {colors.shape[0]} colors; at most {MAX_COLORS} are supported"
        )
    if colors.dtype.kind == "f" and not np.isfinite(colors).all():
        raise InvalidParameterError(f"palette {name} has NaN or inf values")
    if not bands:  # multispectral palettes have one column per band, as given
        colors = colors[:, :3] if colors.shape[1] == 4 else colors  # drop alpha
        if channels is not None:
            colors = _channels(colors, channels, name)
    if dtype is not None:
        colors = _rescale(colors, native, np.dtype(dtype), name)
    return colors


def palette_name(source: Any) -> str:
    """How messages name a palette source: the path or text quoted, or "(array)"."""
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


def parse_named(text: str, *, path_like: bool) -> NDArray[np.uint8]:
    """A built-in palette's or hex colors' uint8 RGB; ``text`` is no existing file.

    ``path_like`` says the source was given as a path object: then it can only have been
    a file, and the message says there is none.
    """
    builtin = _builtin(text.strip().lower())
    if builtin is not None:
        return builtin
    tokens = [t for t in re.split(r"[,;\s]+", text.strip()) if t]
    if tokens and all(_HEX.fullmatch(t) for t in tokens):
        return np.array([_hex(t) for t in tokens], np.uint8)
    if path_like or "/" in text or "\\" in text or PurePath(text).suffix:
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


def bad_file(name: str, what: str) -> InvalidParameterError:
    """The error for a palette file (named by its path) that is not a palette."""
    return InvalidParameterError(f"palette file {name!r}: {what}")


def _numbers(values: list[str], name: str, line: int) -> list[int]:
    try:
        if len(values) != 3:
            raise ValueError
        nums = [int(v) for v in values]
    except ValueError:
        raise bad_file(name, f"line {line}: expected three integers 0-255") from None
    if any(not 0 <= v <= 255 for v in nums):
        raise bad_file(name, f"line {line}: values must be between 0 and 255")
    return nums


def parse_text(text: str, name: str) -> NDArray[np.uint8]:
    """A text palette: one color a line, as hex (``AARRGGBB`` too) or ``r g b``."""
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
            colors.append(_numbers(re.split(r"[,;\s]+", line)[:3], name, no))
    if not colors:
        raise bad_file(name, "no colors found; write one color a line, as #rrggbb or 'r g b'")
    return np.array(colors, np.uint8)


def parse_gpl(text: str, name: str) -> NDArray[np.uint8]:
    """A GIMP palette (``.gpl``)."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("GIMP Palette"):
        raise bad_file(name, "a GIMP palette starts with the line 'GIMP Palette'")
    colors = []
    for no, raw in enumerate(lines[1:], 2):
        line = raw.strip()
        if not line or line.startswith("#") or re.match(r"[A-Za-z]+:", line):
            continue  # comments, "Name:", "Columns:", "Channels:"
        colors.append(_numbers(line.split()[:3], name, no))
    if not colors:
        raise bad_file(name, "the GIMP palette has no colors")
    return np.array(colors, np.uint8)


def parse_json(text: str, name: str) -> tuple[NDArray, np.dtype]:
    """A JSON palette (a list, or an object with one under "palette" or "colors"; its
    "dtype" respected) and the dtype of its values."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise bad_file(name, f"not valid JSON ({exc})") from exc
    native = np.dtype(np.uint8)
    if isinstance(data, dict):
        if "dtype" in data:
            native = np.dtype(str(data["dtype"]))
        data = data.get("palette", data.get("colors"))
    if not isinstance(data, list) or not data:
        raise bad_file(name, "expected a list of colors, or an object with a 'palette' list")
    if all(isinstance(c, str) and _HEX.fullmatch(c.strip()) for c in data):
        return np.array([_hex(c.strip()) for c in data], np.uint8), np.dtype(np.uint8)
    try:
        colors = np.array(data, np.float64)
    except (TypeError, ValueError):
        raise bad_file(name, "colors must be hex strings or lists of numbers") from None
    if colors.ndim != 2:
        raise bad_file(name, "colors must all have the same number of values")
    return (colors.astype(native) if native.kind == "f" else _rounded(colors, native)), native


def image_colors(img: NDArray, name: str) -> tuple[NDArray, np.dtype]:
    """The distinct colors of an (H, W, C) image (gray or RGB), in order of first
    appearance, as a palette (a swatch image), and the image's dtype."""
    flat = img.reshape(-1, img.shape[2])
    colors, first = np.unique(flat, axis=0, return_index=True)
    if colors.shape[0] > MAX_COLORS:
        raise bad_file(
            name,
            f"not an indexed PNG, and it has {colors.shape[0]} distinct colors (more than "
            f"{MAX_COLORS}); save the palette as an indexed PNG or a swatch image",
        )
    return np.ascontiguousarray(colors[np.argsort(first)]), img.dtype
