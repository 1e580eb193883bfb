"""The engine's Dask wiring: results combined in a tree of fixed fan-in."""

from __future__ import annotations

import dask
import numpy as np

from daskquant._engine._dask import FAN_IN, share_once, tree_reduce


def _combine(*parts: tuple[int, int]) -> tuple[int, int]:
    assert len(parts) <= FAN_IN
    return sum(p[0] for p in parts), max(p[1] for p in parts) + 1  # (sum, tree depth)


def test_tree_reduce_has_fixed_fan_in_and_logarithmic_depth() -> None:
    for n in (1, 7, 8, 9, 64, 65, 600):
        parts = [dask.delayed((i, 0)) for i in range(n)]
        total, depth = dask.compute(tree_reduce(parts, _combine), scheduler="sync")[0]
        assert total == n * (n - 1) // 2
        want = 0
        while FAN_IN**want < n:
            want += 1
        assert depth == want, n


def test_share_once_without_a_client_is_one_delayed_key() -> None:
    table = np.arange(10)
    shared = share_once(table)
    assert len(shared.dask) == 1
    np.testing.assert_array_equal(shared.compute(scheduler="sync"), table)
