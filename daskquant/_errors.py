"""The error hierarchy: every failure daskquant reports on purpose is a ``DaskQuantError``."""

from __future__ import annotations

__all__ = [
    "DaskQuantError",
    "InputError",
    "InvalidParameterError",
    "QualityTooLowError",
    "StoreError",
    "TooFewColorsError",
]


class DaskQuantError(Exception):
    """Base class of the errors daskquant raises on purpose."""


class InvalidParameterError(DaskQuantError, ValueError):
    """An argument is out of range or of the wrong kind; the message names it."""


class InputError(DaskQuantError, ValueError):
    """The image itself cannot be quantized (shape, dtype, NaN/inf, unreadable file)."""


class TooFewColorsError(InputError):
    """The image has fewer distinct colors than the number of colors asked for."""


class StoreError(DaskQuantError, OSError):
    """The output store exists, is incomplete, or cannot be written."""


class QualityTooLowError(DaskQuantError):
    """Even the most colors allowed (``n_colors``) do not reach ``min_psnr``; nothing is
    written (the command line exits with code 3)."""
