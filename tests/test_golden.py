"""The golden stores (tests/_golden.py): today's code writes what the reference code wrote."""

from __future__ import annotations

import json

import pytest
from _golden import GOLDEN, case_names, run_case, same

EXPECTED = json.loads(GOLDEN.read_text())


def test_every_case_has_a_golden_record() -> None:
    assert sorted(EXPECTED) == sorted(case_names())


@pytest.mark.parametrize("name", case_names())
def test_same_as_golden(name: str) -> None:
    got = run_case(name)
    want = EXPECTED[name]
    if "arrays" in want:
        assert same(got["arrays"], want["arrays"]), f"{name}: arrays differ"
        assert same(got["attrs"], want["attrs"]), f"{name}: attributes differ"
    else:
        assert same(got, want), f"{name}: {got} != {want}"


def test_same_compares_floats_to_a_tolerance_and_the_rest_exactly() -> None:
    assert same({"a": [1.0, "x"]}, {"a": [1.0 + 1e-12, "x"]})
    assert not same({"a": [1.0, "x"]}, {"a": [1.0 + 1e-6, "x"]})
    assert not same({"a": [1.0, "x"]}, {"a": [1.0, "y"]})
    assert not same({"a": 1}, {"a": 1, "b": 2})
    assert not same([1.0], [1.0, 2.0])
