"""A corpus of edge-case image files, written by the tests themselves, each with the decode
a reference reader gives (or the refusal expected).

Every case is a function ``make(folder) -> Case`` in :data:`CASES`: it writes one small file
(16 x 24 pixels) with tifffile, imagecodecs, Pillow or OpenCV (BMP variants and a few PNG
and TIFF details byte by byte, where no library writes them), and says what a viewer shows:
``expected``, computed here from a reference reader (Pillow, LittleCMS through Pillow's
ImageCms, tifffile's stored samples with the documented scaling, or the pixels written), never
from daskquant. A case without ``expected`` must be refused: ``refused`` is the part of the
one-line error that follows the file name.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import tifffile
from numpy.typing import NDArray
from PIL import Image, ImageCms, ImageOps

H, W = 16, 24


@dataclass
class Case:
    """One file: what reading it must give, or the refusal it must get."""

    path: Path
    expected: NDArray | None = None
    refused: str | None = None
    tolerance: int = 0  # largest difference allowed from ``expected`` (float conversions)
    reference: str = ""  # who computed ``expected``
    alpha: int | str | None = "auto"  # the alpha= that reads ``expected`` as the file is read


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(name.encode()))


def _smooth(channels: int, top: int = 255) -> NDArray[np.uint8]:
    """Smooth gradients (JPEG keeps them well), (H, W, channels) uint8 in [0, top]."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    planes = [(x * (7 + 3 * c) + y * (11 - 2 * c) + 40 * c) % 256 for c in range(channels)]
    return (np.stack(planes, -1) * top / 255).round().astype(np.uint8)


def _pillow(path: Path, mode: str | None = None) -> NDArray:
    with Image.open(path) as im:
        return np.asarray(im if mode is None else im.convert(mode))


