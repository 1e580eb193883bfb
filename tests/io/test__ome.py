"""quantize(ome=True): NGFF 0.5 output, read back with ome-zarr-py and compared to the plain
store's labels and palette."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

import daskquant as dq
from daskquant._cli._samples import photo

ome_zarr = pytest.importorskip("ome_zarr")

from ome_zarr.io import parse_url  # noqa: E402
from ome_zarr.reader import Label, Multiscales, Reader  # noqa: E402


def read_ome(path):
    """(image levels, label levels, label colors) as ome-zarr-py's reader sees them."""
    nodes = list(Reader(parse_url(str(path)))())
    image = next(n for n in nodes if n.load(Multiscales) and not n.load(Label))
    label = next(n for n in nodes if n.load(Label))
    return (
        [np.asarray(d) for d in image.data],
        [np.asarray(d) for d in label.data],
        label.metadata["color"],
        image.metadata["axes"],
    )


@pytest.fixture(scope="module")
def rgb():
    return photo("coffee.png")[:300, :520]  # two pyramid levels: 520 -> 260 (> 256) -> 130


def test_ome_output_reads_back_with_ome_zarr_py(tmp_path, rgb):
    plain, ome = tmp_path / "plain.zarr", tmp_path / "ome.zarr"
    dq.quantize(rgb, plain, n_colors=7, seed=2, chunks=128)
    dq.quantize(rgb, ome, n_colors=7, seed=2, chunks=128, ome=True)
    ref = zarr.open_group(str(plain), mode="r")
    labels, palette = ref["labels"][:], ref["palette"][:]

    images, label_levels, colors, axes = read_ome(ome)
    assert [a["name"] for a in axes] == ["c", "y", "x"]
    assert [lv.shape for lv in label_levels] == [(300, 520), (150, 260), (75, 130)]
    for k, (image, lab) in enumerate(zip(images, label_levels, strict=True)):
        # Level k keeps every 2^k-th pixel: exact labels (palette index + 1, as 0 is
        # background), and only palette colors.
        np.testing.assert_array_equal(lab, labels[:: 2**k, :: 2**k] + 1)
        np.testing.assert_array_equal(image.transpose(1, 2, 0), palette[lab - 1])
    # image-label colors are the palette, label value i + 1 for palette color i
    # (ome-zarr-py scales rgba to [0, 1]).
    assert sorted(colors) == list(range(1, 8))
    for value, rgba in colors.items():
        np.testing.assert_allclose(np.array(rgba) * 255, [*palette[value - 1], 255])


def test_ome_metadata_is_ngff_0_5(tmp_path, rgb):
    out = tmp_path / "o.zarr"
    dq.quantize(rgb[:100, :100], out, n_colors=3, seed=0, ome=True)
    g = zarr.open_group(str(out), mode="r")
    ome = g.attrs["ome"]
    assert ome["version"] == "0.5" and g.metadata.zarr_format == 3
    datasets = ome["multiscales"][0]["datasets"]
    assert [d["path"] for d in datasets] == ["0"]
    assert g["0"].metadata.dimension_names == ("c", "y", "x")
    name = g["labels"].attrs["ome"]["labels"][0]
    assert name == "image"
    label = g[f"labels/{name}"].attrs["ome"]
    assert label["image-label"]["source"] == {"image": "../../"}
    assert g[f"labels/{name}/0"].metadata.dimension_names == ("y", "x")
    # The store is still a daskquant store: complete, with where everything is.
    assert g.attrs["complete"] is True
    (record,) = g.attrs["daskquant"]["images"]
    assert record["labels"] == [f"labels/{name}/0"] and record["image"] == ["0"]


def test_gray_ome_has_one_channel(tmp_path, rgb):
    gray = rgb[..., 1].copy()
    out = tmp_path / "g.zarr"
    dq.quantize(gray, out, n_colors=4, seed=0, ome=True)
    images, labels, _, _ = read_ome(out)
    assert images[0].shape == (1, 300, 520)
    palette = zarr.open_group(str(out), mode="r")["palette"][:]
    np.testing.assert_array_equal(images[0][0], palette[labels[0] - 1][..., 0])


def test_ome_refuses_a_stack_and_writes_nothing(tmp_path, rgb):
    stack = np.stack([rgb[:64, :64], rgb[64:128, :64]])
    with pytest.raises(dq.InvalidParameterError, match="ome=True writes 2-D images"):
        dq.quantize(stack, tmp_path / "s.zarr", n_colors=3, ome=True)
    assert not (tmp_path / "s.zarr").exists()


def test_quantized_ome_output_is_itself_a_readable_input(tmp_path, rgb):
    out = tmp_path / "o.zarr"
    dq.quantize(rgb, out, n_colors=5, seed=1, ome=True)
    palette = zarr.open_group(str(out), mode="r")["palette"][:]
    again = dq.open_image(out).compute()  # the quantized image, (y, x, c)
    colors = np.unique(again.reshape(-1, 3), axis=0)
    np.testing.assert_array_equal(colors, np.unique(palette, axis=0))
