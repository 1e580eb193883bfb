"""quantize(nodata=, mask=), apply_palette(nodata=, mask=), --nodata and --mask: masked
pixels get the reserved label exactly there, and the palette is the fit on the kept pixels."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import zarr
from _oracles import nearest
from numpy.typing import NDArray

import daskquant as dq
from daskquant._cli._main import main
from daskquant._store._store import store_attrs


def bordered(photo: NDArray[np.uint8]) -> tuple[NDArray[np.uint8], NDArray[np.bool_]]:
    """The photo with a nodata border and hole of 0 in every band; the pixels kept."""
    img = photo.copy()
    keep = np.ones(img.shape[:2], bool)
    keep[:20] = keep[:, -30:] = keep[60:70, 60:90] = False
    img[~keep] = 0
    return img, keep & ~(img == 0).all(axis=-1)


def test_quantize_labels_nodata_with_the_reserved_label(astronaut, tmp_path) -> None:
    img, keep = bordered(astronaut)
    out = tmp_path / "q.zarr"
    s = dq.quantize(
        img, out, n_colors=8, nodata=0, seed=3, chunks=64, write_image=True, metrics=False
    )
    group = zarr.open_group(out, mode="r")
    labels = np.asarray(group["labels"])
    assert store_attrs(group)["labels"]["nodata"] == 255
    np.testing.assert_array_equal(labels == 255, ~keep)
    alone = dq.fit_palette(img[keep][None], 8, seed=3)  # the kept pixels only
    np.testing.assert_array_equal(np.asarray(group["centers"]), alone.centers)
    by_palette = nearest(img[keep], alone.palette.astype(np.float64))  # the stored colors
    np.testing.assert_array_equal(labels[keep], by_palette)
    np.testing.assert_array_equal(s.counts, np.bincount(labels[keep], minlength=8))
    assert s.n_pixels == keep.sum() == sum(s.counts)
    quantized = np.asarray(group["image"])
    np.testing.assert_array_equal(quantized[~keep], img[~keep])  # masked pixels as they were
    np.testing.assert_array_equal(quantized[keep], alone.palette[labels[keep]])
    # apply_palette and a fixed-palette job label the same way, counts without the mask.
    applied = dq.apply_palette(img, alone.palette, nodata=0, chunks=50).compute()
    np.testing.assert_array_equal(applied, labels)
    fixed = dq.quantize(img, tmp_path / "f.zarr", palette=alone.palette, mask=keep, metrics=False)
    np.testing.assert_array_equal(fixed.counts, np.bincount(by_palette, minlength=8))
    with pytest.raises(dq.InvalidParameterError, match="no label for masked pixels"):
        dq.apply_palette(img, np.arange(256)[:, None].repeat(3, 1), nodata=0)


def test_cli_nodata_and_mask_files(astronaut, tmp_path, local_cluster, capsys) -> None:
    img, keep = bordered(astronaut)
    src = tmp_path / "in.png"
    cv2.imwrite(str(src), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    mask = np.full(img.shape[:2], 255, np.uint8)
    mask[:, :40] = 0
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    common = ["-k", "6", "--seed", "1", "-q", "--scheduler", local_cluster.scheduler.address]
    argv = ["quantize", str(src), str(tmp_path / "n.zarr"), "--nodata", "0,0,0", *common]
    assert main(argv) == 0
    nodata = np.asarray(zarr.open_group(tmp_path / "n.zarr", mode="r")["labels"])
    np.testing.assert_array_equal(nodata == 255, ~keep)
    argv = ["quantize", str(src), str(tmp_path / "m.zarr"), "--mask", str(tmp_path / "mask.png")]
    assert main([*argv, *common]) == 0
    group = zarr.open_group(tmp_path / "m.zarr", mode="r")
    masked = np.asarray(group["labels"])
    np.testing.assert_array_equal(masked == 255, mask == 0)
    want = dq.fit_palette(img[mask != 0][None], 6, seed=1)
    np.testing.assert_array_equal(np.asarray(group["centers"]), want.centers)
    request = store_attrs(group)["request"]
    assert "nodata" not in request and request["mask"]  # recorded only when given


def test_a_geotiff_nodata_is_used_unless_turned_off(astronaut, tmp_path) -> None:
    rasterio = pytest.importorskip("rasterio")
    img, keep = bordered(astronaut)
    path = tmp_path / "g.tif"
    from affine import Affine

    profile = {"driver": "GTiff", "width": 200, "height": 200, "count": 3, "dtype": "uint8"}
    geo = {"crs": "EPSG:32633", "transform": Affine(10.0, 0.0, 5e5, 0.0, -10.0, 5e6)}
    with rasterio.open(path, "w", nodata=0, **profile, **geo) as dst:
        dst.write(np.moveaxis(img, -1, 0))
    with rasterio.open(path) as ds:  # the reference: rasterio's own dataset mask
        np.testing.assert_array_equal(ds.dataset_mask() != 0, keep)
    s = dq.quantize(path, tmp_path / "g.zarr", n_colors=5, seed=2, metrics=False)
    labels = np.asarray(zarr.open_group(tmp_path / "g.zarr", mode="r")["labels"])
    np.testing.assert_array_equal(labels == 255, ~keep)
    assert s.n_pixels == keep.sum()
    off = dq.quantize(path, tmp_path / "o.zarr", n_colors=5, seed=2, nodata="none", metrics=False)
    assert off.n_pixels == keep.size
    group = zarr.open_group(tmp_path / "o.zarr", mode="r")
    assert "nodata" not in store_attrs(group)["labels"]
    assert (np.asarray(group["labels"]) < 5).all()


def test_the_preview_shows_masked_pixels_as_a_checkerboard(astronaut, tmp_path) -> None:
    img, keep = bordered(astronaut)
    out = tmp_path / "q.zarr"
    dq.quantize(img, out, n_colors=8, nodata=0, seed=3, chunks=64, metrics=False)
    picture = cv2.cvtColor(cv2.imread(str(dq.preview(out, tmp_path / "p.png"))), cv2.COLOR_BGR2RGB)
    h, w = img.shape[:2]
    after = picture[:h, -w:]  # the quantized half, at full size (the image is small)
    palette = np.asarray(zarr.open_group(out, mode="r")["palette"])
    labels = np.asarray(zarr.open_group(out, mode="r")["labels"])
    from daskquant._store._preview import checkerboard

    np.testing.assert_array_equal(after[~keep], checkerboard(img.shape)[~keep])
    np.testing.assert_array_equal(after[keep], palette[labels[keep]])
