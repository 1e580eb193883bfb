"""Which pixels a :func:`daskquant.quantize` job leaves out: ``nodata=`` (by default a
GeoTIFF's own nodata value; ``"none"`` turns it off) and ``mask=`` (an array or a mask image
file, nonzero = keep).

Each input is turned by :func:`daskquant._io._masks.masked_image` into the array the fit
and the labels see (alpha 0 where left out); the labels of the pixels left out are then the
reserved :func:`daskquant._api._labels.masked_label`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import dask.array as da

from daskquant._api._inputs import Input
from daskquant._errors import InvalidParameterError
from daskquant._io._masks import Nodata, masked_image

__all__ = ["masked_inputs"]


def masked_inputs(
    inputs: list[Input], *, nodata: Nodata, mask: Any, many: bool
) -> list[Input] | None:
    """The inputs as the fit and the labels see them (alpha 0 where left out), or None when
    no pixel of any input is masked. In a collection, every member gets an alpha channel
    (all kept where nothing is masked) so that their pixels can be pooled."""
    if mask is not None and many:
        raise InvalidParameterError("mask= is one image's mask; a collection takes nodata= only")
    keep = mask
    values = [_nodata_of(inp, nodata) for inp in inputs]
    if keep is None and all(v is None for v in values):
        return None
    out = []
    for inp, value in zip(inputs, values, strict=True):
        m = keep
        if m is None and value is None:  # a collection member with nothing to mask
            m = da.ones(inp.array.shape[:-1], bool, chunks=inp.array.chunks[:-1])
        arr, layout = masked_image(inp.array, inp.layout, nodata=value, mask=m)
        out.append(replace(inp, array=arr, layout=layout))
    return out


def _nodata_of(inp: Input, nodata: Nodata) -> Nodata:
    """The nodata value of one input: the one given, else the file's own (GeoTIFF)."""
    if isinstance(nodata, str) and nodata.lower() == "none":
        return None
    if nodata is None:
        return (inp.spatial or {}).get("nodata")
    return nodata
