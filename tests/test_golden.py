"""The golden stores (tests/_golden.py): today's code writes what the reference code wrote."""

from __future__ import annotations

import json

import pytest
from _golden import GOLDEN, case_names, run_case

EXPECTED = json.loads(GOLDEN.read_text())


def test_every_case_has_a_golden_record() -> None:
    assert sorted(EXPECTED) == sorted(case_names())


@pytest.mark.parametrize("name", case_names())
def test_same_as_golden(name: str) -> None:
    got = run_case(name)
    want = EXPECTED[name]
    if "arrays" in want:
        assert got["arrays"] == want["arrays"], f"{name}: arrays differ"
        assert got["attrs"] == want["attrs"], f"{name}: attributes differ"
    else:
        assert got == want
