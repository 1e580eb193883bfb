"""PNG chunk streams: the structure check, the palette reader and the indexed writer."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from daskquant._io._png import (
    FILTERS,
    SIGNATURE,
    bit_depth,
    encode_chunk,
    filter_rows,
    header_chunks,
    indexed_palette,
    pack_rows,
    stream_problem,
    write_indexed,
)


def _rgb_png() -> bytes:
    img = np.random.default_rng(0).integers(0, 256, (9, 7, 3), np.uint8)
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def _indexed(labels: np.ndarray, colors: np.ndarray, rows: int = 2) -> bytes:
    f = io.BytesIO()
    strips = [labels[y : y + rows] for y in range(0, labels.shape[0], rows)]
    write_indexed(f, labels.shape, colors, strips)
    return f.getvalue()


def test_a_whole_png_has_no_problem() -> None:
    assert stream_problem(_rgb_png()) is None


def test_problems_are_named() -> None:
    data = _rgb_png()
    assert stream_problem(b"GIF89a" + data[6:]) == "not a PNG file (no PNG signature)"
    assert "truncated PNG file" in str(stream_problem(data[: len(data) // 2]))
    broken = bytearray(data)
    broken[8 + 8] ^= 0xFF  # inside the IHDR data
    assert stream_problem(bytes(broken)) == (
        "corrupt PNG file (chunk 'IHDR' at byte 8 fails its CRC check)"
    )


def test_encode_chunk_layout() -> None:
    chunk = encode_chunk(b"tEXt", b"hello")
    assert chunk[:4] == (5).to_bytes(4, "big") and chunk[4:13] == b"tEXthello"
    assert stream_problem(SIGNATURE + chunk + encode_chunk(b"IEND", b"")) is None


@pytest.mark.parametrize("rows", [1, 2, 5])
def test_indexed_png_round_trip(rows: int) -> None:
    rng = np.random.default_rng(1)
    colors = rng.integers(0, 256, (5, 3), np.uint8)
    labels = rng.integers(0, 5, (5, 6), np.uint8)
    data = _indexed(labels, colors, rows)
    assert stream_problem(data) is None
    paletted, plte = indexed_palette(data)
    assert paletted and plte == colors.tobytes()
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(decoded[..., ::-1], colors[labels])


def test_an_rgb_png_is_not_paletted() -> None:
    assert indexed_palette(_rgb_png()) == (False, None)


def _pillow(data: bytes) -> tuple[np.ndarray, int, Image.Image]:
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return np.asarray(im), header_chunks(data)[b"IHDR"][8], im.copy()


@pytest.mark.parametrize("filtering", FILTERS)
@pytest.mark.parametrize(("k", "bits"), [(2, 1), (3, 2), (4, 2), (5, 4), (16, 4), (17, 8)])
@pytest.mark.parametrize("width", [1, 3, 7, 9, 13])
def test_low_bit_depths_read_back_with_pillow(k: int, bits: int, width: int, filtering: str):
    """Packed rows end in padding bits when the width is not a multiple of 8 / bits; the
    rows (and the row above the first of each strip, for the filters) cross strips."""
    rng = np.random.default_rng(k * 100 + width)
    colors = rng.integers(0, 256, (k, 3), np.uint8)
    labels = rng.integers(0, k, (11, width), np.uint8)
    labels[4:7] = labels[3]  # repeated rows: 'up' filters win there
    f = io.BytesIO()
    strips = [labels[y : y + 3] for y in range(0, 11, 3)]
    write_indexed(f, labels.shape, colors, strips, filtering=filtering)
    decoded, depth, im = _pillow(f.getvalue())
    assert depth == bits == bit_depth(k)
    np.testing.assert_array_equal(decoded, labels)
    assert np.asarray(im.convert("RGB")).tolist() == colors[labels].tolist()


def test_adaptive_filtering_uses_every_filter_and_pillow_reverses_them() -> None:
    rng = np.random.default_rng(3)
    rows = np.cumsum(rng.integers(0, 3, (40, 64)), axis=1).astype(np.uint8)  # gradients
    rows[10:20] = rng.integers(0, 256, (10, 64))
    out = filter_rows(rows, np.zeros(64, np.uint8))
    assert set(out[:, 0]) >= {0, 1, 2}
    f = io.BytesIO()
    write_indexed(f, rows.shape, np.zeros((256, 3), np.uint8), [rows], filtering="adaptive")
    np.testing.assert_array_equal(_pillow(f.getvalue())[0], rows)


def test_pack_rows_matches_numpy_packbits() -> None:
    bits = np.random.default_rng(4).integers(0, 2, (5, 13), np.uint8)
    np.testing.assert_array_equal(pack_rows(bits, 1), np.packbits(bits, axis=1))


def test_per_entry_alpha_is_a_short_trns_chunk() -> None:
    colors = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [9, 9, 9]], np.uint8)
    labels = np.array([[0, 1, 2, 3, 3]], np.uint8)
    f = io.BytesIO()
    write_indexed(f, labels.shape, colors, [labels], alpha=np.array([255, 0, 128, 255]))
    assert header_chunks(f.getvalue())[b"tRNS"] == bytes([255, 0, 128])
    rgba = np.asarray(_pillow(f.getvalue())[2].convert("RGBA"))
    assert rgba[0, :, 3].tolist() == [255, 0, 128, 255, 255]
    assert rgba[0, :, :3].tolist() == colors[labels[0]].tolist()
    opaque = io.BytesIO()
    write_indexed(opaque, labels.shape, colors, [labels], alpha=np.full(4, 255, np.uint8))
    assert b"tRNS" not in header_chunks(opaque.getvalue())
    with pytest.raises(ValueError, match="alpha has shape"):
        write_indexed(io.BytesIO(), labels.shape, colors, [labels], alpha=np.zeros(3))
