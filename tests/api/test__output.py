"""The output a user names: a store (.zarr, no suffix) or an image (.png, .tif, .tiff)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data
import tifffile
from PIL import Image

import daskquant as dq
from daskquant._cli import main

JOB = {"n_colors": 5, "seed": 1, "max_iter": 8}


@pytest.fixture
def png(tmp_path):
    path = tmp_path / "in.png"
    cv2.imwrite(str(path), cv2.cvtColor(skimage.data.coffee()[:80, :120], cv2.COLOR_RGB2BGR))
    return path


def test_an_image_output_is_the_export_of_the_store_and_leaves_no_store(png, tmp_path):
    out = tmp_path / "out" / "q.png"
    out.parent.mkdir()
    summary = dq.quantize(png, out, **JOB)
    assert summary.store == str(out) and "store" not in summary.extra
    assert sorted(p.name for p in out.parent.iterdir()) == ["q.png"]  # the store is gone
    dq.quantize(png, tmp_path / "ref.zarr", **JOB)
    labels = np.asarray(dq.open_store(tmp_path / "ref.zarr")["labels"])
    with Image.open(out) as im:
        assert im.mode == "P"
        np.testing.assert_array_equal(np.asarray(im), labels)


def test_keep_store_keeps_it_and_a_tiff_holds_the_labels(png, tmp_path):
    out = tmp_path / "q.tif"
    summary = dq.quantize(png, out, keep_store=tmp_path / "kept.zarr", **JOB)
    assert summary.extra["store"] == str(tmp_path / "kept.zarr")
    labels = np.asarray(dq.open_store(tmp_path / "kept.zarr")["labels"])
    np.testing.assert_array_equal(tifffile.imread(out), labels)


def test_unknown_suffix_existing_image_and_misplaced_keep_store_are_refused(png, tmp_path):
    with pytest.raises(dq.InvalidParameterError, match=r"unknown output suffix '\.jpg'.*\.zarr"):
        dq.quantize(png, tmp_path / "q.jpg", **JOB)
    (tmp_path / "taken.png").write_bytes(b"x")
    with pytest.raises(dq.StoreError, match="already exists; pass overwrite=True"):
        dq.quantize(png, tmp_path / "taken.png", **JOB)
    with pytest.raises(dq.InvalidParameterError, match="keep_store=.*only for an image output"):
        dq.quantize(png, tmp_path / "s.zarr", keep_store=tmp_path / "k.zarr", **JOB)
    with pytest.raises(dq.InvalidParameterError, match="at most 256 colors"):
        dq.quantize(png, tmp_path / "q.png", n_colors=300)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png", "taken.png"]


def test_the_command_line_names_the_output_and_the_store(png, tmp_path, capsys):
    out, kept = tmp_path / "q.tif", tmp_path / "kept.zarr"
    args = ["quantize", str(png), str(out), "-k", "4", "--seed", "0", "-q"]
    assert main([*args, "--store", str(kept)]) == 0
    assert out.is_file() and dq.open_store(kept).attrs["complete"]
    assert main(["quantize", str(png), str(tmp_path / "q.webp"), "-q"]) == 2  # usage
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown output suffix '.webp'" in err[0]
