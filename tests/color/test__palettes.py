"""Fixed palettes: every source of load_palette, and the lookup tables against brute force."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from _oracles import nearest
from numpy.typing import NDArray

import daskquant as dq
from daskquant._api import _labels
from daskquant._color._spaces import to_space

# --- sources ----------------------------------------------------------------------------


def test_hex_strings() -> None:
    np.testing.assert_array_equal(
        dq.load_palette("#1f77b4,#ff7f0e"), [[0x1F, 0x77, 0xB4], [0xFF, 0x7F, 0x0E]]
    )
    pal = dq.load_palette(" #F00  00ff00;#00f ")
    assert pal.dtype == np.uint8
    np.testing.assert_array_equal(pal, [[255, 0, 0], [0, 255, 0], [0, 0, 255]])


def test_builtins() -> None:
    gray = dq.load_palette("gray:5")
    np.testing.assert_array_equal(gray[:, 0], [0, 64, 128, 191, 255])
    assert (gray == gray[:, :1]).all()
    np.testing.assert_array_equal(dq.load_palette("grey:5"), gray)
    web = dq.load_palette("web216")
    assert web.shape == (216, 3)
    assert np.unique(web, axis=0).shape[0] == 216
    assert set(np.unique(web).tolist()) == {0, 51, 102, 153, 204, 255}
    np.testing.assert_array_equal(dq.load_palette("cube:6"), web)
    assert dq.load_palette("cube:2").shape == (8, 3)
    matplotlib_colors = pytest.importorskip("matplotlib.colors")
    tab10 = dq.load_palette("tab10")
    for got, name in zip(tab10, [f"tab:{c}" for c in _TAB10_NAMES], strict=True):
        want = np.rint(np.array(matplotlib_colors.to_rgb(name)) * 255)
        np.testing.assert_array_equal(got, want)


_TAB10_NAMES = "blue orange green red purple brown pink gray olive cyan".split()


def test_text_file(tmp_path: Path) -> None:
    path = tmp_path / "colors.txt"
    path.write_text(
        "; Paint.NET comment\n// another\n# a comment line\n\n"
        "#102030\nff0000\nFF00FF00\n1, 2, 3\n4 5 6 name\n"
    )
    np.testing.assert_array_equal(
        dq.load_palette(path),
        [[16, 32, 48], [255, 0, 0], [0, 255, 0], [1, 2, 3], [4, 5, 6]],
    )


def test_json_files(tmp_path: Path) -> None:
    a = tmp_path / "a.json"
    a.write_text(json.dumps(["#000000", "#ffffff"]))
    np.testing.assert_array_equal(dq.load_palette(a), [[0, 0, 0], [255, 255, 255]])
    b = tmp_path / "b.json"
    b.write_text(json.dumps({"colors": [[1, 2, 3], [4, 5, 6]]}))
    np.testing.assert_array_equal(dq.load_palette(str(b)), [[1, 2, 3], [4, 5, 6]])
    # A quantize summary: palette in the image's dtype, which is respected.
    c = tmp_path / "summary.json"
    c.write_text(
        json.dumps({"palette": [[0.0, 0.0, 0.0], [65535.0, 257.0, 0.0]], "dtype": "uint16"})
    )
    pal = dq.load_palette(c)
    assert pal.dtype == np.uint16
    np.testing.assert_array_equal(dq.load_palette(c, dtype=np.uint8), [[0, 0, 0], [255, 1, 0]])


def test_gimp_palette(tmp_path: Path) -> None:
    path = tmp_path / "p.gpl"
    path.write_text(
        "GIMP Palette\nName: test\nColumns: 4\n#\n  0   0   0\tBlack\n255 128   7\tOrange\n"
    )
    np.testing.assert_array_equal(dq.load_palette(path), [[0, 0, 0], [255, 128, 7]])


def test_png_palettes(tmp_path: Path) -> None:
    from PIL import Image

    colors = np.array([[10, 20, 30], [200, 100, 0], [1, 2, 3]], np.uint8)
    indexed = Image.fromarray(np.array([[0, 1], [2, 1]], np.uint8), mode="P")
    indexed.putpalette(colors.ravel().tolist())
    indexed.save(tmp_path / "indexed.png")
    np.testing.assert_array_equal(dq.load_palette(tmp_path / "indexed.png"), colors)
    # An RGB swatch: its distinct colors in order of first appearance.
    swatch = np.repeat(colors[[1, 0, 1, 2]][None], 3, axis=0)
    cv2.imwrite(str(tmp_path / "swatch.png"), swatch[..., ::-1])
    np.testing.assert_array_equal(dq.load_palette(tmp_path / "swatch.png"), colors[[1, 0, 2]])


def test_store_palette(tmp_path: Path, photo: NDArray) -> None:
    summary = dq.quantize(photo[:48, :48], tmp_path / "out.zarr", n_colors=6, seed=0)
    pal = dq.load_palette(tmp_path / "out.zarr")
    np.testing.assert_array_equal(pal, summary.palette)
    assert pal.dtype == np.uint8


def test_dtype_and_channels() -> None:
    np.testing.assert_array_equal(
        dq.load_palette("#ff8000", dtype=np.uint16), [[65535, 128 * 257, 0]]
    )
    f = dq.load_palette("#ff0033", dtype=np.float32)
    assert f.dtype == np.float32
    np.testing.assert_allclose(f, [[1.0, 0.0, 0.2]], rtol=1e-6)
    np.testing.assert_array_equal(dq.load_palette("gray:3", channels=1), [[0], [128], [255]])
    assert dq.load_palette([[0], [255]], channels=3).shape == (2, 3)
    with pytest.raises(dq.InvalidParameterError, match="gray palette"):
        dq.load_palette("#ff0000", channels=1)


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("not-a-palette", "not a palette"),
        ("missing/file.gpl", "no such file"),
        ("gray:1", "between 2 and 256"),
        ("#12345g", "not a palette"),
    ],
)
def test_bad_sources(source: str, words: str) -> None:
    with pytest.raises(dq.InvalidParameterError, match=words) as info:
        dq.load_palette(source)
    assert source in str(info.value)


def test_bad_files(tmp_path: Path) -> None:
    gpl = tmp_path / "x.gpl"
    gpl.write_text("GIMP Palette\n1 2\n")
    with pytest.raises(dq.InvalidParameterError, match=r"x\.gpl.*line 2"):
        dq.load_palette(gpl)
    js = tmp_path / "x.json"
    js.write_text("{")
    with pytest.raises(dq.InvalidParameterError, match="JSON"):
        dq.load_palette(js)
    empty = tmp_path / "x.txt"
    empty.write_text("; nothing\n")
    with pytest.raises(dq.InvalidParameterError, match="no colors"):
        dq.load_palette(empty)
    folder = tmp_path / "folder"
    folder.mkdir()
    with pytest.raises(dq.InvalidParameterError, match="daskquant store"):
        dq.load_palette(folder)


# --- applying them: lookup tables against brute force ------------------------------------


@pytest.mark.parametrize("source", ["web216", "gray:16", "tab10", "#000,#fff,#f00,#000"])
def test_named_palettes_match_brute_force(photo: NDArray, source: str) -> None:
    pal = dq.load_palette(source)
    got = dq.apply_palette(photo, pal, chunks=(50, 70)).compute()
    np.testing.assert_array_equal(got, nearest(photo, pal))


@pytest.mark.parametrize("n_colors", [7, 300])
@pytest.mark.parametrize("colorspace", ["rgb", "lab", "din99"])
def test_color_table_matches_brute_force(
    photo: NDArray, n_colors: int, colorspace: Any, counting_scheduler: Any
) -> None:
    rng = np.random.default_rng(n_colors)
    pal = rng.integers(0, 256, (n_colors, 3)).astype(np.uint8)
    pal[-1] = pal[0]  # a duplicate: the lower index wins
    with counting_scheduler(limit=0):
        labels = dq.apply_palette(photo, pal, chunks=(40, 128), colorspace=colorspace)
    got = labels.compute()
    if colorspace == "rgb":
        want = nearest(photo, pal)
    else:
        want = nearest(to_space(photo, colorspace), to_space(pal, colorspace))
    np.testing.assert_array_equal(got, want)
    assert got.dtype == (np.uint8 if n_colors <= 256 else np.uint16)


@pytest.mark.parametrize(("n_colors", "colorspace"), [(300, "rgb"), (8, "lab")])
def test_full_table_matches_brute_force(
    monkeypatch: pytest.MonkeyPatch, astronaut: NDArray, n_colors: int, colorspace: Any
) -> None:
    # Large images label through one 2^24-entry table; force it on a small one.
    monkeypatch.setattr(_labels, "GLOBAL_TABLE_PIXELS", 0)
    img = astronaut[:64, :96]
    pal = np.random.default_rng(1).integers(0, 256, (n_colors, 3)).astype(np.uint8)
    got = dq.apply_palette(img, pal, chunks=32, colorspace=colorspace).compute()
    want = (
        nearest(img, pal)
        if colorspace == "rgb"
        else nearest(to_space(img, colorspace), to_space(pal, colorspace))
    )
    np.testing.assert_array_equal(got, want)


def test_gray_and_rgba_tables(photo: NDArray) -> None:
    gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    pal = dq.load_palette("gray:5")  # (K, 3) gray colors fit a gray image
    np.testing.assert_array_equal(
        dq.apply_palette(gray, pal, chunks=45).compute(), nearest(gray[..., None], pal[:, :1])
    )
    rgba = np.concatenate([photo, np.full_like(photo[..., :1], 7)], axis=-1)
    web = dq.load_palette("web216")
    np.testing.assert_array_equal(
        dq.apply_palette(rgba, web, chunks=45).compute(), nearest(photo, web)
    )


def test_palette_reused_from_store(tmp_path: Path, photo: NDArray) -> None:
    # One palette for many jobs: fit once, then map another photo onto the stored palette.
    dq.quantize(photo, tmp_path / "first.zarr", n_colors=12, seed=3)
    other = photo[::-1, ::-1].copy()
    pal = dq.load_palette(tmp_path / "first.zarr")
    got = dq.apply_palette(other, pal).compute()
    np.testing.assert_array_equal(got, nearest(other, pal))
