"""write_ome_image: an NGFF 0.5 pyramid of image and labels that the reader opens again."""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import zarr

import daskquant as dq
from daskquant._errors import InvalidParameterError
from daskquant._store._ome import PYRAMID_MIN_SIDE, write_ome_image


def _inputs() -> tuple[da.Array, da.Array, np.ndarray]:
    rng = np.random.default_rng(3)
    colors = rng.integers(0, 256, (4, 3), np.uint8)
    labels = rng.integers(0, 4, (300, 530), np.uint8)
    image = colors[labels]
    return da.from_array(image, chunks=(128, 128, 3)), da.from_array(labels, 128), colors


def test_levels_halve_until_the_smallest_side(tmp_path: Path) -> None:
    image, labels, colors = _inputs()
    group = zarr.open_group(str(tmp_path / "o.zarr"), mode="w")
    paths, written = write_ome_image(
        group, name="img", image=image, labels=labels, colors=colors, chunks=(128, 128)
    )
    assert paths == {"image": ["0", "1", "2"], "labels": [f"labels/img/{i}" for i in range(3)]}
    assert max(group["labels/img/2"].shape) <= PYRAMID_MIN_SIDE < max(group["labels/img/1"].shape)
    assert written == sum(
        int(np.prod(group[p].cdata_shape)) for p in paths["image"] + paths["labels"]
    )
    full = np.asarray(labels)
    for i, p in enumerate(paths["labels"]):  # palette index + 1: 0 is "no data"
        np.testing.assert_array_equal(group[p][...], full[:: 2**i, :: 2**i] + 1)
        np.testing.assert_array_equal(
            np.moveaxis(group[paths["image"][i]][...], 0, -1), colors[full[:: 2**i, :: 2**i]]
        )


def test_metadata_and_reading_back(tmp_path: Path) -> None:
    image, labels, colors = _inputs()
    group = zarr.open_group(str(tmp_path / "o.zarr"), mode="w")
    write_ome_image(group, name="img", image=image, labels=labels, colors=colors, chunks=(64, 64))
    ome = group.attrs["ome"]
    assert ome["version"] == "0.5"
    assert [a["name"] for a in ome["multiscales"][0]["axes"]] == ["c", "y", "x"]
    label_attrs = group["labels/img"].attrs["ome"]
    # Label value i + 1 is palette color i: value 0, which viewers draw transparent, is
    # no color.
    assert label_attrs["image-label"]["colors"] == [
        {"label-value": i + 1, "rgba": [*c.tolist(), 255]} for i, c in enumerate(colors)
    ]
    assert group["labels"].attrs["ome"] == {"version": "0.5", "labels": ["img"]}
    np.testing.assert_array_equal(dq.open_image(tmp_path / "o.zarr").compute(), np.asarray(image))
    assert dq.open_image(tmp_path / "o.zarr", level=1).shape == (150, 265, 3)


def test_a_stack_is_refused(tmp_path: Path) -> None:
    image, labels, colors = _inputs()
    group = zarr.open_group(str(tmp_path / "o.zarr"), mode="w")
    with pytest.raises(InvalidParameterError, match="ome=True writes 2-D images"):
        write_ome_image(
            group, name="x", image=image[None], labels=labels, colors=colors, chunks=(64, 64)
        )


def _quantized_ome(tmp_path: Path, n_colors: int) -> tuple[Path, np.ndarray, np.ndarray]:
    """An OME-Zarr store of an image with exactly ``n_colors`` colors, the first of them
    (palette index 0) in a corner; its palette and labels as the store has them."""
    rng = np.random.default_rng(n_colors)
    colors = rng.choice(1 << 24, n_colors, replace=False)
    rgb = np.stack([colors >> 16, (colors >> 8) & 255, colors & 255], -1).astype(np.uint8)
    index = np.arange(40 * 64) % n_colors
    image = rgb[index.reshape(40, 64)]
    out = tmp_path / f"k{n_colors}.zarr"
    dq.quantize(image, out, n_colors=n_colors, seed=0, ome=True, chunks=32)
    group = zarr.open_group(str(out), mode="r")
    return out, group["palette"][...], group["labels/image/0"][...]


@pytest.mark.parametrize("n_colors", [3, 256])
def test_every_palette_color_has_a_label_value_other_than_zero(tmp_path, n_colors) -> None:
    out, palette, stored = _quantized_ome(tmp_path, n_colors)
    assert stored.dtype == (np.uint8 if n_colors < 256 else np.uint16)
    assert stored.min() == 1 and stored.max() == n_colors
    colors = zarr.open_group(str(out), mode="r")["labels/image"].attrs["ome"]["image-label"]
    table = {c["label-value"]: c["rgba"] for c in colors["colors"]}
    assert sorted(table) == list(range(1, n_colors + 1))
    assert all(table[i + 1] == [*palette[i].tolist(), 255] for i in range(n_colors))
    # The export and the record read palette indices back.
    dq.export(out, tmp_path / "e.tif")
    import tifffile

    np.testing.assert_array_equal(tifffile.imread(tmp_path / "e.tif"), stored - 1)


