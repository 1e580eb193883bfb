"""What a TIFF image's samples mean, and turning them into what a viewer shows.

tifffile returns samples as stored; the file's tags say what they are. An image is read
as gray, gray + alpha, RGB or RGB + alpha, in the stored dtype rounded up to 8, 16 or 32 bits:

===========================  ============================================================
PhotometricInterpretation    read as
===========================  ============================================================
MINISBLACK (1)               gray; MINISWHITE (0) the same, inverted (0 is white)
RGB (2)                      RGB
PALETTE (3)                  the colormap's colors (8-bit when every entry is v * 257)
SEPARATED (5), CMYK inks     RGB, by the uncalibrated conversion of :mod:`daskquant._color._models`
CIELAB (8), ICCLAB (9)       sRGB from L*a*b* (white point D50 unless WhitePoint says)
YCbCr (6)                    RGB (JPEG-compressed tiles are RGB already; others converted)
===========================  ============================================================

Anything else (LOGLUV, CFA, transparency MASK, ITULAB, inks that are not CMYK, YCbCr with
chroma subsampling in uncompressed data) is refused with one line naming the model.

- **Bit depth.** n-bit integer samples are scaled to the full range of the dtype they are
  read in: 1-bit (bilevel, any compression) becomes 0/255, 4-bit ``v`` becomes
  ``round(v * 255 / 15)``, 12-bit ``round(v * 65535 / 4095)`` in uint16. 8, 16, 32 and 64-bit
  integers, signed integers and floats are kept as stored.
- **Extra samples.** Samples after the color ones are alpha only when ExtraSamples says
  so: 2 (unassociated alpha) as stored, 1 (associated, premultiplied) made straight. An
  extra sample without that tag, or marked 0 (unspecified), is data (a near-infrared band,
  an elevation): of a gray or RGB image it is read as one more band, after the color ones
  and before alpha (so a multispectral MINISBLACK image is read with all its bands), never
  taken as a mask; of the other models (palette, CMYK, CIELAB, YCbCr) it is not read, and
  the reader logs that it was left out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from daskquant._color._models import (
    D50,
    associated_to_straight,
    cmyk_to_rgb,
    lab_to_srgb,
    white_from_chromaticity,
    ycbcr_to_rgb,
)
from daskquant._errors import InputError

__all__ = ["Samples", "samples_of"]

log = logging.getLogger("daskquant")

# Compressions whose decoder turns YCbCr into RGB (tifffile's own list).
_JPEG_FAMILY = {6, 7, 33007, 34892}
_NAMES = {
    0: "MINISWHITE",
    1: "MINISBLACK",
    2: "RGB",
    3: "PALETTE",
    4: "MASK",
    5: "SEPARATED",
    6: "YCBCR",
    8: "CIELAB",
    9: "ICCLAB",
    10: "ITULAB",
    32803: "CFA",
    32844: "LOGL",
    32845: "LOGLUV",
    34892: "LINEAR_RAW",
}


@dataclass(frozen=True)
class Samples:
    """How one TIFF page's samples become an image; picklable, applied to each chunk.

    ``model`` is a key of the conversion table; ``color`` leading samples hold the color,
    ``data`` are the indices of extra samples read as more bands (after the color),
    ``alpha`` is the index of the alpha sample (or None, read last); ``bits`` is
    BitsPerSample.
    """

    model: str
    bits: int
    dtype: np.dtype  # as tifffile returns the samples
    samples: int  # samples per pixel; 1 means the block has no sample axis
    color: int
    alpha: int | None = None
    associated: bool = False
    table: NDArray | None = field(default=None, compare=False)  # palette colors, (2**bits, 3)
    params: tuple[float, ...] = ()  # YCbCr coefficients + reference; a Lab white point
    data: tuple[int, ...] = ()  # extra samples read as bands (gray and RGB models)

    @property
    def out_dtype(self) -> np.dtype:
        """The dtype read: the stored one, n-bit integers rounded up to 8, 16 or 32 bits."""
        if self.model == "palette":
            assert self.table is not None
            return self.table.dtype
        if self.model in ("cielab", "icclab", "ycbcr"):
            return np.dtype(f"u{self.dtype.itemsize}")
        return _read_dtype(self.bits, self.dtype)

    @property
    def channels(self) -> int:
        """Channels read: 1 or 3, plus the data bands, plus 1 for alpha."""
        color = 1 if self.model in ("gray", "inverted") else 3
        return color + len(self.data) + (self.alpha is not None)

    @property
    def unchanged(self) -> bool:
        """Whether the stored samples are already what is read."""
        return (
            self.model in ("gray", "rgb")
            and self.out_dtype == self.dtype
            and (self.bits == 8 * self.dtype.itemsize or self.dtype.kind != "u")
            and self.samples == self.channels
            and self.alpha in (None, self.samples - 1)  # read in the stored order
            and not self.associated
        )

    def __call__(self, block: NDArray, table: NDArray | None = None) -> NDArray:
        """A block of stored samples, (..., samples) or (...) for one sample, decoded;
        ``table`` replaces the palette (which a graph may carry once, not in every task)."""
        if self.samples == 1:
            block = block[..., None]
        s = self if table is None else replace(self, table=table)
        color = _MODELS[self.model](s, block[..., : self.color])
        parts = [color]
        if self.data:  # data bands as stored (premultiplying is for color)
            parts.append(_levels(block[..., list(self.data)], self))
        if self.alpha is not None:
            alpha = _rescale(_levels(block[..., self.alpha : self.alpha + 1], self), color.dtype)
            if self.associated:
                parts[0] = associated_to_straight(color, alpha, scale=_full(color.dtype))
            parts.append(alpha)
        out = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)
        return out[..., 0] if out.shape[-1] == 1 else out


def _read_dtype(bits: int, dtype: np.dtype) -> np.dtype:
    """Unsigned n-bit integers are read in 8, 16 or 32 bits (1-bit as uint8)."""
    if dtype.kind not in "ub" or bits >= 32:
        return dtype
    return np.dtype(np.uint8 if bits <= 8 else np.uint16 if bits <= 16 else np.uint32)


def _full(dtype: np.dtype) -> float:
    return float(np.iinfo(dtype).max) if dtype.kind in "ui" else 1.0


def _levels(raw: NDArray, s: Samples, *, invert: bool = False) -> NDArray:
    """Stored n-bit values scaled to the full range of the dtype they are read in."""
    out = _read_dtype(s.bits, s.dtype)
    if out.kind not in "u":  # signed and float samples are kept as stored
        return raw
    top, stored = int(np.iinfo(out).max), (1 << s.bits) - 1
    if stored == top and not invert:
        return raw
    if s.bits <= 16:  # one table of 2**bits entries: exact and fast
        lut = (np.arange(stored + 1, dtype=np.uint64) * top + stored // 2) // stored
        if invert:
            lut = top - lut
        return lut.astype(out)[raw.astype(np.intp) if raw.dtype == bool else raw]
    scaled = raw if stored == top else (raw.astype(np.uint64) * top + stored // 2) // stored
    return (top - scaled if invert else scaled).astype(out)


def _rescale(values: NDArray, dtype: np.dtype) -> NDArray:
    """Full-range integers in another dtype's full range (8-bit alpha with 16-bit colors)."""
    if values.dtype == dtype or dtype.kind not in "u" or values.dtype.kind not in "u":
        return values.astype(dtype)
    top, old = int(np.iinfo(dtype).max), int(np.iinfo(values.dtype).max)
    wide = values.astype(np.uint64)
    return ((wide * top + old // 2) // old).astype(dtype)


def _gray(s: Samples, raw: NDArray) -> NDArray:
    return _levels(raw, s)


def _inverted(s: Samples, raw: NDArray) -> NDArray:
    return _levels(raw, s, invert=True)


def _palette(s: Samples, raw: NDArray) -> NDArray:
    assert s.table is not None
    index = raw[..., 0]
    return s.table[index.astype(np.intp) if index.dtype == bool else index]


def _cmyk(s: Samples, raw: NDArray) -> NDArray:
    inks = _levels(raw, s)
    return cmyk_to_rgb(inks, scale=_full(inks.dtype))


def _lab_values(s: Samples, raw: NDArray) -> NDArray[np.float64]:
    """L* a* b* from TIFF's encodings: L* over the full unsigned range; a*, b* signed
    (CIELAB) or offset by half the range (ICCLAB); 16-bit a*, b* in 1/256 units."""
    unsigned = raw.view(np.dtype(f"u{raw.dtype.itemsize}"))
    top = float(np.iinfo(unsigned.dtype).max)
    lab = np.empty(raw.shape, np.float64)
    lab[..., 0] = unsigned[..., 0] * (100.0 / top)
    if s.model == "cielab":
        ab = raw[..., 1:].view(np.dtype(f"i{raw.dtype.itemsize}")).astype(np.float64)
    else:
        ab = unsigned[..., 1:].astype(np.float64) - (top + 1) / 2
    lab[..., 1:] = ab / (256.0 if raw.dtype.itemsize == 2 else 1.0)
    return lab


def _lab(s: Samples, raw: NDArray) -> NDArray:
    out = np.dtype(f"u{raw.dtype.itemsize}")
    top = _full(out)
    white = (s.params[0], s.params[1], s.params[2])
    rgb = lab_to_srgb(_lab_values(s, raw), white=white, scale=top)
    return np.rint(rgb).astype(out)


def _ycbcr(s: Samples, raw: NDArray) -> NDArray:
    coefficients = (s.params[0], s.params[1], s.params[2])
    rgb = ycbcr_to_rgb(raw, coefficients=coefficients, reference=s.params[3:9])
    return np.rint(rgb).astype(np.uint8)


# Models whose extra data samples are read as more bands (the others convert their color
# samples into another model, which the extra bands are not in).
_DATA_BANDS = frozenset({"gray", "inverted", "rgb"})

# Conversions by model: stored color samples (..., color) -> (..., 1 or 3) read.
_MODELS: dict[str, Callable[[Samples, NDArray], NDArray]] = {
    "gray": _gray,
    "inverted": _inverted,
    "rgb": _gray,
    "palette": _palette,
    "cmyk": _cmyk,
    "cielab": _lab,
    "icclab": _lab,
    "ycbcr": _ycbcr,
}


def _tag(page: Any, name: str, default: Any) -> Any:
    value = page.tags.valueof(name)
    return default if value is None else value


def _rationals(page: Any, name: str, default: tuple[float, ...]) -> tuple[float, ...]:
    """A tag of RATIONAL values; tifffile gives them as (numerator, denominator) pairs."""
    value = page.tags.valueof(name)
    if value is None:
        return default
    value = tuple(float(v) for v in np.ravel(value))
    if len(value) == 2 * len(default):
        return tuple(n / d if d else 0.0 for n, d in zip(value[::2], value[1::2], strict=True))
    return value


def samples_of(page: Any, path: object) -> Samples:
    """The :class:`Samples` of a tifffile page, or InputError (one line naming the file and
    the color model) for an image daskquant does not read."""
    photometric = int(page.photometric)
    name = _NAMES.get(photometric, str(photometric))
    bits, dtype, spp = int(page.bitspersample), np.dtype(page.dtype), int(page.samplesperpixel)
    kind, color, params, table = _model(page, photometric, name, path)
    refuse = _refusal(kind, bits, dtype, spp, color)
    if refuse:
        raise InputError(
            f"{path}: {name} TIFF image with {refuse} is not supported; convert it to "
            "8- or 16-bit RGB or gray"
        )
    extras = list(page.extrasamples) + [0] * (spp - color - len(page.extrasamples))
    alphas = [i for i, e in enumerate(extras[: spp - color]) if int(e) in (1, 2)]
    alpha = color + alphas[0] if alphas else None
    data = tuple(
        color + i
        for i, e in enumerate(extras[: spp - color])
        if kind in _DATA_BANDS and int(e) not in (1, 2)
    )
    dropped = [color + i for i in range(spp - color) if color + i not in (alpha, *data)]
    if dropped:
        log.info(
            "%s: sample(s) %s are data, not color or alpha (ExtraSamples %s): not read",
            path,
            ", ".join(str(i) for i in dropped),
            [int(e) for e in extras],
        )
    return Samples(
        model=kind,
        bits=bits,
        dtype=dtype,
        samples=spp,
        color=color,
        alpha=alpha,
        associated=alpha is not None and int(extras[alpha - color]) == 1,
        table=table,
        params=params,
        data=data,
    )


def _model(
    page: Any, photometric: int, name: str, path: object
) -> tuple[str, int, tuple[float, ...], NDArray | None]:
    """(model, color samples, parameters, palette) for a page; InputError if unsupported."""
    if photometric in (0, 1):
        return ("inverted" if photometric == 0 else "gray"), 1, (), None
    if photometric == 2 or (photometric == 6 and int(page.compression) in _JPEG_FAMILY):
        return "rgb", 3, (), None
    if photometric == 3:
        return "palette", 1, (), _colormap(page, path)
    if photometric == 5:
        inkset, inks = int(_tag(page, "InkSet", 1)), int(_tag(page, "NumberOfInks", 4))
        if inkset != 1 or inks != 4:
            raise InputError(
                f"{path}: SEPARATED TIFF image with {inks} inks (InkSet {inkset}) is not "
                "supported; daskquant reads CMYK (InkSet 1, 4 inks). Convert it to RGB"
            )
        return "cmyk", 4, (), None
    if photometric in (8, 9):
        wp = _rationals(page, "WhitePoint", (0.0, 0.0))
        white = white_from_chromaticity(*wp) if wp[1] > 0 else D50
        return ("cielab" if photometric == 8 else "icclab"), 3, white, None
    if photometric == 6:
        sub = tuple(int(v) for v in _tag(page, "YCbCrSubSampling", (2, 2)))
        if sub != (1, 1):
            compression = getattr(page.compression, "name", page.compression)
            raise InputError(
                f"{path}: YCbCr TIFF image with {sub[0]}x{sub[1]} chroma subsampling in "
                f"{compression} (not JPEG) data is not supported; convert it to RGB"
            )
        coefficients = _rationals(page, "YCbCrCoefficients", (0.299, 0.587, 0.114))
        reference = _rationals(page, "ReferenceBlackWhite", (0, 255, 128, 255, 128, 255))
        return "ycbcr", 3, (*coefficients, *reference), None
    raise InputError(
        f"{path}: TIFF photometric interpretation {name} ({photometric}) is not supported; "
        "daskquant reads MINISWHITE, MINISBLACK, RGB, PALETTE, SEPARATED (CMYK), CIELAB, "
        "ICCLAB and YCbCr images"
    )


def _refusal(kind: str, bits: int, dtype: np.dtype, spp: int, color: int) -> str | None:
    """What a page's samples cannot be for its model, or None."""
    if spp < color:
        return f"{spp} sample(s) per pixel (it needs {color})"
    integer = dtype.kind in "ub"
    if kind in ("inverted", "cmyk", "palette") and not integer:
        return f"{dtype.name} samples"
    if kind in ("cielab", "icclab") and (dtype.kind not in "ui" or bits not in (8, 16)):
        return f"{bits}-bit {dtype.name} samples"
    if kind == "ycbcr" and (not integer or bits != 8):
        return f"{bits}-bit samples"
    return None


def _colormap(page: Any, path: object) -> NDArray:
    """A palette page's colors, (2**bits, 3): 8-bit when every entry is v * 257 (as
    8-bit colors are stored), else 16-bit."""
    colormap = page.colormap
    bits = int(page.bitspersample)
    if colormap is None or np.asarray(colormap).shape != (3, 1 << bits):
        raise InputError(f"{path}: PALETTE TIFF image without a colormap of {1 << bits} colors")
    table = np.ascontiguousarray(np.asarray(colormap, np.uint16).T)
    if np.all(table % 257 == 0):
        return (table // 257).astype(np.uint8)
    return table
