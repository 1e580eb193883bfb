"""Color codes: every color of a low-bit image packed into one integer.

An 8-bit image of at most 3 channels has at most 2^24 distinct colors, so a color is a
code ``r << 16 | g << 8 | b``:
the histogram of an image is a sparse table of codes and counts, and labels come from a
table indexed by code. :class:`ColorCoding` is the one place that knows the layout of a
code (bits per channel, channels, code dtype, number of codes); the numba kernels of
:mod:`._kernels` that encode, count and look up are chosen through it. Which images have
a coding is the table ``_BITS`` (8 bits per channel today; a 16-bit fast path is a row
there and its kernels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from daskquant._engine import _kernels as K

__all__ = ["MAX_CODED_CHANNELS", "ColorCoding", "coding_for"]

MAX_CODED_CHANNELS = 3  # 8-bit RGB: 2^24 codes; a fourth channel would make 2^32

# Bits per channel of the pixel dtypes that have color codes (and kernels for them).
_BITS = {np.dtype(np.uint8): K.CODE_BITS}


@dataclass(frozen=True)
class ColorCoding:
    """How the colors of 1 to 3 channels of ``bits`` bits each are packed into codes.

    Examples
    --------
    >>> rgb = ColorCoding(3)
    >>> rgb.bins, rgb.dtype
    (16777216, dtype('uint32'))
    >>> codes = rgb.encode(np.array([[1, 2, 3], [255, 0, 0]], np.uint8))
    >>> codes.tolist(), rgb.decode(codes).tolist()
    ([66051, 16711680], [[1, 2, 3], [255, 0, 0]])
    """

    channels: int
    bits: int = K.CODE_BITS

    def __post_init__(self) -> None:
        if self.bits not in _BITS.values() or not 1 <= self.channels <= MAX_CODED_CHANNELS:
            raise ValueError(
                f"no color codes for {self.channels} channel(s) of {self.bits} bits; "
                f"codes exist for 1 to {MAX_CODED_CHANNELS} channels of "
                f"{sorted(set(_BITS.values()))} bits"
            )

    @property
    def bins(self) -> int:
        """How many codes there are: every color the channels can hold."""
        return K.code_bins(self.channels)

    @property
    def dtype(self) -> np.dtype:
        """The dtype of the codes."""
        return np.dtype(np.uint32)

    def encode(self, pixels: NDArray[np.uint8]) -> NDArray[np.uint32]:
        """(N, channels) pixels -> (N,) codes."""
        return K.color_codes(np.ascontiguousarray(pixels))

    def decode(self, codes: NDArray[np.uint32]) -> NDArray[np.uint8]:
        """(M,) codes -> (M, channels) colors; the inverse of :meth:`encode`."""
        return K.decode_colors(codes, self.channels)

    def code_range(self, start: int, stop: int) -> NDArray[np.uint32]:
        """The codes ``start`` to ``stop - 1``, in order."""
        return np.arange(start, stop, dtype=self.dtype)

    def histogram(
        self, pixels: NDArray[np.uint8], mask: NDArray[np.uint8] | None = None
    ) -> tuple[NDArray[np.uint32], NDArray[np.int64]]:
        """(sorted codes, counts) of the distinct colors of (N, channels) pixels."""
        return K.sparse_histogram(np.ascontiguousarray(pixels), mask)

    def merge(
        self, parts: list[tuple[NDArray[np.uint32], NDArray[np.int64]]]
    ) -> tuple[NDArray[np.uint32], NDArray[np.int64]]:
        """Sum histograms of :meth:`histogram` into one."""
        return K.merge_histograms(parts, self.channels)

    def table(self, codes: NDArray[np.uint32], values: NDArray, dtype: np.dtype) -> NDArray:
        """A dense table of every code: ``values`` at ``codes``, 0 elsewhere."""
        table = np.zeros(self.bins, dtype)
        table[codes] = values
        return table

    def lookup(self, pixels: NDArray[np.uint8], table: NDArray) -> NDArray:
        """``table[encode(pixels)]``, in one pass over (N, channels) pixels."""
        return K.lookup_labels(pixels, table)


def coding_for(dtype: np.dtype | type, channels: int) -> ColorCoding | None:
    """The color coding of an image's pixels, or None where colors have no codes (other
    dtypes, more than 3 clustered channels): then no exact histogram applies."""
    bits = _BITS.get(np.dtype(dtype))
    if bits is None or not 1 <= channels <= MAX_CODED_CHANNELS:
        return None
    return ColorCoding(channels, bits)
