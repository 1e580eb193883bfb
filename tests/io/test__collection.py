"""Collections: differently sized photos, one palette fitted over all, each image's labels in
its own array; checked against the fit of all pixels together and brute-force labels."""

from __future__ import annotations

from pathlib import Path

import cv2
import dask
import dask.array as da
import numpy as np
import pytest
import tifffile
import zarr
from _oracles import nearest
from hypothesis import given
from hypothesis import strategies as st

import daskquant as dq
from daskquant._cli._samples import photo
from daskquant._io._collection import image_names, pixel_set


@pytest.fixture
def photos(tmp_path):
    """Three photos of different sizes as PNG, JPEG and tiled TIFF in one folder."""
    folder = tmp_path / "photos"
    folder.mkdir()
    images = {
        "astronaut": photo("astronaut.png")[:160, :200],
        "coffee": photo("coffee.png")[100:220, 50:350],
        "rocket": photo("rocket.jpg")[:90, :70],
    }
    cv2.imwrite(
        str(folder / "astronaut.png"), cv2.cvtColor(images["astronaut"], cv2.COLOR_RGB2BGR)
    )
    tifffile.imwrite(folder / "coffee.tif", images["coffee"], tile=(64, 64), compression="zlib")
    cv2.imwrite(str(folder / "rocket.png"), cv2.cvtColor(images["rocket"], cv2.COLOR_RGB2BGR))
    (folder / "notes.txt").write_text("not an image: ignored")
    return folder, images


def test_one_palette_over_differently_sized_images(photos, tmp_path):
    folder, images = photos
    out = tmp_path / "c.zarr"
    s = dq.quantize(folder, out, n_colors=8, seed=4, chunks=64, write_image=True)
    g = zarr.open_group(str(out), mode="r")
    # The fit is the fit of all pixels together (order and chunking do not matter).
    everything = np.concatenate([im.reshape(-1, 1, 3) for im in images.values()])
    ref = dq.fit_palette(everything, 8, seed=4)
    np.testing.assert_array_equal(g["centers"][:], ref.centers)
    np.testing.assert_array_equal(g["counts"][:], ref.counts)
    assert s.n_pixels == everything.shape[0] and s.compactness == ref.compactness
    assert sorted(g["labels"].array_keys()) == sorted(images)
    for name, im in images.items():
        labels = g[f"labels/{name}"][:]
        assert labels.shape == im.shape[:2] and g[f"labels/{name}"].chunks == (64, 64)
        np.testing.assert_array_equal(labels, nearest(im, ref.palette))
        np.testing.assert_array_equal(g[f"image/{name}"][:], ref.palette[labels])
    records = {r["name"]: r for r in g.attrs["daskquant"]["images"]}
    assert records["coffee"]["source"] == str(folder / "coffee.tif")
    assert records["coffee"]["labels"] == ["labels/coffee"]


def test_glob_list_and_open_collection_agree(photos, tmp_path):
    folder, images = photos
    listed = [folder / "rocket.png", folder / "astronaut.png"]
    opened = dq.open_collection(listed)
    assert [name for name, _ in opened] == ["rocket", "astronaut"]  # the list's order
    np.testing.assert_array_equal(opened[0][1].compute(), images["rocket"])
    a = dq.quantize(listed, tmp_path / "a.zarr", n_colors=5, seed=1)
    b = dq.quantize(str(folder / "*.png"), tmp_path / "b.zarr", n_colors=5, seed=1)
    assert a.palette == b.palette and a.n_pixels == b.n_pixels


def test_different_channel_counts_are_refused_naming_both_files(photos, tmp_path):
    folder, _ = photos
    gray = cv2.cvtColor(photo("chelsea.png"), cv2.COLOR_RGB2GRAY)
    cv2.imwrite(str(folder / "zz_gray.png"), gray)
    out = tmp_path / "never.zarr"
    with pytest.raises(dq.InputError, match=r"zz_gray.png: has 1 channel.*astronaut.png has 3"):
        dq.quantize(folder, out, n_colors=4)
    assert not out.exists()


def test_a_bad_file_in_a_collection_writes_nothing(photos, tmp_path):
    folder, _ = photos
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    out = tmp_path / "never.zarr"
    with pytest.raises(dq.InputError, match="broken.jpg"):
        dq.quantize(folder, out, n_colors=4)
    assert not out.exists()


