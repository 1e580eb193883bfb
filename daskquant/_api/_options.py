"""The options of :func:`daskquant.quantize`, declared once.

:class:`QuantizeOptions` holds them; everything else is derived from its fields: the checks
that relate options to each other (:meth:`QuantizeOptions.__post_init__`), the command
line's flags (choices from the ``Literal`` types, defaults from the field defaults, help
from the field metadata; see :mod:`daskquant._cli._parser`), the resume request recorded in
the store (:func:`resume_request`) and the store attributes that come from options
(:meth:`QuantizeOptions.label_attrs`). Adding an option is adding a field (and, if the
command line should not take it as ``--name``, a line in the parser's flag table).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, cast, get_args, get_origin, get_type_hints

import numpy as np
from numpy.typing import ArrayLike

from daskquant._api._fit import Init, Method
from daskquant._api._target import Goal
from daskquant._color._dither import Dither
from daskquant._color._spaces import ColorSpace
from daskquant._errors import InvalidParameterError
from daskquant._io._layout import check_alpha
from daskquant._store._resume import palette_token, value_token

__all__ = [
    "DEPRECATED",
    "NOT_IN_REQUEST",
    "ONLY_IF_GIVEN",
    "QuantizeOptions",
    "option_choices",
    "option_default",
    "option_fields",
    "option_help",
    "option_type",
    "resume_request",
]

# Names used by the runtime type hints of the fields (get_type_hints resolves them here).
_HINT_NAMES = {
    "ArrayLike": ArrayLike,
    "Callable": Callable,
    "Init": Init,
    "Method": Method,
    "ColorSpace": ColorSpace,
    "Dither": Dither,
    "Path": Path,
    "np": np,
    "os": os,
    "Sequence": Sequence,
}


def _help(text: str) -> dict[str, str]:
    """A field's metadata: its command-line help (``%(default)s`` is the field's default)."""
    return {"help": text}


@dataclass(frozen=True, kw_only=True)
class QuantizeOptions:
    """Every option of :func:`daskquant.quantize`, with its default; see there for what
    each one means. Options that exclude each other are refused on construction."""

    n_colors: int = field(default=16, metadata=_help("number of colors K (%(default)s)"))
    max_iter: int = field(default=20, metadata=_help("most Lloyd updates (%(default)s)"))
    epsilon: float | None = field(
        default=None,
        metadata=_help(
            "stop when no center moves more (default: 1/255 of the dtype's range in RGB, "
            "1.0 for 8-bit, 257 for 16-bit, of the data's range for floats; 0.2 in lab/din99)"
        ),
    )
    attempts: int | None = field(
        default=None,
        metadata=_help(
            "runs, the best is kept (default: up to 12 on the 8-bit histogram with the "
            "default epsilon and method, fewer for many distinct colors, the best 3 then "
            "continued to a fixed point; 8 in lab/din99; 4 otherwise; 1 with method pixels)"
        ),
    )
    init: Init | ArrayLike = field(default="k-means++", metadata=_help("seeding (%(default)s)"))
    seed: int | np.random.Generator | None = field(
        default=None, metadata=_help("random seed, for a reproducible result")
    )
    method: Method = field(default="auto", metadata=_help("fit path (%(default)s)"))
    chunks: tuple[int, ...] | int | None = field(
        default=None, metadata=_help("chunk size in pixels (per axis)")
    )
    level: int = field(
        default=0, metadata=_help("resolution level of a pyramidal input (%(default)s)")
    )
    palette: ArrayLike | str | os.PathLike[str] | None = field(
        default=None,
        metadata=_help(
            "fixed palette, no fit: hex colors, gray:N, web216, a .txt/.json/.gpl file, an "
            "indexed PNG or an earlier output store"
        ),
    )
    pin: ArrayLike | str | os.PathLike[str] | None = field(
        default=None,
        metadata=_help(
            "colors that stay in the fitted palette as given (first, in this order): hex "
            "colors or any palette SOURCE"
        ),
    )
    colorspace: ColorSpace = field(
        default="rgb",
        metadata=_help(
            "where distances are measured (%(default)s): rgb, lab, din99, or perceptual "
            "(8-bit: DIN99 k-means, labels by CIEDE2000)"
        ),
    )
    dither: Dither = field(
        default="none",
        metadata=_help(
            "ordered dithering of the labels (%(default)s); floyd-steinberg only for one chunk"
        ),
    )
    strict: bool = field(
        default=False,
        metadata=_help(
            "refuse an image with fewer distinct colors than K (by default it keeps exactly "
            "its own colors, K reduced)"
        ),
    )
    target_psnr: float | None = field(
        default=None,
        metadata=_help(
            "use the fewest colors, at most K, whose result reaches this PSNR (dB; "
            "searched on the color histogram, not a job per K)"
        ),
    )
    min_psnr: float | None = field(
        default=None,
        metadata=_help(
            "fail (exit code 3, nothing written) if even K colors stay below this PSNR (dB)"
        ),
    )
    target_deltae: float | None = field(
        default=None,
        metadata=_help(
            "use the fewest colors, at most K, whose result has at most this mean CIEDE2000"
        ),
    )
    max_deltae: float | None = field(
        default=None,
        metadata=_help(
            "fail (exit code 3, nothing written) if even K colors stay above this mean CIEDE2000"
        ),
    )
    metrics: bool | None = field(
        default=None,
        metadata=_help("report PSNR and mean CIEDE2000 (default: for images up to 16.7 MP)"),
    )
    write_image: bool = field(default=False, metadata=_help("also store the quantized image"))
    ome: bool = field(default=False, metadata=_help("write an OME-Zarr (NGFF) image"))
    overwrite: bool = field(default=False, metadata=_help("replace an existing store"))
    resume: bool = field(
        default=False,
        metadata=_help(
            "finish the store of an interrupted run of this same command: reuse its "
            "palette, write only the missing chunks"
        ),
    )
    preview: str | Path | None = field(
        default=None, metadata=_help("write a before/after picture here")
    )
    keep_store: str | Path | None = field(
        default=None,
        metadata=_help(
            "with an image OUTPUT (.png, .tif): keep the Zarr store here (by default it "
            "lives next to the image while the job runs, and is removed)"
        ),
    )
    on_iteration: Callable[[int, float], None] | None = field(default=None)
    storage_options: dict[str, Any] | None = field(
        default=None,
        metadata=_help(
            "options of the filesystem of URL inputs and outputs, as a JSON object "
            "(e.g. '{\"anon\": true}'; credentials are better left in the environment)"
        ),
        repr=False,
    )
    nodata: float | Sequence[float] | str | None = field(
        default=None,
        metadata=_help(
            "leave out pixels whose every band equals this (V, or V1,V2,V3 one per band, "
            "nan; default: a GeoTIFF's own nodata; none: not even that)"
        ),
    )
    mask: ArrayLike | str | os.PathLike[str] | None = field(
        default=None, metadata=_help("a mask image: nonzero = keep, 0 = leave out")
    )
    rgb_bands: Sequence[int] | str | None = field(
        default=None,
        metadata=_help(
            "bands shown as red, green, blue in the preview and a .png/.tif OUTPUT's colors "
            "(default: the first three; 1 or 2 bands: gray)"
        ),
    )
    alpha: int | str | None = field(
        default="auto",
        metadata=_help(
            "which band is alpha: an index, none, or auto (the file's own metadata: TIFF "
            "ExtraSamples, PNG/WebP alpha; Zarr: the last of 2 or 4 bands)"
        ),
    )

    def __post_init__(self) -> None:
        check_alpha(self.alpha)
        if self.resume and self.overwrite:
            raise InvalidParameterError(
                "resume and overwrite exclude each other: resume keeps the chunks already "
                "written, overwrite starts again"
            )
        self._check_target()
        if self.pin is not None and self.palette is not None:
            raise InvalidParameterError(
                "pin and palette exclude each other: palette fixes every color (no fit), "
                "pin fixes some colors of a fitted palette"
            )

    def _check_target(self) -> None:
        """A quality target is a positive number (dB, or CIEDE2000 units), and searches the
        fit's K."""
        names = ("target_psnr", "min_psnr", "target_deltae", "max_deltae")
        for name in names:
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not 0 < value < math.inf
            ):
                what = "a PSNR in dB" if name.endswith("psnr") else "a mean CIEDE2000"
                raise InvalidParameterError(f"{name} must be {what} (> 0), got {value!r}")
        if all(getattr(self, name) is None for name in names):
            return
        for low, high, worse in (
            ("min_psnr", "target_psnr", "above"),
            ("target_deltae", "max_deltae", "above"),
        ):
            a, b = getattr(self, low), getattr(self, high)
            if a is not None and b is not None and a > b:
                raise InvalidParameterError(
                    f"{low}={a:g} is {worse} {high}={b:g}: the limit accepted must not be "
                    "stricter than the target"
                )
        # What the search cannot vary: a palette without a fit, colors or start centers
        # given in number, dithered labels (the search measures the undithered ones).
        excluded = {
            "palette": self.palette is not None,
            "pin": self.pin is not None,
            "init": not isinstance(self.init, str),
            "dither": self.dither != "none",
        }
        for name, given in excluded.items():
            if given:
                value = getattr(self, name)
                said = f"{name}={value!r}" if isinstance(value, str) else f"{name} given"
                raise InvalidParameterError(
                    "quality targets (target_psnr, min_psnr, target_deltae, max_deltae) "
                    f"search the number of colors of a fit without dithering; they do not go "
                    f"with {said}"
                )

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> QuantizeOptions:
        """The options among ``values`` (a call's arguments; other names are ignored). A
        deprecated name (see :data:`DEPRECATED`) given a value warns and stands for its new
        name, unless that is given too."""
        given = {name: values[name] for name in option_fields() if name in values}
        for old, new in DEPRECATED.items():
            if values.get(old) is None:
                continue
            warnings.warn(f"{old}= is deprecated: use {new}=", FutureWarning, stacklevel=3)
            if given.get(new) is None:
                given[new] = values[old]
        return cls(**given)

    def label_attrs(self) -> dict[str, Any]:
        """The store's ``labels`` attribute: how pixels were assigned to the palette."""
        return {"colorspace": self.colorspace, "dither": self.dither}

    def palette_source(self) -> str:
        """The store's ``palette_source`` attribute for a fixed palette: its path or name,
        else ``"array"``."""
        given = self.palette
        return str(given) if isinstance(given, (str, os.PathLike)) else "array"

    def goal(self) -> Goal | None:
        """The quality target, if any (see :mod:`daskquant._api._target`)."""
        goal = Goal(
            target_psnr=self.target_psnr,
            min_psnr=self.min_psnr,
            target_deltae=self.target_deltae,
            max_deltae=self.max_deltae,
        )
        return None if goal == Goal() else goal

    def fit_kwargs(self) -> dict[str, Any]:
        """The keyword arguments :func:`daskquant.fit_palette` takes from these options."""
        names = (
            "max_iter",
            "epsilon",
            "attempts",
            "init",
            "seed",
            "method",
            "colorspace",
            "pin",
            "strict",
        )
        return {name: getattr(self, name) for name in (*names, "on_iteration")}


