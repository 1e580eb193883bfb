"""Files decoded whole (PNG, JPEG, BMP, WebP): each format by the decoder that reads it
correctly, checked on the corpus (``tests/_corpus.py``) against reference decodes, or
refused in one line naming the file."""

from __future__ import annotations

import re

import numpy as np
import pytest
import zarr
from _corpus import DECODED, build

import daskquant as dq
from daskquant._cli._main import main
from daskquant._io._decoders import jpeg_header


@pytest.mark.parametrize("name", sorted(DECODED))
def test_file_reads_as_the_reference_decodes_it(name, tmp_path):
    case = build(name, tmp_path)
    if case.expected is None:
        with pytest.raises(dq.InputError) as info:
            dq.open_image(case.path)
        message = str(info.value)
        assert message.startswith(f"{case.path}: ") and "\n" not in message, message
        assert re.search(re.escape(case.refused), message), message
        return
    got = dq.open_image(case.path).compute()
    assert got.shape == case.expected.shape, case.reference
    assert got.dtype == case.expected.dtype, case.reference
    diff = np.abs(got.astype(np.float64) - case.expected.astype(np.float64))
    assert diff.max(initial=0) <= case.tolerance, (case.reference, diff.max())


def test_jpeg_structure_scan():
    app1 = b"\xff\xe1" + (10).to_bytes(2, "big") + b"\xff\xd9" + b"\0" * 6
    sof = b"\xff\xc2\x00\x11\x08\x00\x10\x00\x18\x03" + b"\x01\x11\x00\x02\x11\x01\x03\x11\x01"
    sos = b"\xff\xda" + (4).to_bytes(2, "big") + b"\0\0"
    # An EXIF thumbnail's end marker (in APP1, before the scan) does not count.
    assert jpeg_header(b"\xff\xd8" + app1 + sof + sos + b"\x12\x34") == (False, 3, 24, 16)
    assert jpeg_header(b"\xff\xd8" + app1 + sof + sos + b"\x12\xff\xd9") == (True, 3, 24, 16)
    # Stray bytes and fill bytes between segments are skipped, as libjpeg skips them.
    stray = b"\xff\xd8" + app1 + b"\x00\x12" + sof + b"\xff\xff" + sos + b"\xff\xd9"
    assert jpeg_header(stray) == (True, 3, 24, 16)
    assert jpeg_header(b"\xff\xd8" + app1 + b"\xff\xd9")[0] is False  # no scan at all
    assert jpeg_header(b"GIF89a") == (False, 0, 0, 0)


# -- end to end: `daskquant quantize FILE OUT -k 2` ----------------------------------------

QUANTIZED = [
    "tiff-bilevel-group4",
    "tiff-bilevel-group4-miniswhite",
    "tiff-palette-1bit",
    "tiff-gray-4bit",
    "tiff-cmyk-8bit",
    "tiff-cielab-8bit",
    "tiff-rgb-extra-unspecified",
    "bmp-os2-palette-4bit",
    "bmp-bitfields-32bit",
    "jpeg-cmyk-adobe",
    "jpeg-stray-bytes-between-segments",
    "png-gray-alpha-8bit",
]
REFUSED = ["tiff-refused-mask", "tiff-refused-ycbcr-subsampled", "jpeg-truncated", "limit-png"]


@pytest.mark.parametrize("name", QUANTIZED)
def test_quantize_on_the_command_line_is_the_quantization_of_the_reference_decode(
    name, tmp_path, local_cluster, capfd
):
    case = build(name, tmp_path)
    out = tmp_path / "out.zarr"
    argv = ["quantize", str(case.path), str(out), "-k", "2", "--seed", "0", "-q"]
    assert main([*argv, "--scheduler", local_cluster.scheduler.address]) == 0, capfd.readouterr()
    store = zarr.open_group(str(out), mode="r")
    assert store.attrs["complete"] is True
    # The library on the reference decode, as an array: the same palette and labels.
    dq.quantize(case.expected, tmp_path / "ref.zarr", n_colors=2, seed=0, alpha=case.alpha)
    ref = zarr.open_group(str(tmp_path / "ref.zarr"), mode="r")
    np.testing.assert_array_equal(np.asarray(store["palette"]), np.asarray(ref["palette"]))
    np.testing.assert_array_equal(np.asarray(store["labels"]), np.asarray(ref["labels"]))


@pytest.mark.parametrize("name", REFUSED)
def test_refused_files_on_the_command_line_exit_1_and_write_nothing(
    name, tmp_path, local_cluster, capfd
):
    case = build(name, tmp_path)
    out = tmp_path / "out.zarr"
    argv = ["quantize", str(case.path), str(out), "-k", "2", "-q"]
    capfd.readouterr()
    assert main([*argv, "--scheduler", local_cluster.scheduler.address]) == 1
    last = capfd.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"daskquant: error: {case.path}: ") and case.refused in last, last
    assert not out.exists()


# -- the pixel limit -------------------------------------------------------------------------


def test_opencvs_own_limit_assertion_becomes_the_same_one_line_refusal(tmp_path):
    # A PGM header claiming 40000 x 40000: OpenCV itself refuses it (cv2.error, "Assertion
    # failed"), which daskquant reports as the limit, naming the file.
    path = tmp_path / "huge.pgm"
    path.write_bytes(b"P5\n40000 40000\n255\n" + b"\0" * 100)
    with pytest.raises(dq.InputError) as info:
        dq.open_image(path)
    message = str(info.value)
    assert message.startswith(f"{path}: the image is over the limit of 1,073,741,824 pixels")
    assert "OPENCV_IO_MAX_IMAGE_PIXELS" in message and "\n" not in message
    assert "Assertion" not in message


@pytest.mark.parametrize("name", ["png-rgb-16bit", "jpeg-cmyk-adobe", "bmp-os2-palette-8bit"])
def test_one_limit_for_every_decoder(name, tmp_path, monkeypatch):
    # OpenCV reads its variable once, at import; daskquant checks the size itself, so the
    # limit the variable sets holds for OpenCV and Pillow alike (Pillow's own, lower
    # decompression-bomb limit is not used).
    case = build(name, tmp_path)
    monkeypatch.setenv("OPENCV_IO_MAX_IMAGE_PIXELS", str(16 * 24 - 1))
    with pytest.raises(dq.InputError, match="24 x 16 pixels, over the limit of 383 pixels"):
        dq.open_image(case.path)
    monkeypatch.setenv("OPENCV_IO_MAX_IMAGE_PIXELS", str(16 * 24))
    assert dq.open_image(case.path).shape[:2] == (16, 24)
