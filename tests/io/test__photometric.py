"""TIFF images read by what their tags say: every photometric interpretation, bit depth,
planar configuration and ExtraSamples value of the corpus (``tests/_corpus.py``), against
the decode of a reference reader, or refused in one line naming the file and the model."""

from __future__ import annotations

import pickle
import re

import numpy as np
import pytest
import tifffile
from _corpus import TIFF, build

import daskquant as dq


@pytest.mark.parametrize("name", sorted(TIFF))
def test_tiff_reads_as_the_reference_decodes_it(name, tmp_path):
    case = build(name, tmp_path)
    if case.expected is None:
        with pytest.raises(dq.InputError) as info:
            dq.open_image(case.path).compute()
        message = str(info.value)
        assert message.startswith(f"{case.path}: ") and "\n" not in message, message
        assert re.search(re.escape(case.refused), message), message
        return
    arr = dq.open_image(case.path)
    got = arr.compute()
    assert got.shape == case.expected.shape, case.reference
    assert got.dtype == case.expected.dtype or case.expected.dtype.kind == "i"
    assert arr.dtype == got.dtype
    diff = np.abs(got.astype(np.float64) - case.expected.astype(np.float64))
    assert diff.max(initial=0) <= case.tolerance, (case.reference, diff.max())


def test_a_16_bit_palette_is_in_the_graph_once(tmp_path):
    # 65536 colors (384 KiB) for 16-bit indices, as daskquant's own exports of K > 256
    # write them: one copy in the graph, not one per task.
    rng = np.random.default_rng(0)
    index = rng.integers(0, 65536, (64, 96), dtype=np.uint16)
    colormap = rng.integers(0, 65536, (3, 65536), dtype=np.uint16)
    path = tmp_path / "indices16.tif"
    tifffile.imwrite(path, index, photometric="palette", colormap=colormap, tile=(16, 16))
    arr = dq.open_image(path, chunks=16)
    assert arr.npartitions == 24
    assert len(pickle.dumps(dict(arr.__dask_graph__()))) < 2 * colormap.nbytes
    np.testing.assert_array_equal(arr.compute(), colormap.T[index])


def test_decoding_runs_per_chunk_and_keeps_the_file_chunks(tmp_path):
    # A CMYK scan in tiles: still lazy, chunks still whole tiles, the sample axis whole.
    rng = np.random.default_rng(1)
    cmyk = rng.integers(0, 256, (64, 96, 4), dtype=np.uint8)
    path = tmp_path / "scan.tif"
    tifffile.imwrite(path, cmyk, photometric="separated", tile=(32, 32))
    arr = dq.open_image(path, chunks=32)
    assert arr.chunks == ((32, 32), (32, 32, 32), (3,))
    ink = 255 - cmyk.astype(int)
    expected = (ink[..., :3] * ink[..., 3:] + 127) // 255
    np.testing.assert_array_equal(arr.compute(), expected)
