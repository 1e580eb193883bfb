"""The output a user names: a Zarr store (``.zarr`` or no suffix) or an image (``.png``,
``.tif``, ``.tiff``) exported from a store that lives next to it while the job runs (or
where ``keep_store`` says, and is kept)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from daskquant._color._palettes import MAX_COLORS
from daskquant._errors import InvalidParameterError, StoreError
from daskquant._io._collection import is_collection
from daskquant._io._storage import Location, location

__all__ = ["IMAGE_OUTPUTS", "STORE_OUTPUTS", "Output", "named_output"]

STORE_OUTPUTS = ("", ".zarr")
IMAGE_OUTPUTS = (".png", ".tif", ".tiff")
_PNG_COLORS = 256


@dataclass(frozen=True)
class Output:
    """Where a job writes: its store, and the image exported from it (None: the store is
    the output). ``keep``: the store stays when the image is written."""

    store: Location
    image: Location | None = None
    keep: bool = True

    @property
    def claims(self) -> tuple[Location, ...]:
        """What the job writes that another job must not write at the same time."""
        if self.image is None:
            return (self.store,)
        return (self.image, self.store) if self.keep else (self.image,)


def named_output(
    image: Any, store: Any, *, keep_store: Any, n_colors: int, palette: Any, overwrite: bool
) -> Output:
    """What ``store`` names, by its suffix; refuses an unknown suffix, an image output
    that exists (without ``overwrite``) or cannot hold the result.

    Raises
    ------
    InvalidParameterError, StoreError
    """
    out = location(store)
    suffix = out.suffix.lower()
    if suffix in STORE_OUTPUTS:
        if keep_store is not None:
            raise InvalidParameterError(
                f"keep_store={os.fspath(keep_store)!r}: only for an image output "
                f"({', '.join(IMAGE_OUTPUTS)}); {out} is a store already"
            )
        return Output(out)
    if suffix not in IMAGE_OUTPUTS:
        raise InvalidParameterError(
            f"{out}: unknown output suffix {out.suffix!r}; name a Zarr store (.zarr, or no "
            f"suffix) or an image ({', '.join(IMAGE_OUTPUTS)}: the labels with the palette)"
        )
    if is_collection(image):
        raise InvalidParameterError(
            f"{out}: a collection of images is written to a Zarr store (.zarr); export "
            "its images one by one afterwards with export(..., name=...)"
        )
    if suffix == ".png" and palette is None and n_colors > _PNG_COLORS:
        raise InvalidParameterError(
            f"{out}: a PNG palette holds at most {_PNG_COLORS} colors, n_colors={n_colors} "
            f"(up to {MAX_COLORS}); write a .tif instead"
        )
    if out.exists() and not overwrite:
        raise StoreError(f"{out} already exists; pass overwrite=True to replace it")
    if keep_store is not None:
        return Output(location(keep_store), out)
    return Output(out.sibling(f".{out.stem}.{os.getpid()}.zarr"), out, keep=False)
