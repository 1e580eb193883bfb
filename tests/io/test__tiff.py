"""The per-process cache of open TIFF files: bounded, and what it evicts is closed (no file
handle left to the garbage collector), also while other reads still use it. Slides by
content: vendor TIFF files (NDPI, SCN, BIF, QPTIFF, SVS, OME-TIFF), whatever their name,
read as their main image, compared with tifffile's read of that series."""

from __future__ import annotations

import gc
import os
import struct
import warnings

import numpy as np
import pytest
import tifffile

import daskquant as dq
from daskquant._io._storage import location
from daskquant._io._tiff import _HANDLES, _identity, is_ndpi, main_series


def _tiffs(folder, n):
    paths = []
    for i in range(n):
        path = folder / f"t{i}.tif"
        tifffile.imwrite(path, np.full((32, 32, 3), i, np.uint8), tile=(16, 16))
        paths.append(path)
    return paths


def _open_handles(paths):
    """File descriptors of this process open on ``paths``."""
    names = {str(p.resolve()) for p in paths}
    fds = os.listdir("/proc/self/fd")
    found = []
    for fd in fds:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target in names:
            found.append(target)
    return found


def test_evicted_files_are_closed_not_left_to_the_garbage_collector(tmp_path):
    _HANDLES.clear()
    paths = _tiffs(tmp_path, 2 * _HANDLES.size + 3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for i, path in enumerate(paths):
            assert int(dq.open_image(path).compute().max()) == i
        gc.collect()
        assert len(_open_handles(paths)) == _HANDLES.size
        _HANDLES.clear()
        gc.collect()
    assert _open_handles(paths) == []
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_a_file_in_use_is_closed_when_its_last_read_ends(tmp_path):
    _HANDLES.clear()
    first, *others = _tiffs(tmp_path, _HANDLES.size + 2)
    key = (location(first), 0, _identity(location(first)))
    with _HANDLES.level(*key) as z:
        for path in others:  # enough to evict the first, which a read still uses
            with _HANDLES.level(location(path), 0, _identity(location(path))):
                pass
        assert _open_handles([first]) != []
        np.testing.assert_array_equal(z[:4, :4], np.zeros((4, 4, 3), np.uint8))
    assert _open_handles([first]) == []
    _HANDLES.clear()


def test_a_rewritten_file_is_opened_again_and_the_old_version_closed(tmp_path):
    _HANDLES.clear()
    (path,) = _tiffs(tmp_path, 1)
    assert int(dq.open_image(path).compute().max()) == 0
    tifffile.imwrite(path, np.full((32, 32, 3), 7, np.uint8), tile=(16, 16))
    os.utime(path, ns=(1, 2))  # another identity whatever the clock's resolution
    assert int(dq.open_image(path).compute().max()) == 7
    assert len(_open_handles([path])) == 1
    _HANDLES.clear()


_RNG = np.random.default_rng(19)
_MAIN = _RNG.integers(0, 256, (96, 128, 3), np.uint8)  # the slide
_BIG = _RNG.integers(0, 256, (160, 160, 3), np.uint8)  # a macro or label larger than it
_TILE = {"tile": (16, 16), "metadata": None}


def _half(a):
    return np.ascontiguousarray(a[::2, ::2])


def _scn(path):
    """Leica SCN: the macro image first in the XML collection, the slide (2 levels) next."""
    xml = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<scn xmlns="http://www.leica-microsystems.com/scn/2010/10/01">'
        '<collection name="slide" sizeX="1" sizeY="1">'
        '<image name="macro"><pixels sizeX="40" sizeY="48">'
        '<dimension sizeX="40" sizeY="48" r="0" ifd="0"/></pixels></image>'
        '<image name="main"><pixels sizeX="128" sizeY="96">'
        '<dimension sizeX="128" sizeY="96" r="0" ifd="1"/>'
        '<dimension sizeX="64" sizeY="48" r="1" ifd="2"/></pixels></image>'
        "</collection></scn>"
    )
    with tifffile.TiffWriter(path) as w:
        w.write(_BIG[:48, :40], description=xml, **_TILE)
        w.write(_MAIN, **_TILE)
        w.write(_half(_MAIN), **_TILE)


