"""Slides read through OpenSlide (MRXS, DICOM-WSI): region by region, the same pixels as
tifffile reads from a tiled TIFF both can open; without OpenSlide, one line naming the
extra."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

import daskquant as dq
from daskquant._io._slides import SLIDE_EXTRA, open_slide, slide_levels, slide_refusal
from daskquant._io._storage import location

openslide = pytest.importorskip("openslide")


def test_a_slide_is_read_region_by_region_as_openslide_reads_it(tmp_path):
    # OpenSlide's generic-tiff driver reads a tiled pyramidal TIFF: a slide that has a
    # reference decode (tifffile) to compare with.
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (200, 300, 3), np.uint8)
    path = tmp_path / "slide.tif"
    with tifffile.TiffWriter(path) as w:
        w.write(image, tile=(64, 64), metadata=None)  # levels as pages: OpenSlide reads them
        w.write(np.ascontiguousarray(image[::2, ::2]), tile=(64, 64), subfiletype=1)
    with openslide.OpenSlide(str(path)) as slide:
        assert slide.properties["openslide.vendor"] == "generic-tiff"
        reduced = np.asarray(slide.read_region((0, 0), 1, slide.level_dimensions[1]))
    np.testing.assert_array_equal(reduced[..., :3], image[::2, ::2])
    where = location(path)
    assert slide_levels(where) == 2
    got = open_slide(where, chunks=(64, 96))
    assert got.shape == (200, 300, 4) and got.numblocks == (4, 4, 1)
    out = got.compute()
    np.testing.assert_array_equal(out[..., :3], image)
    assert (out[..., 3] == 255).all()
    np.testing.assert_array_equal(open_slide(where, level=1, chunks=(30, 40)).compute(), reduced)
    with pytest.raises(dq.InvalidParameterError, match="level=2"):
        open_slide(where, level=2)


def test_a_file_openslide_cannot_read_is_refused_naming_it(tmp_path):
    path = tmp_path / "slide.mrxs"
    path.write_text("[GENERAL]\n")
    with pytest.raises(dq.InputError, match="slide.mrxs: OpenSlide cannot read"):
        dq.open_image(path)


def test_the_refusal_without_openslide_is_one_line_naming_the_extra():
    # openslide is installed here, so the refusal itself cannot be reached: check its text.
    message = slide_refusal("scans/a.mrxs")
    assert "\n" not in message and message.startswith("scans/a.mrxs: ")
    assert f"pip install '{SLIDE_EXTRA}'" in message and SLIDE_EXTRA == "daskquant[slide]"