# Old names of options, still taken by quantize() (with a FutureWarning) and, as flags, by
# the command line: old name -> new name.
DEPRECATED: dict[str, str] = {"quality": "metrics"}

# Options that do not change what the store holds, so a resumed job may differ in them.
# Every other option is in the resume request (see resume_request): a new option is
# checked on resume unless it is added here, with the reason.
NOT_IN_REQUEST: dict[str, str] = {
    "metrics": "measured again by every run, resumed or not",
    "overwrite": "how to treat an existing store, not what to write",
    "resume": "how to treat an existing store, not what to write",
    "preview": "a picture outside the store",
    "keep_store": "where the store is, not what it holds",
    "on_iteration": "a progress callback",
    "rgb_bands": "which bands the preview and an image OUTPUT show, not what the store holds",
    "strict": "only refuses an image with fewer colors than K: a store it lets be written is "
    "the same without it",
    "storage_options": "how to reach the data (credentials, endpoint), not what to write; "
    "never stored (the request records each input's URL and version instead)",
}

# Options added after stores were in use: in the request only when given, so that a store
# written before them still resumes (its request lacks them) and holds the same attributes.
ONLY_IF_GIVEN = frozenset(
    {"pin", "nodata", "mask", "target_psnr", "min_psnr", "target_deltae", "max_deltae", "alpha"}
)

