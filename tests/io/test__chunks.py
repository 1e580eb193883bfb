"""The chunk policy: one meaning of ``chunks=`` for arrays, files and the command line."""

from __future__ import annotations

import numpy as np
import pytest

from daskquant._errors import InvalidParameterError
from daskquant._io._chunks import (
    aligned_chunks,
    array_chunks,
    default_chunks,
    file_chunks,
    full_chunks,
    parse_chunks,
    spatial_chunks,
)


@pytest.mark.parametrize("chunks", [64, (64, 32), np.int64(16)])
@pytest.mark.parametrize("ndim", [3, 4])
def test_a_spatial_size_means_the_same_for_arrays_and_files(chunks, ndim) -> None:
    assert array_chunks(chunks, ndim) == full_chunks(spatial_chunks(chunks), ndim)  # type: ignore[arg-type]


def test_spatial_chunks() -> None:
    assert spatial_chunks(None) is None
    assert spatial_chunks(8) == (8, 8)
    assert spatial_chunks((8, 4)) == (8, 4)
    for bad in [(8, 4, 3), 0, (True, 4), (8.0, 4)]:
        with pytest.raises(InvalidParameterError, match="give one positive size in pixels"):
            spatial_chunks(bad)  # type: ignore[arg-type]


def test_array_chunks_take_sizes_per_axis() -> None:
    assert array_chunks((64, 32, 3), 3) == (64, 32, -1)
    assert array_chunks((2, 64, 32), 4) == (2, 64, 32, -1)
    with pytest.raises(InvalidParameterError, match=r"\(2 values for this image\)"):
        array_chunks((1, 2, 3, 4), 3)


@pytest.mark.parametrize("bad", [0, True, (True, 4), (8.0, 4), 1.5, "big", "64", (8, None)])
def test_what_is_not_a_size_is_refused_alike_for_arrays_and_files(bad) -> None:
    # Refused as a parameter (not a TypeError), and never taken as a size (True is not 1).
    with pytest.raises(InvalidParameterError, match="give one positive size"):
        array_chunks(bad, 3)
    with pytest.raises(InvalidParameterError, match="give one positive size"):
        spatial_chunks(bad)


def test_file_chunks_drop_a_channel_size() -> None:
    assert file_chunks((64, 32, 3)) == (64, 32)
    assert file_chunks((64, 32)) == (64, 32)
    assert file_chunks(64) == 64 and file_chunks(None) is None


def test_parse_chunks() -> None:
    assert parse_chunks("1024") == 1024
    assert parse_chunks("1024,2048") == (1024, 2048)
    with pytest.raises(ValueError, match="expected a size in pixels"):
        parse_chunks("big")
    with pytest.raises(ValueError, match="chunk sizes must be positive"):
        parse_chunks("0,4")


def test_defaults_are_whole_tiles_of_about_the_default_size() -> None:
    assert default_chunks((100, 50, 3)) == (100, 50, 3)
    assert default_chunks((2, 50000, 50000, 1)) == (1, 4096, 4096, 1)
    h, w = aligned_chunks((10000, 10000), (256, 512))
    th, tw = default_chunks((10000, 10000, 1))[:2]
    assert h % 256 == 0 and w % 512 == 0
    assert th * tw <= h * w <= 2 * th * tw