def test_ome_zarr_py_reads_the_label_colors(tmp_path) -> None:
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Label, Reader

    out, palette, stored = _quantized_ome(tmp_path, 5)
    nodes = list(Reader(parse_url(str(out / "labels" / "image")))())
    label = next(n for n in nodes if any(isinstance(s, Label) for s in n.specs))
    # ome-zarr-py's colors: label value -> RGBA in [0, 1]; 0 (background) is not one.
    got = label.metadata["color"]
    assert set(got) == {1, 2, 3, 4, 5}
    for i, rgb in enumerate(palette):
        np.testing.assert_allclose(got[i + 1], [*(rgb / 255), 1.0])
    np.testing.assert_array_equal(np.asarray(label.data[0]), stored)


def test_napari_ome_zarr_reader_shows_every_color(tmp_path) -> None:
    napari_ome_zarr = pytest.importorskip("napari_ome_zarr")
    out, palette, stored = _quantized_ome(tmp_path, 4)
    reader = napari_ome_zarr.napari_get_reader(str(out))
    layers = {kind: (data, meta) for data, meta, kind in reader(str(out))}
    data, meta = layers["labels"]
    np.testing.assert_array_equal(np.asarray(data[0]), stored)
    # napari draws label 0 as transparent background; every pixel has a value >= 1, and
    # every value is drawn in its palette color.
    assert 0 not in np.unique(np.asarray(data[0]))
    for i, rgb in enumerate(palette):
        np.testing.assert_allclose(meta["colormap"][i + 1], [*(rgb / 255), 1.0])


def _masked_ome(tmp_path: Path, n_colors: int) -> tuple[Path, np.ndarray, np.ndarray]:
    """An OME-Zarr store of an image with exactly ``n_colors`` colors (none black) and a
    black (nodata=0) band and hole; which pixels are masked, and the label image."""
    rng = np.random.default_rng(n_colors)
    colors = rng.choice(np.arange(1, 1 << 24), n_colors, replace=False)
    rgb = np.stack([colors >> 16, (colors >> 8) & 255, colors & 255], -1).astype(np.uint8)
    image = rgb[(np.arange(48 * 64) % n_colors).reshape(48, 64)]
    masked = np.zeros(image.shape[:2], bool)
    masked[:5] = masked[20:30, 40:50] = True
    image[masked] = 0
    out = tmp_path / f"m{n_colors}.zarr"
    dq.quantize(image, out, n_colors=n_colors, nodata=0, seed=0, ome=True, chunks=32)
    return out, masked, zarr.open_group(str(out), mode="r")["labels/image/0"][...]


@pytest.mark.parametrize("n_colors", [255, 300])
def test_masked_pixels_are_label_value_zero(tmp_path, n_colors) -> None:
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Label, Reader

    out, masked, stored = _masked_ome(tmp_path, n_colors)
    reserved = 255 if n_colors < 256 else 65535
    assert stored.dtype == (np.uint8 if n_colors < 256 else np.uint16)
    np.testing.assert_array_equal(stored == 0, masked)
    assert stored[~masked].min() == 1 and stored.max() == n_colors
    # ome-zarr-py: every palette color has a value 1..K; the masked pixels are background.
    nodes = list(Reader(parse_url(str(out / "labels" / "image")))())
    label = next(n for n in nodes if any(isinstance(s, Label) for s in n.specs))
    assert set(label.metadata["color"]) == set(range(1, n_colors + 1))
    np.testing.assert_array_equal(np.asarray(label.data[0]), stored)
    # The export reads the reserved label back from the label image's 0.
    import tifffile

    dq.export(out, tmp_path / "e.tif")
    np.testing.assert_array_equal(
        tifffile.imread(tmp_path / "e.tif"), np.where(masked, reserved, stored - 1)
    )


def test_napari_ome_zarr_reader_draws_masked_pixels_as_background(tmp_path) -> None:
    napari_ome_zarr = pytest.importorskip("napari_ome_zarr")
    out, masked, stored = _masked_ome(tmp_path, 255)
    reader = napari_ome_zarr.napari_get_reader(str(out))
    data, meta = next((d, m) for d, m, kind in reader(str(out)) if kind == "labels")
    shown = np.asarray(data[0])
    np.testing.assert_array_equal(shown, stored)
    np.testing.assert_array_equal(shown == 0, masked)  # napari's transparent background
    assert 0 not in meta["colormap"] and len(meta["colormap"]) >= 255


def test_256_colors_leave_no_label_for_masked_pixels(tmp_path) -> None:
    image = np.zeros((32, 32, 3), np.uint8)  # over 256 distinct colors: not kept exactly
    image[4:] = np.random.default_rng(0).integers(1, 256, (28, 32, 3), np.uint8)
    out = tmp_path / "k256.zarr"
    with pytest.raises(dq.InvalidParameterError, match="n_colors=256 leaves no label"):
        dq.quantize(image, out, n_colors=256, nodata=0, ome=True, max_iter=2)
    assert not out.exists()
