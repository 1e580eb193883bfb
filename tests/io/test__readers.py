"""open_image: real files of every format written here, read back lazily, checked against
the writing library's own reader (or the array written)."""

from __future__ import annotations

import pickle

import cv2
import dask
import dask.array as da
import numpy as np
import pytest
import tifffile
import zarr

import daskquant as dq
from daskquant._cli._samples import photo
from daskquant._io._decoders import jpeg_header

ASTRONAUT = photo("astronaut.png")  # 512 x 512 RGB


def bgr(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR if rgb.shape[-1] == 3 else cv2.COLOR_RGBA2BGRA)


@pytest.fixture(scope="module")
def pyramid_tiff(tmp_path_factory: pytest.TempPathFactory):
    """A pyramidal BigTIFF, JPEG tiles of 128 x 128, levels 512, 256 and 128 (SubIFDs)."""
    path = tmp_path_factory.mktemp("tiff") / "scan.tif"
    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        opts = {"tile": (128, 128), "compression": "jpeg", "photometric": "rgb"}
        tw.write(ASTRONAUT, subifds=2, **opts)
        tw.write(ASTRONAUT[::2, ::2], subfiletype=1, **opts)
        tw.write(ASTRONAUT[::4, ::4], subfiletype=1, **opts)
    return path


# -- TIFF ----------------------------------------------------------------------------------


@pytest.mark.parametrize("level", [0, 1, 2])
def test_pyramidal_jpeg_bigtiff_reads_each_level_like_tifffile(pyramid_tiff, level):
    arr = dq.open_image(pyramid_tiff, level=level)
    ref = tifffile.imread(pyramid_tiff, level=level)
    assert isinstance(arr, da.Array) and arr.shape == ref.shape and arr.dtype == np.uint8
    np.testing.assert_array_equal(arr.compute(), ref)
    # JPEG tiles really hold the photo (lossy, but close).
    assert np.abs(ref.astype(int) - ASTRONAUT[:: 2**level, :: 2**level]).mean() < 6


def test_tiff_chunks_are_whole_tiles_and_the_graph_carries_no_open_file(pyramid_tiff):
    arr = dq.open_image(pyramid_tiff, chunks=200)  # asked for: used as given
    assert arr.chunks[:2] == ((200, 200, 112), (200, 200, 112))
    arr = dq.open_image(pyramid_tiff)
    assert all(c % 128 == 0 for c in arr.chunks[0][:-1] + arr.chunks[1][:-1])
    # The tifffile Zarr store holds a lock and cannot be pickled; the graph must not hold it.
    graph = dict(arr.__dask_graph__())
    pickle.loads(pickle.dumps(graph))


def test_tiled_zlib_planar_tiff_becomes_rgb_last(tmp_path):
    path = tmp_path / "planar.tif"
    planes = np.ascontiguousarray(ASTRONAUT.transpose(2, 0, 1))
    tifffile.imwrite(
        path, planes, tile=(64, 64), compression="zlib", photometric="rgb", planarconfig="separate"
    )
    arr = dq.open_image(path)
    np.testing.assert_array_equal(arr.compute(), ASTRONAUT)
    assert arr.chunks[2] == (3,)


