"""The per-process cache of open TIFF files: bounded, and what it evicts is closed (no file
handle left to the garbage collector), also while other reads still use it."""

from __future__ import annotations

import gc
import os
import warnings

import numpy as np
import tifffile

import daskquant as dq
from daskquant._io._storage import location
from daskquant._io._tiff import _HANDLES, _identity


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