def _bif(path):
    """Ventana BIF: a label larger than the slide, first in the file."""
    kw = {"software": "ScanOutputManager", "extratags": [(700, 1, 0, b"<iScan/>", True)]}
    with tifffile.TiffWriter(path, bigtiff=True) as w:
        w.write(_BIG, description="Label Image", **kw, **_TILE)
        w.write(_MAIN, description="level=0 mag=40 quality=95", **kw, **_TILE)
        w.write(_half(_MAIN), description="level=1 mag=20 quality=95", **kw, **_TILE)


def _qptiff(path):
    """PerkinElmer QPTIFF: full resolution, thumbnail, reduced resolution."""
    xml = (
        '<?xml version="1.0" encoding="utf-8"?><PerkinElmer-QPI-ImageDescription>'
        "<ImageType>{}</ImageType></PerkinElmer-QPI-ImageDescription>"
    )
    kw = {"software": "PerkinElmer-QPI ImageWriter", "metadata": None}
    with tifffile.TiffWriter(path, bigtiff=True) as w:
        w.write(_MAIN, tile=(16, 16), description=xml.format("FullResolution"), **kw)
        w.write(np.ascontiguousarray(_MAIN[::8, ::8]), description=xml.format("Thumbnail"), **kw)
        w.write(_half(_MAIN), tile=(16, 16), description=xml.format("ReducedResolution"), **kw)


def _svs(path):
    """Aperio SVS: baseline, thumbnail, a reduced level, then a label larger than all."""
    desc = "Aperio Image Library v12.0.15\n128x96 [0,0 128x96] (16x16) JPEG/RGB Q=70|MPP = 0.5"
    with tifffile.TiffWriter(path) as w:
        w.write(_MAIN, description=desc, **_TILE)
        w.write(np.ascontiguousarray(_MAIN[::8, ::8]), description=desc, metadata=None)
        w.write(_half(_MAIN), description=desc, **_TILE)
        w.write(_BIG, description="Aperio label", subfiletype=1, metadata=None)


def _ome(path):
    """OME-TIFF with two images, the smaller first."""
    with tifffile.TiffWriter(path, ome=True) as w:
        w.write(_BIG[:40, :40], tile=(16, 16))
        w.write(_MAIN, tile=(16, 16))


