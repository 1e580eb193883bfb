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
    for i, p in enumerate(paths["labels"]):
        np.testing.assert_array_equal(group[p][...], full[:: 2**i, :: 2**i])
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
    assert label_attrs["image-label"]["colors"][1] == {
        "label-value": 1,
        "rgba": [*colors[1].tolist(), 255],
    }
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