def test_strip_tiff_16bit_gray_reads_exactly(tmp_path):
    gray = (cv2.cvtColor(ASTRONAUT, cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257)[:300, :200]
    path = tmp_path / "gray16.tiff"
    tifffile.imwrite(path, gray, rowsperstrip=16, compression="zlib")
    arr = dq.open_image(path)
    assert arr.shape == (300, 200) and arr.dtype == np.uint16
    assert all(c % 16 == 0 for c in arr.chunks[0][:-1])
    np.testing.assert_array_equal(arr.compute(), gray)


def test_palette_tiff_reads_as_its_colors(tmp_path):
    index = (np.arange(64 * 80) % 5).astype(np.uint8).reshape(64, 80)
    colors = np.array([[0, 0, 0], [255, 0, 0], [0, 128, 0], [10, 20, 30], [255, 255, 255]])
    colormap = np.zeros((3, 256), np.uint16)
    colormap[:, :5] = colors.T * 257
    path = tmp_path / "pal.tif"
    tifffile.imwrite(path, index, photometric="palette", colormap=colormap, tile=(32, 32))
    arr = dq.open_image(path)
    assert arr.dtype == np.uint8
    np.testing.assert_array_equal(arr.compute(), colors[index])


def test_truncated_tiff_is_refused_naming_the_file(pyramid_tiff, tmp_path):
    cut = tmp_path / "cut.tif"
    data = pyramid_tiff.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(dq.InputError, match="cut.tif"):
        dq.open_image(cut)


def test_corrupt_tile_data_fails_naming_the_file(tmp_path):
    path = tmp_path / "bad.tif"
    tifffile.imwrite(path, ASTRONAUT[:128, :128], tile=(64, 64), compression="zlib")
    with tifffile.TiffFile(path) as tf:
        offset = tf.pages[0].dataoffsets[1]
    data = bytearray(path.read_bytes())
    data[offset : offset + 40] = b"\xff" * 40  # not a deflate stream any more
    path.write_bytes(bytes(data))
    arr = dq.open_image(path)  # the header is fine: the damage shows when tiles are read
    with pytest.raises(dq.InputError, match="bad.tif: cannot decode"):
        arr.compute()


def test_opening_reads_no_pixels(pyramid_tiff, tmp_path, counting_scheduler):
    z = tmp_path / "lazy.zarr"
    zarr.create_array(str(z), data=ASTRONAUT, chunks=(128, 128, 3))
    with counting_scheduler(limit=0):
        dq.open_image(pyramid_tiff)
        dq.open_image(pyramid_tiff, level=2)
        dq.open_image(z)


def test_level_out_of_range(pyramid_tiff):
    with pytest.raises(dq.InvalidParameterError, match="3 resolution level"):
        dq.open_image(pyramid_tiff, level=3)


def test_tiff_is_read_on_worker_processes(pyramid_tiff, local_cluster):
    # Workers open the file themselves: the store never travels.
    arr = dq.open_image(pyramid_tiff, chunks=128)
    with dask.config.set(scheduler=local_cluster.get):
        total = int(arr.sum(dtype=np.int64).compute())
    assert total == int(tifffile.imread(pyramid_tiff).sum(dtype=np.int64))


# -- OpenCV formats ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "image"),
    [
        (".png", ASTRONAUT[:100, :120]),
        (
            ".png",
            np.dstack(
                [ASTRONAUT[:100, :120], np.arange(120, dtype=np.uint8)[None].repeat(100, 0)]
            ),
        ),
        (".png", ASTRONAUT[:100, :120, 0]),
        (".png", ASTRONAUT[:100, :120].astype(np.uint16) * 257),
        (".bmp", ASTRONAUT[:100, :120]),
        (".webp", ASTRONAUT[:100, :120]),
        (".tif", ASTRONAUT[:100, :120].astype(np.uint16) * 250),
    ],
    ids=["rgb8", "rgba8", "gray8", "rgb16", "bmp", "webp", "tiff16"],
)
def test_lossless_files_come_back_exactly_in_rgb_order(tmp_path, suffix, image):
    path = tmp_path / f"img{suffix}"
    params = [cv2.IMWRITE_WEBP_QUALITY, 101] if suffix == ".webp" else []  # 101: lossless
    assert cv2.imwrite(str(path), bgr(image) if image.ndim == 3 else image, params)
    arr = dq.open_image(path)
    assert arr.dtype == image.dtype and arr.shape == image.shape
    np.testing.assert_array_equal(arr.compute(), image)


def test_gray_jpeg_stays_gray(tmp_path):
    gray = cv2.cvtColor(ASTRONAUT, cv2.COLOR_RGB2GRAY)
    path = tmp_path / "gray.jpeg"
    assert cv2.imwrite(str(path), gray)
    arr = dq.open_image(path)
    assert arr.shape == gray.shape
    np.testing.assert_array_equal(arr.compute(), cv2.imread(str(path), cv2.IMREAD_GRAYSCALE))


def test_jpeg_is_rgb_and_matches_opencv(tmp_path):
    path = tmp_path / "photo.jpg"
    assert cv2.imwrite(str(path), bgr(ASTRONAUT))
    arr = dq.open_image(path).compute()
    np.testing.assert_array_equal(arr, cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB))
    # Red suit stays red: channel order is RGB, not OpenCV's BGR.
    assert arr[400:450, 100:150, 0].mean() > arr[400:450, 100:150, 2].mean() + 50


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_truncated_image_files_are_refused(tmp_path, suffix):
    path = tmp_path / f"cut{suffix}"
    assert cv2.imwrite(str(path), bgr(ASTRONAUT))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(dq.InputError, match=f"cut{suffix}: truncated"):
        dq.open_image(path)


def test_jpeg_end_marker_is_searched_after_the_scan_header():
    # An EXIF thumbnail's end marker (in APP1, before the scan) does not count.
    app1 = b"\xff\xe1" + (10).to_bytes(2, "big") + b"\xff\xd9" + b"\0" * 6
    sos = b"\xff\xda" + (4).to_bytes(2, "big") + b"\0\0"
    assert not jpeg_header(b"\xff\xd8" + app1 + sos + b"\x12\x34")[0]
    assert jpeg_header(b"\xff\xd8" + app1 + sos + b"\x12\x34\xff\xd9")[0]
    assert not jpeg_header(b"GIF89a")[0]