# How an option is named in the request, where its value itself is not plain JSON.
_TOKENS: dict[str, Callable[[Any], Any]] = {
    "init": value_token,
    "seed": value_token,
    "palette": palette_token,
    "pin": palette_token,
    "mask": palette_token,
}


def resume_request(
    options: QuantizeOptions, *, inputs: list[Any], chunks: list[list[int]]
) -> dict[str, Any]:
    """What a job is asked to do, as stored in (and compared with) its store.

    Parameters
    ----------
    options : QuantizeOptions
    inputs : list
        The inputs' fingerprint (:func:`daskquant._store._resume.input_fingerprint`).
    chunks : list of lists of int
        Each input's chunk shape as planned (it decides which chunks exist).

    Returns
    -------
    dict
        ``input`` and every option but those in :data:`NOT_IN_REQUEST`, as the JSON
        attributes read back (tuples become lists).
    """
    request: dict[str, Any] = {"input": inputs}
    for name in option_fields():
        if name in NOT_IN_REQUEST:
            continue
        if name in ONLY_IF_GIVEN and _is_default(name, getattr(options, name)):
            continue
        value = chunks if name == "chunks" else getattr(options, name)
        request[name] = _TOKENS.get(name, _plain_value)(value)
    return cast(dict[str, Any], json.loads(json.dumps(request)))


