"""PNG chunk streams: the structure check, the palette reader and the indexed writer."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest

from daskquant._io._png import (
    SIGNATURE,
    encode_chunk,
    indexed_palette,
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