def test_bad_paths_name_the_file(tmp_path):
    with pytest.raises(dq.InputError, match="nothing.png: no such file"):
        dq.open_image(tmp_path / "nothing.png")
    (tmp_path / "a.gif").write_bytes(b"GIF89a")
    with pytest.raises(dq.InputError, match="a.gif: unknown image format"):
        dq.open_image(tmp_path / "a.gif")
    (tmp_path / "fake.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    with pytest.raises(dq.InputError, match="fake.jpg"):
        dq.open_image(tmp_path / "fake.jpg")
    (tmp_path / "folder").mkdir()
    with pytest.raises(dq.InputError, match="folder: is a folder but not a Zarr store"):
        dq.open_image(tmp_path / "folder")


# -- Zarr and OME-Zarr ---------------------------------------------------------------------


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_zarr_arrays_v2_and_v3(tmp_path, zarr_format):
    path = tmp_path / f"v{zarr_format}.zarr"
    z = zarr.create_array(
        str(path),
        shape=ASTRONAUT.shape,
        chunks=(64, 64, 3),
        dtype=np.uint8,
        zarr_format=zarr_format,
    )
    z[:] = ASTRONAUT
    arr = dq.open_image(path)
    np.testing.assert_array_equal(arr.compute(), ASTRONAUT)
    # Whole Zarr chunks, grouped: never one task per 64 x 64 chunk.
    assert arr.numblocks[:2] == (1, 1)


def test_small_zarr_chunks_are_grouped_into_large_aligned_ones(tmp_path):
    z = zarr.create_array(
        str(tmp_path / "big.zarr"), shape=(6000, 5000), chunks=(100, 100), dtype=np.uint8
    )
    arr = dq.open_image(tmp_path / "big.zarr")
    sizes = [arr.chunks[0][0], arr.chunks[1][0]]
    assert all(s % 100 == 0 for s in sizes)
    assert sizes[0] * sizes[1] >= 1 << 20  # at least a megapixel a task
    assert arr.npartitions < 64
    del z


def test_zarr_group_that_is_not_an_image_lists_its_arrays(tmp_path):
    g = zarr.open_group(str(tmp_path / "g.zarr"), mode="w")
    g.create_array("a", shape=(8, 8), dtype=np.uint8)
    g.create_array("b", shape=(8, 8), dtype=np.uint8)
    with pytest.raises(dq.InputError, match="image arrays: a, b"):
        dq.open_image(tmp_path / "g.zarr")


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_ome_zarr_written_by_ome_zarr_py(tmp_path, version):
    from ome_zarr.format import FormatV04, FormatV05
    from ome_zarr.writer import write_image

    fmt = FormatV05() if version == "0.5" else FormatV04()
    path = tmp_path / "ome.zarr"
    root = zarr.open_group(str(path), mode="w", zarr_format=3 if version == "0.5" else 2)
    cyx = np.ascontiguousarray(ASTRONAUT.transpose(2, 0, 1))
    write_image(cyx, root, axes="cyx", fmt=fmt, storage_options={"chunks": (3, 128, 128)})
    arr = dq.open_image(path)
    np.testing.assert_array_equal(arr.compute(), ASTRONAUT)
    attrs = root.attrs.asdict()
    level1_path = attrs.get("ome", attrs)["multiscales"][0]["datasets"][1]["path"]
    level1 = dq.open_image(path, level=1)
    np.testing.assert_array_equal(
        level1.compute(), np.asarray(root[level1_path]).transpose(1, 2, 0)
    )


def test_ome_zarr_gray_with_time_and_z_of_size_one(tmp_path):
    from ome_zarr.format import FormatV05
    from ome_zarr.writer import write_image

    gray = cv2.cvtColor(ASTRONAUT, cv2.COLOR_RGB2GRAY)
    root = zarr.open_group(str(tmp_path / "t.zarr"), mode="w")
    write_image(gray[None, None, None], root, axes="tczyx", fmt=FormatV05())
    arr = dq.open_image(tmp_path / "t.zarr")
    assert arr.shape == gray.shape
    np.testing.assert_array_equal(arr.compute(), gray)
    root2 = zarr.open_group(str(tmp_path / "z.zarr"), mode="w")
    write_image(np.stack([gray, gray]), root2, axes="zyx", fmt=FormatV05())
    with pytest.raises(dq.InputError, match="2 positions on axis 'z'"):
        dq.open_image(tmp_path / "z.zarr")


# -- every reader quantizes ----------------------------------------------------------------


def test_each_format_quantizes_to_the_same_palette_as_its_pixels(tmp_path):
    # The same pixels through four readers: one fit each, all equal to the fit of the array.
    crop = ASTRONAUT[:128, :160]
    paths = {"png": tmp_path / "c.png", "zarr": tmp_path / "c.zarr", "tif": tmp_path / "c.tif"}
    cv2.imwrite(str(paths["png"]), bgr(crop))
    zarr.create_array(str(paths["zarr"]), data=crop, chunks=(64, 64, 3))
    tifffile.imwrite(paths["tif"], crop, tile=(64, 64), compression="zlib")
    ref = dq.fit_palette(crop, 6, seed=5)
    for name, path in paths.items():
        s = dq.quantize(path, tmp_path / f"{name}.out.zarr", n_colors=6, seed=5)
        np.testing.assert_array_equal(np.asarray(s.palette), ref.palette, err_msg=name)