def _is_default(name: str, value: Any) -> bool:
    """Whether an option holds its default (None, or a default name such as "auto")."""
    default = option_default(name)
    return value is None if default is None else isinstance(value, str) and value == default


def _plain_value(value: Any) -> Any:
    return value


def option_fields() -> tuple[str, ...]:
    """The option names, in their order of :func:`daskquant.quantize`'s signature."""
    return tuple(f.name for f in fields(QuantizeOptions))


def option_default(name: str) -> Any:
    """The default of option ``name``."""
    return next(f.default for f in fields(QuantizeOptions) if f.name == name)


def option_help(name: str) -> str | None:
    """The command-line help of option ``name`` (None: not an option of the command line)."""
    return cast("str | None", _fields()[name].metadata.get("help"))


def option_choices(name: str) -> tuple[Any, ...] | None:
    """The values of the ``Literal`` in option ``name``'s type, or None if it has none."""
    hint = get_type_hints(QuantizeOptions, localns=_HINT_NAMES)[name]
    for part in (hint, *get_args(hint)):
        if get_origin(part) is Literal:
            return get_args(part)
    return None


def option_type(name: str) -> type:
    """What a command-line value of option ``name`` is parsed as: the first type of its
    union if that is bool, int or float (``int | None``: int), else str."""
    hint = get_type_hints(QuantizeOptions, localns=_HINT_NAMES)[name]
    first = next(t for t in (get_args(hint) or (hint,)) if t is not type(None))
    return first if first in (bool, int, float) else str


def _fields() -> dict[str, Any]:
    return {f.name: f for f in fields(QuantizeOptions)}