def test_empty_folder_and_unmatched_glob(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.md").write_text("no images")
    with pytest.raises(dq.InputError, match="empty: the folder holds no images"):
        dq.quantize(tmp_path / "empty", tmp_path / "o.zarr")
    with pytest.raises(dq.InputError, match=r"\*.png: the pattern matches no file"):
        dq.open_collection(str(tmp_path / "empty" / "*.png"))
    assert not (tmp_path / "o.zarr").exists()


def test_names_are_unique_and_valid(tmp_path):
    paths = [
        tmp_path / "a.png",
        tmp_path / "a.jpg",
        tmp_path / "b" / "a.png",
        tmp_path / "__x.tif",
    ]
    assert image_names(paths) == ["a.png", "a.jpg", "a.png-2", "x"]


@given(
    st.lists(
        st.sampled_from(["a.png", "a.jpg", "x/a.png", "__b.tif", "c.zarr", "a", "a.png-2"]),
        min_size=1,
        max_size=8,
    )
)
def test_names_are_always_unique_zarr_names(files):
    names = image_names([Path(f) for f in files])
    assert len(set(names)) == len(names)
    assert all(n and "/" not in n and not n.startswith("__") for n in names)


@pytest.mark.parametrize("chunks", [(32, 48), (64, 64), (100, 100)])
def test_pixel_set_holds_every_pixel_once_without_rechunking(chunks):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (100, 70, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (30, 90, 3), dtype=np.uint8)
    arrays = [da.from_array(a, chunks=(*chunks, 3)), da.from_array(b, chunks=(*chunks, 3))]
    pixels = pixel_set(arrays)
    assert pixels.shape == (100 * 70 + 30 * 90, 1, 3)
    assert pixels.npartitions == arrays[0].npartitions + arrays[1].npartitions
    got = pixels.compute().reshape(-1, 3)
    want = np.concatenate([a.reshape(-1, 3), b.reshape(-1, 3)])
    np.testing.assert_array_equal(
        np.unique(got, axis=0, return_counts=True)[1],
        np.unique(want, axis=0, return_counts=True)[1],
    )
    np.testing.assert_array_equal(np.sort(got, axis=0), np.sort(want, axis=0))


@pytest.mark.parametrize("method", ["auto", "pixels"])
def test_collection_of_16bit_images_fits_on_the_pixel_set(tmp_path, method):
    # No histogram path for 16-bit: the summary (auto) or the pixel path runs over the set.
    folder = tmp_path / "deep"
    folder.mkdir()
    a = photo("astronaut.png")[:64, :80].astype(np.uint16) * 257
    b = photo("coffee.png")[:50, :40].astype(np.uint16) * 257
    tifffile.imwrite(folder / "a.tif", a)
    tifffile.imwrite(folder / "b.tif", b)
    s = dq.quantize(folder, tmp_path / "d.zarr", n_colors=5, seed=0, init="random", method=method)
    g = zarr.open_group(str(tmp_path / "d.zarr"), mode="r")
    assert s.method == ("summary" if method == "auto" else method)
    centers = g["centers"][:]
    np.testing.assert_array_equal(g["labels/b"][:], nearest(b, g["palette"][:]))
    ref = dq.fit_palette(
        np.concatenate([a.reshape(-1, 1, 3), b.reshape(-1, 1, 3)]),
        5,
        seed=0,
        init="random",
        method=method,
    )
    np.testing.assert_array_equal(centers, ref.centers)  # exact integer sums: identical


def test_the_pixel_set_is_one_graph_layer_whatever_the_number_of_images():
    # dask culls a graph layer by layer, walking every key it still needs at each: with a
    # layer or more per image, the fit's graph (to_delayed, compute) cost the client
    # O(images^2). The blocks the fit reads keep the images' own tasks in the one layer.
    rng = np.random.default_rng(1)
    for n in (2, 20):
        images = [rng.integers(0, 256, (40, 50, 3), dtype=np.uint8) for _ in range(n)]
        arrays = [(da.from_array(im, chunks=(16, 32, 3)) + 0) * 1 for im in images]
        assert len(arrays[0].dask.layers) == 3  # from_array, add, multiply: three per image
        pixels = pixel_set(arrays)
        blocks = pixels.to_delayed().ravel()  # what the fit's PixelSource reads
        assert len(pixels.dask.layers) == 1 and len(blocks[0].dask.layers) == 1
        assert len(blocks) == 6 * n
        got = np.concatenate(dask.compute(*blocks)).reshape(-1, 3)
        want = [im[y : y + 16, x : x + 32] for im in images for y in (0, 16, 32) for x in (0, 32)]
        np.testing.assert_array_equal(got, np.concatenate([w.reshape(-1, 3) for w in want]))