def _ndpi(path):
    """Hamamatsu NDPI: a macro (magnification -1) larger than the slide, then the slide in
    two levels, laid out as NDPI does (tifffile cannot write it): after each IFD an 8-byte
    offset to the next one and the high halves of the tag offsets (0 in a small file)."""
    with tifffile.TiffWriter(path) as w:
        for data, mag in ((_BIG, -1.0), (_MAIN, 20.0), (_half(_MAIN), 10.0)):
            tags = [(65420, "I", 1, 1, True), (65421, "f", 1, mag, True)]
            tags.append((271, "s", 0, "Hamamatsu", True))  # Make
            w.write(data, extratags=tags, **_TILE)
    raw = bytearray(path.read_bytes())
    ifds, at = [], struct.unpack_from("<I", raw, 4)[0]
    while at:
        n = struct.unpack_from("<H", raw, at)[0]
        ifds.append(bytes(raw[at : at + 2 + 12 * n]))
        at = struct.unpack_from("<I", raw, at + 2 + 12 * n)[0]
    raw += b"\0" * (len(raw) % 2)
    places = []
    for ifd in ifds:  # copies at the end; the tags still point at the data written
        places.append(len(raw))
        raw += ifd + b"\0" * (8 + 4 * (len(ifd) - 2) // 12)
    for ifd, here, following in zip(ifds, places, places[1:], strict=False):
        struct.pack_into("<Q", raw, here + len(ifd), following)
    struct.pack_into("<Q", raw, 4, places[0])
    path.write_bytes(bytes(raw))


@pytest.mark.filterwarnings("ignore")  # tifffile: "BIF series tiles are not stitched"
@pytest.mark.parametrize(
    ("writer", "name", "kind", "flag", "levels"),
    [
        (_scn, "slide.scn", "scn", "is_scn", 2),
        (_bif, "slide.bif", "bif", "is_bif", 2),
        (_qptiff, "slide.qptiff", "qpi", "is_qpi", 2),
        (_svs, "slide.svs", "svs", "is_svs", 2),
        (_ome, "slide.ome.tif", "ome", "is_ome", 1),
        (_ndpi, "slide.ndpi", "ndpi", "is_ndpi", 2),
    ],
)
def test_a_vendor_slide_is_read_as_its_main_image_not_its_macro_or_label(
    tmp_path, writer, name, kind, flag, levels
):
    path = tmp_path / name
    writer(path)
    with tifffile.TiffFile(path) as tf:
        assert getattr(tf, flag)
        chosen = [s for s in tf.series if s.kind == kind and s.shape[:2] == _MAIN.shape[:2]]
        assert len(chosen) == 1 and len(tf.series) > 1
        expected = chosen[0].asarray()
        reduced = chosen[0].levels[-1].asarray()
    np.testing.assert_array_equal(expected, _MAIN)
    got = dq.open_image(path, chunks=(32, 48))
    np.testing.assert_array_equal(got.compute(), expected)
    assert dq.open_image(path, level=levels - 1).compute().tobytes() == reduced.tobytes()


def _far_ndpi(path):
    """:func:`_ndpi` with its IFDs moved past 4 GiB (a sparse file of a few kilobytes on
    disk), where a 32-bit reading of NDPI's 64-bit IFD offsets goes wrong."""
    _ndpi(path)
    raw = path.read_bytes()
    ifds, at = [], struct.unpack_from("<Q", raw, 4)[0]
    while at:
        n = struct.unpack_from("<H", raw, at)[0]
        size = 2 + 12 * n
        ifds.append(bytearray(raw[at : at + size + 8 + 4 * n]))
        at = struct.unpack_from("<Q", raw, at + size)[0]
    far = [2**32 + 4096 * (i + 1) for i in range(len(ifds))]
    with path.open("r+b") as f:
        for ifd, here, following in zip(ifds, far, [*far[1:], 0], strict=True):
            n = struct.unpack_from("<H", ifd, 0)[0]
            struct.pack_into("<Q", ifd, 2 + 12 * n, following)
            f.seek(here)
            f.write(ifd)
        f.seek(4)
        f.write(struct.pack("<Q", far[0]))


@pytest.mark.parametrize("name", ["slide.tif", "slide.svs", "slide"])
def test_a_renamed_ndpi_is_read_as_the_ndpi_file(tmp_path, name):
    # tifffile takes a classic TIFF named .ndpi as NDPI (64-bit offsets) and any other name
    # as a plain TIFF; the content (tag 65420 in the first IFD) decides here.
    ndpi, renamed = tmp_path / "slide.ndpi", tmp_path / name
    _far_ndpi(ndpi)
    _far_ndpi(renamed)
    assert os.path.getsize(renamed) > 2**32
    with tifffile.TiffFile(ndpi) as tf:  # the reference: tifffile on the .ndpi name
        expected = [level.asarray() for level in tf.series[main_series(tf)].levels]
    with pytest.raises(tifffile.TiffFileError, match="suspicious number of tags"):
        tifffile.TiffFile(renamed)  # tifffile alone reads the low half of the IFD offset
    with renamed.open("rb") as f, ndpi.open("rb") as g:
        assert is_ndpi(f) and is_ndpi(g)
    np.testing.assert_array_equal(expected[0], _MAIN)
    assert len(expected) == 2
    for level, want in enumerate(expected):
        for path in (ndpi, renamed):
            got = dq.open_image(path, level=level, chunks=(32, 48)).compute()
            assert got.dtype == want.dtype and got.tobytes() == want.tobytes()


def test_an_ndpi_name_without_the_flag_is_a_plain_tiff(tmp_path):
    plain = tmp_path / "slide.ndpi"  # tifffile alone would read its offsets as 64-bit
    tifffile.imwrite(plain, _MAIN, tile=(16, 16))
    with plain.open("rb") as f:
        assert not is_ndpi(f)
    np.testing.assert_array_equal(dq.open_image(plain).compute(), _MAIN)


@pytest.mark.filterwarnings("ignore")
def test_a_tiff_is_read_by_its_content_whatever_its_name(tmp_path):
    for writer, name in ((_scn, "slide.scn"), (_bif, "slide.bif"), (_svs, "slide.svs")):
        writer(tmp_path / name)
        renamed = tmp_path / f"{name}.bin"
        renamed.write_bytes((tmp_path / name).read_bytes())
        np.testing.assert_array_equal(dq.open_image(renamed).compute(), _MAIN)
    plain = tmp_path / "noname"
    tifffile.imwrite(plain, _MAIN, tile=(16, 16))
    np.testing.assert_array_equal(dq.open_image(plain).compute(), _MAIN)
    other = tmp_path / "notes.bin"
    other.write_bytes(b"not an image")
    with pytest.raises(dq.InputError, match="unknown image format"):
        dq.open_image(other)