def _scaled(raw: NDArray, bits: int, top: int) -> NDArray:
    """The documented scaling of n-bit values to [0, top], computed with Python integers."""
    stored = (1 << bits) - 1
    table = np.array([(v * top + stored // 2) // stored for v in range(stored + 1)])
    return table[raw.astype(np.int64)]


# -- TIFF -----------------------------------------------------------------------------------


def _tif(folder: Path, name: str, data: NDArray, **kw: object) -> Path:
    path = folder / f"{name}.tif"
    tifffile.imwrite(path, data, **kw)  # type: ignore[arg-type]
    return path


def _stored(path: Path) -> NDArray:
    return tifffile.imread(path)


def gray_bits(bits: int, *, white: bool = False) -> Callable[[Path], Case]:
    """1-, 2- and 4-bit gray, MINISBLACK or MINISWHITE: Pillow scales them to 8 bits."""

    def make(folder: Path) -> Case:
        name = f"gray{bits}{'w' if white else ''}"
        raw = _rng(name).integers(0, 1 << bits, (H, W), dtype=np.uint8)
        data = raw.astype(bool) if bits == 1 else raw
        photometric = "miniswhite" if white else "minisblack"
        path = _tif(folder, name, data, photometric=photometric, bitspersample=bits)
        return Case(path, _pillow(path, "L"), reference="Pillow")

    return make


def gray12(folder: Path) -> Case:
    raw = _rng("gray12").integers(0, 4096, (H, W), dtype=np.uint16)
    path = _tif(folder, "gray12", raw, photometric="minisblack", bitspersample=12)
    expected = _scaled(_stored(path), 12, 65535).astype(np.uint16)
    return Case(path, expected, reference="tifffile, v * 65535 / 4095 rounded")


def gray_wide(dtype: str, *, white: bool = False) -> Callable[[Path], Case]:
    """16/32-bit integer and float gray: as stored (MINISWHITE 16-bit: inverted)."""

    def make(folder: Path) -> Case:
        rng = _rng(dtype)
        if np.dtype(dtype).kind == "f":
            data = rng.random((H, W)).astype(dtype)
        else:
            data = rng.integers(0, np.iinfo(dtype).max, (H, W), dtype=dtype, endpoint=True)
        photometric = "miniswhite" if white else "minisblack"
        path = _tif(folder, f"gray-{dtype}{'-w' if white else ''}", data, photometric=photometric)
        stored = _stored(path)
        expected = np.iinfo(dtype).max - stored if white else stored
        return Case(path, expected.astype(dtype), reference="tifffile")

    return make


def miniswhite8(folder: Path) -> Case:
    raw = _rng("w8").integers(0, 256, (H, W), dtype=np.uint8)
    path = _tif(folder, "gray8w", raw, photometric="miniswhite")
    return Case(path, _pillow(path, "L"), reference="Pillow")


def bilevel(compression: str) -> Callable[[Path], Case]:
    """1-bit images as scanners write them (CCITT G3, G4, PackBits, none), by Pillow."""

    def make(folder: Path) -> Case:
        ink = _rng(compression).random((H, W)) > 0.6
        path = folder / f"bilevel-{compression}.tif"
        Image.fromarray(ink).save(path, compression=compression)
        return Case(path, _pillow(path, "L"), reference="Pillow")

    return make


def bilevel_miniswhite_g4(folder: Path) -> Case:
    """A G4 fax-style image: MINISWHITE, 0 is white (written by tifffile's tags + Pillow)."""
    ink = _rng("g4w").random((H, W)) > 0.7
    path = folder / "bilevel-g4-miniswhite.tif"
    Image.fromarray(~ink).save(path, compression="group4")
    with tifffile.TiffFile(path, mode="r+b") as tf:
        tf.pages[0].tags["PhotometricInterpretation"].overwrite(0)
    # The stored bits are ~ink (1 where there is no ink); with 0 = white, 1 is black.
    expected = np.where(~ink, 0, 255).astype(np.uint8)
    return Case(path, expected, reference="the bits written, MINISWHITE")


def palette(bits: int) -> Callable[[Path], Case]:
    """Palette TIFFs of 1 to 8 bits per index (1-bit: tifffile reads bool indices)."""

    def make(folder: Path) -> Case:
        rng = _rng(f"palette{bits}")
        index = rng.integers(0, 1 << bits, (H, W), dtype=np.uint8)
        colormap = (rng.integers(0, 256, (3, 1 << bits)) * 257).astype(np.uint16)
        data = index.astype(bool) if bits == 1 else index
        path = _tif(
            folder,
            f"palette{bits}",
            data,
            photometric="minisblack",
            bitspersample=bits,
            extratags=[(320, "H", colormap.size, colormap.ravel(), True)],
        )
        with tifffile.TiffFile(path, mode="r+b") as tf:
            tf.pages[0].tags["PhotometricInterpretation"].overwrite(3)
        return Case(path, _pillow(path, "RGB"), reference="Pillow")

    return make


def palette16_colors(folder: Path) -> Case:
    """A colormap whose entries are not v * 257: read as 16-bit colors."""
    rng = _rng("palette16")
    index = rng.integers(0, 256, (H, W), dtype=np.uint8)
    colormap = rng.integers(0, 65536, (3, 256), dtype=np.uint16)
    path = _tif(folder, "palette-16bit-colors", index, photometric="palette", colormap=colormap)
    with tifffile.TiffFile(path) as tf:
        table = tf.pages[0].colormap.T
    return Case(path, table[_stored(path)], reference="tifffile's colormap")


def rgb(bits: int, *, planar: bool = False) -> Callable[[Path], Case]:
    def make(folder: Path) -> Case:
        dtype = np.uint16 if bits > 8 else np.uint8
        raw = _rng(f"rgb{bits}").integers(0, 1 << bits, (H, W, 3), dtype=dtype)
        data = np.moveaxis(raw, -1, 0) if planar else raw
        config = "separate" if planar else "contig"
        name = f"rgb{bits}{'-planar' if planar else ''}"
        path = _tif(folder, name, data, photometric="rgb", bitspersample=bits, planarconfig=config)
        stored = _stored(path)
        stored = np.moveaxis(stored, 0, -1) if planar else stored
        if bits in (8, 16):
            return Case(path, stored, reference="tifffile")
        top = 255 if bits < 8 else 65535
        expected = _scaled(stored, bits, top).astype(dtype)
        return Case(path, expected, reference=f"tifffile, v * {top} / {(1 << bits) - 1} rounded")

    return make


def extra_samples(color: str, extras: tuple[int, ...], *, planar: bool = False):
    """Extra samples: 1/2 are alpha (1 premultiplied), 0 is data (a near-infrared band
    that is 0 on a third of the pixels: not a mask), read as a band after the color."""

    def make(folder: Path) -> Case:
        n = 1 if color == "gray" else 3
        rng = _rng(f"{color}{extras}{planar}")
        data = rng.integers(0, 256, (H, W, n + len(extras)), dtype=np.uint8)
        for i, kind in enumerate(extras):
            band = data[..., n + i]
            if kind == 0:
                band[rng.random((H, W)) < 0.3] = 0
            if kind == 1:  # premultiplied: color at most alpha
                data[..., :n] = (data[..., :n].astype(int) * band[..., None] // 255).astype(
                    np.uint8
                )
        stored = np.moveaxis(data, -1, 0) if planar else data
        name = f"{color}-extra{''.join(map(str, extras))}{'-planar' if planar else ''}"
        path = _tif(
            folder,
            name,
            stored,
            photometric="minisblack" if n == 1 else "rgb",
            extrasamples=list(extras),
            planarconfig="separate" if planar else "contig",
        )
        alphas = [n + i for i, kind in enumerate(extras) if kind in (1, 2)]
        bands = [n + i for i, kind in enumerate(extras) if kind == 0]
        keep = data[..., [*range(n), *bands, *alphas[:1]]]
        if alphas and extras[alphas[0] - n] == 1:
            a, c = keep[..., -1:].astype(int), keep[..., :n].astype(int)
            straight = np.where(a > 0, np.minimum((c * 255 + a // 2) // np.maximum(a, 1), 255), 0)
            keep = np.concatenate([straight, keep[..., n:-1], a], -1).astype(np.uint8)
            return Case(path, keep, reference="the samples written, c * 255 / alpha rounded")
        # An unspecified extra sample is a band: an array of 2 or 4 bands needs alpha=None.
        alpha = "auto" if alphas else None
        expected = keep[..., 0] if keep.shape[-1] == 1 else keep
        return Case(path, expected, reference="tifffile", alpha=alpha)

    return make


def associated_alpha_pillow(folder: Path) -> Case:
    """Premultiplied RGBA against Pillow's own un-premultiplying (it truncates: within 1)."""
    case = extra_samples("rgb", (1,))(folder)
    return Case(case.path, _pillow(case.path, "RGBA"), tolerance=1, reference="Pillow")


def fourth_band_without_tag(folder: Path) -> Case:
    """RGB + a 4th sample and no ExtraSamples tag: the 4th is data (TIFF 6.0), not alpha:
    read as a 4th band (every pixel kept, though the band is 0 everywhere)."""
    data = _rng("notag").integers(0, 256, (H, W, 4), dtype=np.uint8)
    data[..., 3] = 0  # as alpha, every pixel would be transparent
    path = _tif(folder, "rgb-fourth-band-no-tag", data, photometric="rgb", extrasamples=[0])
    with tifffile.TiffFile(path) as tf:
        offset = tf.pages[0].tags["ExtraSamples"].offset
    raw = bytearray(path.read_bytes())
    raw[offset : offset + 2] = struct.pack("<H", 65000)  # the tag becomes a private one
    path.write_bytes(bytes(raw))
    return Case(path, data, reference="the samples written")


def cmyk_formula(cmyk: NDArray, top: int) -> NDArray:
    """The documented uncalibrated conversion, with Python integers."""
    c = cmyk.astype(object)
    ink = top - c
    return ((ink[..., :3] * ink[..., 3:4] + top // 2) // top).astype(np.int64)


def cmyk(bits: int, *, planar: bool = False, alpha: bool = False) -> Callable[[Path], Case]:
    def make(folder: Path) -> Case:
        dtype = np.uint16 if bits == 16 else np.uint8
        rng = _rng(f"cmyk{bits}{planar}{alpha}")
        data = rng.integers(0, 1 << bits, (H, W, 5 if alpha else 4), dtype=dtype)
        stored = np.moveaxis(data, -1, 0) if planar else data
        name = f"cmyk{bits}{'-planar' if planar else ''}{'-alpha' if alpha else ''}"
        path = _tif(
            folder,
            name,
            stored,
            photometric="separated",
            planarconfig="separate" if planar else "contig",
            extrasamples=[2] if alpha else None,
        )
        if bits == 8 and not planar and not alpha:
            return Case(path, _pillow(path, "RGB"), reference="Pillow's CMYK to RGB")
        expected = cmyk_formula(data[..., :4], (1 << bits) - 1)
        if alpha:
            expected = np.concatenate([expected, data[..., 4:]], -1)
        return Case(path, expected.astype(dtype), reference="(max - C)(max - K) / max")

    return make


_LAB_TO_SRGB = ImageCms.buildTransform(
    ImageCms.createProfile("LAB"),  # D50
    ImageCms.createProfile("sRGB"),
    "LAB",
    "RGB",
    renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
    flags=ImageCms.Flags.NOOPTIMIZE | ImageCms.Flags.NOCACHE,  # exact, not 8-bit tables
)


def _lab_samples(rng: np.random.Generator) -> NDArray[np.uint8]:
    """CIELAB TIFF samples: L* * 255 / 100 and signed a*, b* (two's complement bytes)."""
    lab = np.empty((H, W, 3), np.uint8)
    lab[..., 0] = rng.integers(0, 256, (H, W))
    lab[..., 1:] = rng.integers(-70, 70, (H, W, 2)).astype(np.int8).view(np.uint8)
    lab[0, :3] = [[255, 0, 0], [0, 0, 0], [128, 0, 0]]  # white, black, a gray
    return lab


def cielab8(folder: Path) -> Case:
    lab = _lab_samples(_rng("cielab8"))
    path = _tif(folder, "cielab8", lab, photometric="cielab")
    with Image.open(path) as im:  # Pillow reads CIELAB TIFFs as its LAB mode
        assert im.mode == "LAB"
        expected = np.asarray(ImageCms.applyTransform(im, _LAB_TO_SRGB))
    return Case(path, expected, tolerance=1, reference="Pillow + LittleCMS (D50 Lab to sRGB)")


def icclab8(folder: Path) -> Case:
    """ICCLAB: a* and b* offset by 128 instead of signed; the same colors as CIELAB."""
    lab = _lab_samples(_rng("icclab8"))
    icc = lab.copy()
    icc[..., 1:] = (lab[..., 1:].view(np.int8).astype(int) + 128).astype(np.uint8)
    path = _tif(folder, "icclab8", icc, photometric=9)
    im = Image.frombytes("LAB", (W, H), lab.tobytes())
    expected = np.asarray(ImageCms.applyTransform(im, _LAB_TO_SRGB))
    return Case(path, expected, tolerance=1, reference="LittleCMS (D50 Lab to sRGB)")


def cielab16(folder: Path) -> Case:
    """16-bit CIELAB (L* * 65535 / 100, a* b* * 256 signed) of colors inside the sRGB gamut:
    scikit-image's Lab (D50) to XYZ, the Bradford adaptation to D65, its XYZ to sRGB."""
    from skimage.color import lab2xyz, rgb2xyz, xyz2lab, xyz2rgb

    bradford = np.array(
        [[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]]
    )
    d50, d65 = np.array([0.9642, 1.0, 0.8249]), np.array([0.95047, 1.0, 1.08883])
    to_d65 = np.linalg.inv(bradford) @ np.diag((bradford @ d65) / (bradford @ d50)) @ bradford
    srgb = _rng("cielab16").uniform(0.05, 0.95, (H, W, 3))
    lab = xyz2lab(rgb2xyz(srgb) @ np.linalg.inv(to_d65).T, illuminant="D50", observer="2")
    codes = np.empty((H, W, 3), np.uint16)
    codes[..., 0] = np.round(lab[..., 0] * 655.35)
    codes[..., 1:] = np.round(lab[..., 1:] * 256).astype(np.int16).view(np.uint16)
    path = _tif(folder, "cielab16", codes, photometric="cielab")
    values = np.dstack([codes[..., 0] / 655.35, codes[..., 1:].view(np.int16) / 256.0])
    back = xyz2rgb(lab2xyz(values, illuminant="D50", observer="2") @ to_d65.T)
    expected = np.round(np.clip(back, 0, 1) * 65535).astype(np.uint16)
    # scikit-image's D50 (Z = 0.82521) is not ICC's (0.8249): 0.1 % apart at most.
    return Case(path, expected, tolerance=80, reference="scikit-image + Bradford")


def ycbcr(compression: str | None) -> Callable[[Path], Case]:
    """YCbCr: uncompressed (converted by daskquant, TIFF's formula) or in JPEG tiles
    (RGB out of the JPEG decoder)."""

    def make(folder: Path) -> Case:
        rgb8 = _smooth(3)
        ycc = cv2.cvtColor(rgb8, cv2.COLOR_RGB2YCrCb)[..., [0, 2, 1]]  # Y, Cb, Cr
        data = rgb8 if compression else ycc
        path = _tif(
            folder,
            f"ycbcr-{compression or 'none'}",
            data,
            photometric="ycbcr",
            compression=compression,
            **({"tile": (16, 16)} if compression else {}),
        )
        return Case(
            path,
            _pillow(path, "RGB"),
            tolerance=1 if compression is None else 0,
            reference="Pillow (libtiff)",
        )

    return make


def _patched(folder: Path, name: str, data: NDArray, tag: str, value: object, **kw) -> Path:
    path = _tif(folder, name, data, **kw)
    with tifffile.TiffFile(path, mode="r+b") as tf:
        tf.pages[0].tags[tag].overwrite(value)
    return path


def refused_tiff(name: str, refused: str) -> Callable[[Path], Case]:
    """TIFF images daskquant refuses in one line naming the color model."""

    def make(folder: Path) -> Case:
        u8 = _rng(name).integers(0, 256, (H, W, 3), dtype=np.uint8)
        if name == "mask":
            path = _tif(folder, name, u8[..., 0] % 2, photometric="mask")
        elif name == "logl":
            path = _patched(
                folder,
                name,
                u8[..., 0],
                "PhotometricInterpretation",
                32844,
                photometric="minisblack",
            )
        elif name == "separated-2-inks":
            inks = [(332, "H", 1, 2, True), (334, "H", 1, 2, True)]  # InkSet, NumberOfInks
            path = _patched(
                folder,
                name,
                u8[..., :2],
                "PhotometricInterpretation",
                5,
                photometric="minisblack",
                planarconfig="contig",
                extrasamples=[0],
                extratags=inks,
            )
        elif name == "ycbcr-subsampled":
            path = _patched(folder, name, u8, "YCbCrSubSampling", (2, 2), photometric="ycbcr")
        elif name == "miniswhite-float":
            path = _tif(folder, name, u8[..., 0].astype(np.float32), photometric="miniswhite")
        else:
            raise ValueError(name)
        return Case(path, refused=refused)

    return make


def truncated_tiff(folder: Path) -> Case:
    path = _tif(folder, "truncated", _smooth(3), compression="zlib", rowsperstrip=4)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    return Case(path, refused="truncated TIFF file")


TIFF: dict[str, Callable[[Path], Case]] = {
    **{f"tiff-gray-{b}bit": gray_bits(b) for b in (1, 2, 4)},
    **{f"tiff-miniswhite-{b}bit": gray_bits(b, white=True) for b in (1, 2, 4)},
    "tiff-miniswhite-8bit": miniswhite8,
    "tiff-miniswhite-16bit": gray_wide("uint16", white=True),
    "tiff-gray-12bit": gray12,
    **{f"tiff-gray-{d}": gray_wide(d) for d in ("uint16", "uint32", "float16", "float32")},
    "tiff-gray-float64": gray_wide("float64"),
    **{f"tiff-bilevel-{c}": bilevel(c) for c in ("group3", "group4", "packbits", "raw")},
    "tiff-bilevel-group4-miniswhite": bilevel_miniswhite_g4,
    **{f"tiff-palette-{b}bit": palette(b) for b in (1, 2, 4, 8)},
    "tiff-palette-16bit-colors": palette16_colors,
    **{f"tiff-rgb-{b}bit": rgb(b) for b in (2, 4, 8, 12, 16)},
    "tiff-rgb-8bit-planar": rgb(8, planar=True),
    "tiff-gray-extra-unspecified": extra_samples("gray", (0,)),
    "tiff-gray-extra-alpha": extra_samples("gray", (2,)),
    "tiff-rgb-extra-unspecified": extra_samples("rgb", (0,)),
    "tiff-rgb-extra-unassociated": extra_samples("rgb", (2,)),
    "tiff-rgb-extra-associated": extra_samples("rgb", (1,)),
    "tiff-rgb-extra-associated-pillow": associated_alpha_pillow,
    "tiff-rgb-extra-data-then-alpha": extra_samples("rgb", (0, 2)),
    "tiff-rgb-extra-alpha-then-data": extra_samples("rgb", (2, 0)),
    "tiff-rgb-extra-alpha-planar": extra_samples("rgb", (2,), planar=True),
    "tiff-rgb-fourth-band-without-tag": fourth_band_without_tag,
    "tiff-cmyk-8bit": cmyk(8),
    "tiff-cmyk-16bit": cmyk(16),
    "tiff-cmyk-8bit-planar": cmyk(8, planar=True),
    "tiff-cmyk-8bit-alpha": cmyk(8, alpha=True),
    "tiff-cielab-8bit": cielab8,
    "tiff-cielab-16bit": cielab16,
    "tiff-icclab-8bit": icclab8,
    "tiff-ycbcr-uncompressed": ycbcr(None),
    "tiff-ycbcr-jpeg": ycbcr("jpeg"),
    "tiff-refused-mask": refused_tiff("mask", "photometric interpretation MASK (4) is not"),
    "tiff-refused-logl": refused_tiff("logl", "photometric interpretation LOGL (32844) is not"),
    "tiff-refused-separated-2-inks": refused_tiff(
        "separated-2-inks", "SEPARATED TIFF image with 2 inks (InkSet 2) is not supported"
    ),
    "tiff-refused-ycbcr-subsampled": refused_tiff(
        "ycbcr-subsampled", "YCbCr TIFF image with 2x2 chroma subsampling in NONE (not JPEG)"
    ),
    "tiff-refused-miniswhite-float": refused_tiff(
        "miniswhite-float", "MINISWHITE TIFF image with float32 samples is not supported"
    ),
    "tiff-truncated": truncated_tiff,
}

# -- PNG ------------------------------------------------------------------------------------


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_bytes(rows: NDArray, depth: int, color: int, extra: bytes = b"") -> bytes:
    """A PNG written byte by byte: ``rows`` (H, bytes per row) already packed."""
    h, w = H, W
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 0)
    raw = b"".join(b"\0" + bytes(r) for r in rows)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + extra
        + _png_chunk(b"IDAT", zlib.compress(raw))
        + _png_chunk(b"IEND", b"")
    )


def png_palette(bits: int, *, transparent: bool = False) -> Callable[[Path], Case]:
    def make(folder: Path) -> Case:
        rng = _rng(f"png-palette{bits}{transparent}")
        index = rng.integers(0, 1 << bits, (H, W), dtype=np.uint8)
        im = Image.fromarray(index, "P")
        im.putpalette(rng.integers(0, 256, 3 << bits).tolist())
        path = folder / f"palette{bits}{'-trns' if transparent else ''}.png"
        im.save(path, bits=bits, **({"transparency": 0} if transparent else {}))
        return Case(path, _pillow(path, "RGBA" if transparent else "RGB"), reference="Pillow")

    return make


def png_gray(bits: int) -> Callable[[Path], Case]:
    def make(folder: Path) -> Case:
        levels = _rng(f"png-gray{bits}").integers(0, 1 << bits, (H, W))
        path = folder / f"gray{bits}.png"
        Image.fromarray((levels * (255 // ((1 << bits) - 1))).astype(np.uint8), "L").save(
            path, bits=bits
        )
        return Case(path, _pillow(path, "L"), reference="Pillow")

    return make


def png_gray_alpha(depth: int) -> Callable[[Path], Case]:
    """Gray + alpha, 8 or 16 bits: two channels, as the file has them."""

    def make(folder: Path) -> Case:
        dtype = np.dtype(">u2") if depth == 16 else np.dtype(np.uint8)
        la = _rng(f"la{depth}").integers(0, 1 << depth, (H, W, 2)).astype(dtype)
        path = folder / f"gray-alpha{depth}.png"
        path.write_bytes(_png_bytes(la.reshape(H, -1).view(np.uint8), depth, 4))
        if depth == 8:
            return Case(path, _pillow(path, "LA"), reference="Pillow")
        return Case(path, la.astype(np.uint16), reference="the samples written")

    return make


def png_gray_key(folder: Path) -> Case:
    """Gray with a tRNS color key: pixels of that gray are transparent."""
    gray = _rng("key").integers(0, 8, (H, W)).astype(np.uint8) * 30
    path = folder / "gray-key.png"
    path.write_bytes(_png_bytes(gray, 8, 0, _png_chunk(b"tRNS", struct.pack(">H", 60))))
    with Image.open(path) as im:
        assert im.info["transparency"] == 60
        expected = np.asarray(im.convert("LA"))
    return Case(path, expected, reference="Pillow")


def png_rgb16(alpha: bool) -> Callable[[Path], Case]:
    def make(folder: Path) -> Case:
        rgb16 = _rng(f"rgb16{alpha}").integers(
            0, 65536, (H, W, 4 if alpha else 3), dtype=np.uint16
        )
        path = folder / f"rgb{'a' if alpha else ''}16.png"
        code = cv2.COLOR_RGBA2BGRA if alpha else cv2.COLOR_RGB2BGR
        assert cv2.imwrite(str(path), cv2.cvtColor(rgb16, code))
        return Case(path, rgb16, reference="the pixels written (Pillow reads 8 bits only)")

    return make


def truncated(suffix: str, refused: str) -> Callable[[Path], Case]:
    def make(folder: Path) -> Case:
        path = folder / f"truncated{suffix}"
        if suffix == ".bmp":
            Image.fromarray(_smooth(3)).save(path)
        else:
            assert cv2.imwrite(str(path), cv2.cvtColor(_smooth(3), cv2.COLOR_RGB2BGR))
        data = path.read_bytes()
        path.write_bytes(data[: len(data) * 2 // 3])
        return Case(path, refused=refused)

    return make


PNG: dict[str, Callable[[Path], Case]] = {
    **{f"png-palette-{b}bit": png_palette(b) for b in (1, 2, 4, 8)},
    **{f"png-palette-{b}bit-transparent": png_palette(b, transparent=True) for b in (1, 4, 8)},
    **{f"png-gray-{b}bit": png_gray(b) for b in (1, 2, 4)},
    "png-gray-alpha-8bit": png_gray_alpha(8),
    "png-gray-alpha-16bit": png_gray_alpha(16),
    "png-gray-color-key": png_gray_key,
    "png-rgb-16bit": png_rgb16(False),
    "png-rgba-16bit": png_rgb16(True),
    "png-truncated": truncated(".png", "truncated PNG file"),
}


# -- JPEG -----------------------------------------------------------------------------------


def _cmyk_jpeg_expected(path: Path) -> NDArray:
    """Pillow's CMYK decode (it undoes Adobe's inversion), then the documented formula."""
    with Image.open(path) as im:
        assert im.mode == "CMYK"
        im = ImageOps.exif_transpose(im)
        return cmyk_formula(np.asarray(im), 255).astype(np.uint8)


def jpeg_cmyk(folder: Path) -> Case:
    """A CMYK JPEG as Photoshop writes them (Adobe marker, inverted), by Pillow."""
    path = folder / "cmyk.jpg"
    Image.fromarray(_smooth(4), "CMYK").save(path, quality=95)
    assert b"Adobe" in path.read_bytes()
    return Case(path, _cmyk_jpeg_expected(path), reference="Pillow + (255 - C)(255 - K) / 255")


def jpeg_ycck(folder: Path) -> Case:
    """YCCK (Adobe transform 2), by imagecodecs; Adobe stores the inks inverted."""
    import imagecodecs

    path = folder / "ycck.jpg"
    path.write_bytes(
        imagecodecs.jpeg8_encode(
            255 - _smooth(4), level=95, colorspace="CMYK", outcolorspace="YCCK"
        )
    )
    return Case(path, _cmyk_jpeg_expected(path), reference="Pillow + (255 - C)(255 - K) / 255")


def jpeg_cmyk_rotated(folder: Path) -> Case:
    """A CMYK JPEG with EXIF orientation 6 (rotate 90 degrees clockwise to view)."""
    path = folder / "cmyk-rotated.jpg"
    im = Image.fromarray(_smooth(4), "CMYK")
    exif = im.getexif()
    exif[0x0112] = 6
    im.save(path, quality=95, exif=exif.tobytes())
    expected = _cmyk_jpeg_expected(path)
    assert expected.shape[:2] == (W, H)
    return Case(path, expected, reference="Pillow, EXIF transposed + the CMYK formula")


def jpeg_stray_bytes(folder: Path) -> Case:
    """Bytes that are not a marker between two segments (libjpeg skips them, warning
    "extraneous bytes before marker"): the image is whole."""
    _, encoded = cv2.imencode(".jpg", cv2.cvtColor(_smooth(3), cv2.COLOR_RGB2BGR))
    data = encoded.tobytes()
    expected = cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    pos = 2 + 2 + int.from_bytes(data[4:6], "big")  # after SOI and APP0
    path = folder / "stray-bytes.jpg"
    path.write_bytes(data[:pos] + b"\x00\x12\x34" + data[pos:])
    with Image.open(path) as im:  # Pillow decodes it whole too
        np.testing.assert_array_equal(np.asarray(im), expected)
    return Case(path, expected, reference="OpenCV and Pillow, the file without the bytes")


def jpeg_gray(folder: Path) -> Case:
    path = folder / "gray.jpg"
    assert cv2.imwrite(str(path), _smooth(1)[..., 0])
    return Case(path, _pillow(path, "L"), reference="Pillow")


def jpeg_no_end(folder: Path) -> Case:
    """Every byte but the end marker: neither OpenCV nor Pillow decode the whole image."""
    path = folder / "no-end.jpg"
    assert cv2.imwrite(str(path), cv2.cvtColor(_smooth(3), cv2.COLOR_RGB2BGR))
    path.write_bytes(path.read_bytes()[:-2])
    return Case(path, refused="truncated or corrupt JPEG file")


JPEG: dict[str, Callable[[Path], Case]] = {
    "jpeg-cmyk-adobe": jpeg_cmyk,
    "jpeg-ycck-adobe": jpeg_ycck,
    "jpeg-cmyk-exif-rotated": jpeg_cmyk_rotated,
    "jpeg-stray-bytes-between-segments": jpeg_stray_bytes,
    "jpeg-gray": jpeg_gray,
    "jpeg-without-end-marker": jpeg_no_end,
    "jpeg-truncated": truncated(".jpg", "truncated or corrupt JPEG file"),
}


# -- BMP (byte by byte: no library writes these variants) ----------------------------------


def _bmp(header: bytes, palette: bytes, rows: list[bytes], masks: bytes = b"") -> bytes:
    """A BMP file: file header, DIB header (+ masks), palette, rows bottom-up padded to 4."""
    pixels = b"".join(r + b"\0" * (-len(r) % 4) for r in reversed(rows))
    offset = 14 + len(header) + len(masks) + len(palette)
    file_header = b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset)
    return file_header + header + masks + palette + pixels


def _info_header(bits: int, compression: int, colors: int = 0, size: int = 40) -> bytes:
    head = struct.pack("<IiiHHIIiiII", size, W, H, 1, bits, compression, 0, 2835, 2835, colors, 0)
    return head + b"\0" * (size - 40)


def _packed(index: NDArray, bits: int) -> list[bytes]:
    per = 8 // bits
    rows = []
    for row in index:
        padded = np.concatenate([row, np.zeros(-len(row) % per, np.uint8)]).reshape(-1, per)
        shifts = 8 - bits * (np.arange(per) + 1)
        rows.append((padded.astype(np.uint16) << shifts).sum(1).astype(np.uint8).tobytes())
    return rows


def bmp_os2(bits: int) -> Callable[[Path], Case]:
    """OS/2 1.x BMPs: a 12-byte header and 3-byte palette entries (OpenCV reads them gray)."""

    def make(folder: Path) -> Case:
        rng = _rng(f"os2-{bits}")
        index = rng.integers(0, 1 << bits, (H, W), dtype=np.uint8)
        colors = rng.integers(0, 256, (1 << bits, 3), dtype=np.uint8)
        header = struct.pack("<IHHHH", 12, W, H, 1, bits)
        rows = [bytes(r) for r in index] if bits == 8 else _packed(index, bits)
        path = folder / f"os2-palette{bits}.bmp"
        path.write_bytes(_bmp(header, colors[:, ::-1].tobytes(), rows))
        return Case(path, colors[index], reference="the colors written")

    return make


def _fields(rgb: NDArray, masks: tuple[int, ...], alpha: NDArray | None = None) -> list[bytes]:
    def place(v: NDArray, mask: int) -> NDArray:
        return v.astype(np.uint32) << ((mask & -mask).bit_length() - 1)

    px = place(rgb[..., 0], masks[0]) | place(rgb[..., 1], masks[1]) | place(rgb[..., 2], masks[2])
    if alpha is not None:
        px |= place(alpha, masks[3])
    return [r.astype("<u4").tobytes() for r in px]


def bmp_bitfields32(folder: Path) -> Case:
    """32-bit BI_BITFIELDS, masks after a BITMAPINFOHEADER (OpenCV loses a channel)."""
    rgb8 = _rng("bf32").integers(0, 256, (H, W, 3), dtype=np.uint8)
    masks = (0xFF0000, 0xFF00, 0xFF)
    path = folder / "bitfields32.bmp"
    path.write_bytes(
        _bmp(_info_header(32, 3), b"", _fields(rgb8, masks), struct.pack("<III", *masks))
    )
    return Case(path, rgb8, reference="the pixels written")


def bmp_v5_alpha(folder: Path) -> Case:
    """A BITMAPV5HEADER with an alpha mask: RGBA."""
    rng = _rng("v5")
    rgb8 = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    alpha = rng.integers(1, 256, (H, W), dtype=np.uint8)
    masks = (0xFF0000, 0xFF00, 0xFF, 0xFF000000)
    head = struct.pack("<IiiHHIIiiII", 124, W, H, 1, 32, 3, 0, 2835, 2835, 0, 0)
    head += (
        struct.pack("<IIII", *masks)
        + b"BGRs"
        + b"\0" * 36
        + b"\0" * 12
        + struct.pack("<I", 4)
        + b"\0" * 12
    )
    path = folder / "v5-alpha.bmp"
    path.write_bytes(_bmp(head, b"", _fields(rgb8, masks, alpha)))
    return Case(path, np.dstack([rgb8, alpha]), reference="the pixels written")


def bmp_rgb565(folder: Path) -> Case:
    """16-bit 5-6-5 bitfields: each level scaled to 8 bits as Pillow does."""
    rng = _rng("565")
    r, g, b = (rng.integers(0, 1 << n, (H, W)) for n in (5, 6, 5))
    px = (r << 11 | g << 5 | b).astype("<u2")
    masks = struct.pack("<III", 0xF800, 0x07E0, 0x001F)
    path = folder / "rgb565.bmp"
    path.write_bytes(_bmp(_info_header(16, 3), b"", [row.tobytes() for row in px], masks))
    return Case(path, _pillow(path, "RGB"), reference="Pillow")


def bmp_unused_fourth_byte(folder: Path) -> Case:
    """32-bit BI_RGB: the 4th byte is unused (here 0): not alpha, or every pixel would be
    transparent."""
    rgb8 = _rng("bgrx").integers(0, 256, (H, W, 3), dtype=np.uint8)
    bgrx = np.dstack([rgb8[..., ::-1], np.zeros((H, W), np.uint8)])
    path = folder / "bgrx32.bmp"
    path.write_bytes(_bmp(_info_header(32, 0), b"", [row.tobytes() for row in bgrx]))
    return Case(path, rgb8, reference="the pixels written")


def bmp_gray_palette(folder: Path) -> Case:
    """An 8-bit BMP whose palette is gray ramps: read as gray, as Pillow does."""
    index = _rng("graybmp").integers(0, 256, (H, W), dtype=np.uint8)
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 4, 1)
    ramp[:, 3] = 0
    path = folder / "gray-palette.bmp"
    path.write_bytes(_bmp(_info_header(8, 0, 256), ramp.tobytes(), [bytes(r) for r in index]))
    return Case(path, index, reference="the gray levels written")


def bmp_odd_layout(folder: Path) -> Case:
    """Masks in an order Pillow does not decode (R in the low byte): refused by name."""
    rgb8 = _rng("odd").integers(0, 256, (H, W, 3), dtype=np.uint8)
    masks = (0xFF, 0xFF00, 0xFF0000)
    path = folder / "odd-bitfields.bmp"
    path.write_bytes(
        _bmp(_info_header(32, 3), b"", _fields(rgb8, masks), struct.pack("<III", *masks))
    )
    return Case(
        path, refused="Pillow cannot read this BMP file (Unsupported BMP bitfields layout)"
    )


BMP: dict[str, Callable[[Path], Case]] = {
    **{f"bmp-os2-palette-{b}bit": bmp_os2(b) for b in (1, 4, 8)},
    "bmp-bitfields-32bit": bmp_bitfields32,
    "bmp-v5-alpha": bmp_v5_alpha,
    "bmp-bitfields-565": bmp_rgb565,
    "bmp-32bit-unused-byte": bmp_unused_fourth_byte,
    "bmp-gray-palette": bmp_gray_palette,
    "bmp-refused-bitfields-layout": bmp_odd_layout,
    "bmp-truncated": truncated(".bmp", "truncated or corrupt BMP file (Pillow: image file is"),
}


# -- WebP, and the pixel limit ---------------------------------------------------------------


def webp(lossless: bool, alpha: bool) -> Callable[[Path], Case]:
    def make(folder: Path) -> Case:
        pixels = _smooth(4 if alpha else 3)
        path = folder / f"{'lossless' if lossless else 'lossy'}{'-alpha' if alpha else ''}.webp"
        Image.fromarray(pixels).save(path, lossless=lossless, quality=80, exact=True)
        expected = pixels if lossless else _pillow(path)
        return Case(path, expected, reference="the pixels written" if lossless else "Pillow")

    return make


def over_the_limit(suffix: str) -> Callable[[Path], Case]:
    """A header that claims 40000 x 40000 pixels (1.6 gigapixels), in a few bytes."""

    def make(folder: Path) -> Case:
        path = folder / f"huge{suffix}"
        if suffix == ".png":
            ihdr = struct.pack(">IIBBBBB", 40000, 40000, 8, 0, 0, 0, 0)
            idat = zlib.compress(b"\0" * 100)
            data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)
            path.write_bytes(data + _png_chunk(b"IEND", b""))
        else:
            head = struct.pack("<IiiHHIIiiII", 40, 40000, 40000, 1, 24, 0, 0, 2835, 2835, 0, 0)
            path.write_bytes(b"BM" + struct.pack("<IHHI", 64, 0, 0, 54) + head + b"\0" * 10)
        return Case(path, refused="40000 x 40000 pixels, over the limit of 1,073,741,824")

    return make


OTHER: dict[str, Callable[[Path], Case]] = {
    "webp-lossy": webp(False, False),
    "webp-lossless-alpha": webp(True, True),
    "limit-png": over_the_limit(".png"),
    "limit-bmp": over_the_limit(".bmp"),
}

DECODED = {**PNG, **JPEG, **BMP, **OTHER}
CASES: dict[str, Callable[[Path], Case]] = {**TIFF, **DECODED}


def build(name: str, folder: Path) -> Case:
    """Write case ``name`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    return CASES[name](folder)
