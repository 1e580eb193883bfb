"""The TIFF export's pyramid: levels, shapes, colormap and values read back with tifffile
(and OpenSlide, the reader of slide viewers, where it is installed), against the store's
labels taken by stride."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import zarr

import daskquant as dq
from daskquant._store._pyramid import PYRAMID_MAX_SIDE, pyramid_shapes


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A 2100 x 1100 K = 6 store (chunks of 384) exported as TIFF: 3 levels."""
    tmp = tmp_path_factory.mktemp("pyramid")
    y, x = np.mgrid[:2100, :1100]
    rgb = np.stack([(x // 37) * 40 % 256, (y // 53) * 60 % 256, (x + y) // 300 * 20], -1)
    src = tmp / "mosaic.tif"
    tifffile.imwrite(src, rgb.astype(np.uint8), tile=(256, 256), photometric="rgb")
    out = tmp / "mosaic.zarr"
    dq.quantize(src, out, n_colors=6, seed=0, chunks=384)
    g = zarr.open_group(str(out), mode="r")
    return dq.export(out, tmp / "mosaic-6.tif"), g["labels"][:], g["palette"][:]


def test_levels_halve_until_the_longer_side_fits_in_1024() -> None:
    assert pyramid_shapes(1024, 1000) == [(1024, 1000)]
    assert pyramid_shapes(2600, 1500) == [(2600, 1500), (1300, 750), (650, 375)]
    shapes = pyramid_shapes(100_001, 7)
    assert max(shapes[-1]) <= PYRAMID_MAX_SIDE < max(shapes[-2])
    assert shapes[1] == (50_001, 4)


def test_every_level_is_a_tiled_palette_page_of_nearest_labels(exported) -> None:
    path, labels, palette = exported
    with tifffile.TiffFile(path) as tf:
        pages = list(tf.pages)
        assert [p.shape for p in pages] == [(2100, 1100), (1050, 550), (525, 275)]
        # One pyramid series (levels), as tifffile and daskquant's reader see it.
        assert len(tf.series) == 1 and len(tf.series[0].levels) == 3
        for level, page in enumerate(pages):
            assert page.is_tiled and page.photometric == tifffile.PHOTOMETRIC.PALETTE
            assert page.is_reduced == (level > 0)
            np.testing.assert_array_equal(page.colormap[:, :6].T, palette.astype(np.uint16) * 257)
            f = 2**level
            np.testing.assert_array_equal(page.asarray(), labels[::f, ::f])
    np.testing.assert_array_equal(dq.open_image(path).compute(), palette[labels])


def test_openslide_reads_the_levels(exported) -> None:
    openslide = pytest.importorskip("openslide")
    path, labels, palette = exported
    with openslide.OpenSlide(str(path)) as slide:
        assert openslide.OpenSlide.detect_format(str(path)) == "generic-tiff"
        assert slide.level_dimensions == ((1100, 2100), (550, 1050), (275, 525))
        assert slide.level_downsamples == (1.0, 2.0, 4.0)
        region = np.asarray(slide.read_region((0, 0), 2, (275, 525)).convert("RGB"))
    np.testing.assert_array_equal(region, palette[labels[::4, ::4]])


def test_slide_resolution_is_scaled_per_level(tmp_path) -> None:
    y, x = np.mgrid[:1300, :200]
    rgb = np.stack([(x // 20) * 25, (y // 30) * 5 % 256, x * 0 + 90], -1).astype(np.uint8)
    slide = tmp_path / "slide.svs"
    description = "Aperio Image Library v12.0.15\r\n200x1300 (256x256) JPEG/RGB|MPP = 0.5"
    tifffile.imwrite(slide, rgb, tile=(256, 256), description=description, photometric="rgb")
    out = tmp_path / "slide.zarr"
    dq.quantize(slide, out, n_colors=4, seed=0, chunks=256)
    with tifffile.TiffFile(dq.export(out, tmp_path / "slide-4.tif")) as tf:
        assert [p.shape for p in tf.pages] == [(1300, 200), (650, 100)]
        assert [p.tags["XResolution"].value for p in tf.pages] == [(20000, 1), (10000, 1)]
        assert all(p.tags["ResolutionUnit"].value == 3 for p in tf.pages)


def test_pyramid_goes_to_a_url_whole(exported) -> None:
    import fsspec

    path, labels, _ = exported
    store = path.with_name("mosaic.zarr")
    assert dq.export(store, "memory://pyramid/out.tif") == "memory://pyramid/out.tif"
    with fsspec.open("memory://pyramid/out.tif", "rb") as f, tifffile.TiffFile(f) as tf:
        assert len(tf.pages) == 3
        np.testing.assert_array_equal(tf.pages[2].asarray(), labels[::4, ::4])
    assert path.read_bytes() == fsspec.open("memory://pyramid/out.tif", "rb").open().read()
