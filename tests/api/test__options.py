"""QuantizeOptions: quantize's signature, the CLI flags and the resume request follow it."""

from __future__ import annotations

import argparse
import inspect
from dataclasses import fields, replace
from typing import get_args

import numpy as np
import pytest

import daskquant as dq
from daskquant._api._fit import Init, Method
from daskquant._api._options import (
    DEPRECATED,
    NOT_IN_REQUEST,
    ONLY_IF_GIVEN,
    QuantizeOptions,
    option_choices,
    option_fields,
    resume_request,
)
from daskquant._cli._parser import build_parser, flag_names, with_flags
from daskquant._color._dither import Dither
from daskquant._color._spaces import ColorSpace


def _quantize_parser() -> argparse.ArgumentParser:
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices["quantize"]
    raise AssertionError("no quantize command")


def _actions() -> dict[str, argparse.Action]:
    return {a.dest: a for a in _quantize_parser()._actions}


def test_quantize_takes_every_option_with_its_default():
    params = inspect.signature(dq.quantize).parameters
    keywords = {n: p for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    # The deprecated names come last (each stands for an option, see DEPRECATED).
    assert list(keywords) == [*option_fields(), *DEPRECATED]
    for f in fields(QuantizeOptions):
        assert keywords[f.name].default == f.default, f.name


def test_cli_choices_are_the_literal_values():
    actions = _actions()
    for name, literal in [
        ("init", Init),
        ("method", Method),
        ("colorspace", ColorSpace),
        ("dither", Dither),
    ]:
        assert option_choices(name) == get_args(literal)
        assert tuple(actions[name].choices) == get_args(literal), name


def test_cli_defaults_and_help_are_the_options():
    actions = _actions()
    args = _quantize_parser().parse_args(["in.png", "out.zarr"])
    for f in fields(QuantizeOptions):
        if f.name == "on_iteration":  # a callback: the command line passes its own
            assert f.name not in actions
            continue
        assert getattr(args, f.name) == f.default, f.name
        assert actions[f.name].help == f.metadata["help"], f.name
    assert "--colors" in actions["n_colors"].option_strings
    assert actions["n_colors"].type is int and actions["epsilon"].type is float


def test_resume_request_holds_every_option_that_changes_the_result():
    request = resume_request(QuantizeOptions(), inputs=["in"], chunks=[[64, 64, 3]])
    assert set(NOT_IN_REQUEST) <= set(option_fields())
    asked = [n for n in option_fields() if n not in NOT_IN_REQUEST and n not in ONLY_IF_GIVEN]
    assert list(request) == ["input", *asked]
    # An option newer than the stores in use is there once it is given.
    assert "pin" in resume_request(QuantizeOptions(pin="#fff"), inputs=[], chunks=[])


# A value other than the default for every option in the request (chunks: the planned
# chunks stand for it, and are passed to resume_request).
CHANGED = {
    "n_colors": 8,
    "max_iter": 3,
    "epsilon": 0.5,
    "attempts": 2,
    "init": "random",
    "seed": 7,
    "method": "pixels",
    "level": 1,
    "palette": "web216",
    "pin": "#ffffff",
    "colorspace": "lab",
    "dither": "bayer2",
    "write_image": True,
    "ome": True,
    "nodata": 0,
    "mask": np.ones((4, 4), bool),
    "alpha": None,
    "target_psnr": 30.0,
    "min_psnr": 25.0,
    "target_deltae": 2.0,
    "max_deltae": 4.0,
}


def test_every_requested_option_is_tried():
    assert set(CHANGED) == set(option_fields()) - set(NOT_IN_REQUEST) - {"chunks"}


@pytest.mark.parametrize(("name", "value"), CHANGED.items())
def test_a_changed_option_changes_the_request(name, value):
    base = QuantizeOptions()
    kw = {"inputs": ["in"], "chunks": [[64, 64, 3]]}
    assert resume_request(replace(base, **{name: value}), **kw) != resume_request(base, **kw)


def test_arrays_in_the_request_are_hashed():
    centers = np.zeros((2, 3))
    request = resume_request(QuantizeOptions(init=centers), inputs=[], chunks=[])
    assert request["init"].startswith("array:")
    other = resume_request(QuantizeOptions(init=centers + 1), inputs=[], chunks=[])
    assert other["init"] != request["init"]


def test_deprecated_names_warn_and_stand_for_the_new_ones():
    with pytest.warns(FutureWarning, match="quality= is deprecated: use metrics="):
        assert QuantizeOptions.of({"quality": False}).metrics is False
    with pytest.warns(FutureWarning):
        assert QuantizeOptions.of({"quality": False, "metrics": True}).metrics is True
    assert QuantizeOptions.of({"quality": None}).metrics is None  # not given: no warning


def test_resume_and_overwrite_exclude_each_other():
    with pytest.raises(dq.InvalidParameterError, match="resume and overwrite exclude"):
        QuantizeOptions(resume=True, overwrite=True)


def test_flag_names_translate_parameters():
    flags = flag_names(build_parser(), "quantize")
    assert flags["n_colors"] == "--colors" and flags["write_image"] == "--write-rgb"
    assert flags["overwrite"] == "--overwrite" and flags["metrics"] == "--metrics"


def test_library_messages_get_flags_on_the_command_line():
    flags = flag_names(build_parser(), "quantize")
    said = with_flags(
        "o.zarr already exists; pass overwrite=True to replace it, or resume=True to finish it",
        flags,
    )
    assert said == (
        "o.zarr already exists; pass --overwrite to replace it, or --resume to finish it"
    )
    assert with_flags("fewer than n_colors=16; ask", flags) == "fewer than --colors 16; ask"
    assert with_flags("chunks=(0, 5): give", flags) == "--chunks 0,5: give"
    assert with_flags("level=3: a.tif has 1", flags) == "--level 3: a.tif has 1"
    # Names that are no parameter stay, and so does a switch left off.
    assert with_flags("x=1 and ome=False", flags) == "x=1 and ome=False"
