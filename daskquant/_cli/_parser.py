"""The ``daskquant`` argument parser. The flags of ``quantize`` (and those ``demo`` shares)
are derived from :class:`daskquant._api._options.QuantizeOptions`: each option is ``--name``
(``--max-iter`` for ``max_iter``) unless :data:`_SPELLINGS` says otherwise, its choices
are the values of its ``Literal`` type, its default and help those of its field.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from daskquant import __version__
from daskquant._api._options import (
    DEPRECATED,
    option_choices,
    option_default,
    option_fields,
    option_help,
    option_type,
)
from daskquant._io._chunks import parse_chunks

__all__ = ["DEPRECATIONS", "build_parser", "flag_names", "with_flags"]

# Options spelled otherwise than --name on the command line (the first is the main one).
_SPELLINGS: dict[str, tuple[str, ...]] = {
    "n_colors": ("-k", "--colors"),
    "write_image": ("--write-rgb", "--write-image"),
    "keep_store": ("--store",),
}
# Metavars of options whose values are not plain numbers or choices.
_METAVARS = {
    "keep_store": "PATH",
    "chunks": "N[,N...]",
    "palette": "SOURCE",
    "pin": "SOURCE",
    "preview": "PNG",
    "storage_options": "JSON",
    "nodata": "V[,V...]",
    "mask": "PATH",
    "alpha": "INDEX|none|auto",
    "rgb_bands": "R,G,B",
    "target_psnr": "DB",
    "min_psnr": "DB",
    "target_deltae": "DE",
    "max_deltae": "DE",
}
# Where the command line keeps the warnings of deprecated flags given (see _Deprecated).
DEPRECATIONS = "deprecated_flags"
# Options the command line does not take as flags.
_NOT_FLAGS = ("on_iteration",)  # a callback: the command line passes its progress display


def _chunks(text: str) -> int | tuple[int, ...]:
    """``--chunks`` as the library reads the CLI's text (its message for a usage error)."""
    try:
        return parse_chunks(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def storage_json(text: str) -> dict[str, Any]:
    """``--storage-options``: a JSON object (its text is not repeated in the message: it
    may hold a secret)."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            "must be a JSON object of the filesystem's options, e.g. '{\"anon\": true}'"
        )
    return value


def _nodata(text: str) -> float | list[float] | str:
    """``--nodata``: a number, one number per band (``0,0,0``), ``nan`` or ``none``."""
    if text.strip().lower() in ("nan", "none"):
        return text.strip().lower()
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            "must be a number, one number per band (V1,V2,V3), nan or none"
        ) from None
    return values[0] if len(values) == 1 else values


def _alpha(text: str) -> int | str | None:
    """``--alpha``: a band index, ``none`` or ``auto``."""
    word = text.strip().lower()
    if word in ("none", "auto"):
        return None if word == "none" else word
    try:
        return int(word)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "must be a band index (0, 1, ...), none or auto"
        ) from None


# How an option's values are read, by its type (bool: a switch; bool | None: --x/--no-x).
_PARSERS: dict[str, Any] = {
    "chunks": _chunks,
    "storage_options": storage_json,
    "nodata": _nodata,
    "alpha": _alpha,
}


def _add_option(parser: argparse.ArgumentParser | Any, name: str) -> None:
    """Add the flag of option ``name`` to ``parser`` (a parser or an argument group)."""
    spellings = _SPELLINGS.get(name, ("--" + name.replace("_", "-"),))
    default = option_default(name)
    kw: dict[str, Any] = {"dest": name, "default": default, "help": option_help(name)}
    kind = option_type(name)
    if kind is bool:
        kw["action"] = "store_true" if default is False else argparse.BooleanOptionalAction
    else:
        choices = option_choices(name)
        if choices is not None:
            kw["choices"] = choices
        else:
            kw["type"] = _PARSERS.get(name, kind)
            if name in _METAVARS:
                kw["metavar"] = _METAVARS[name]
    parser.add_argument(*spellings, **kw)


class _Deprecated(argparse.BooleanOptionalAction):
    """An old spelling of a switch (``--quality``/``--no-quality`` for ``--metrics``): sets
    the new option and keeps a warning for :func:`daskquant._cli._main.main` to show."""

    def __init__(self, option_strings: list[str], dest: str, **kw: Any) -> None:
        self.new = kw.pop("new")
        super().__init__(option_strings, dest, default=argparse.SUPPRESS, **kw)

    def __call__(
        self, parser: Any, namespace: argparse.Namespace, values: Any, option: Any = None
    ) -> None:
        value = option is not None and not option.startswith("--no-")
        setattr(namespace, self.new, value)
        new = self.new.replace("_", "-")
        said = f"{option} is deprecated: use --{'' if value else 'no-'}{new}"
        setattr(namespace, DEPRECATIONS, [*getattr(namespace, DEPRECATIONS, []), said])


def _add_deprecated(parser: argparse.ArgumentParser) -> None:
    """The old spellings of the options in :data:`DEPRECATED` (only switches have one)."""
    for old, new in DEPRECATED.items():
        flag = "--" + new.replace("_", "-")
        parser.add_argument(
            "--" + old.replace("_", "-"),
            dest=old,
            action=_Deprecated,
            new=new,
            help=f"deprecated spelling of {flag}",
        )


def _common_options(parser: argparse.ArgumentParser, default: Any) -> None:
    # Accepted before and after the command: the command's copies default to SUPPRESS
    # so that they do not reset what was given before it.
    parser.add_argument(
        "--debug", action="store_true", default=default, help="show tracebacks, debug logs"
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default,
        help="no progress, cluster, dashboard or warning lines on stderr",
    )


def _cluster_options(q: argparse.ArgumentParser, *, small_here: bool = True) -> None:
    g = q.add_argument_group("where it runs")
    small = " (a job of at most 16.8 MP: this process, on threads)" if small_here else ""
    g.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="a running Dask scheduler (tcp://HOST:PORT or tls://HOST:PORT); "
        f"default: $DASK_SCHEDULER_ADDRESS, else a local cluster{small}",
    )
    g.add_argument("--workers", type=int, metavar="N", help="local cluster: worker processes")
    g.add_argument(
        "--threads-per-worker", type=int, metavar="N", help="local cluster: threads each"
    )
    g.add_argument(
        "--memory-limit",
        metavar="SIZE",
        help="local cluster: memory per worker (4GiB; default: an equal share)",
    )
    g.add_argument("--tls-ca-file", metavar="PEM", help="TLS: certificate authority")
    g.add_argument("--tls-cert", metavar="PEM", help="TLS: client certificate")
    g.add_argument("--tls-key", metavar="PEM", help="TLS: client private key")
    g.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="give up on an unreachable scheduler, or one without workers (default 10)",
    )


def _output_options(q: argparse.ArgumentParser) -> None:
    q.add_argument("--json", action="store_true", help="print the summary as JSON")


def _quantize_command(sub: Any, common: argparse.ArgumentParser) -> None:
    q = sub.add_parser("quantize", parents=[common], help="quantize an image into a Zarr store")
    q.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="image file (PNG, JPEG, TIFF, ...), Zarr array or OME-Zarr image; several "
        "files, a folder or a quoted glob pattern make a collection with one palette",
    )
    q.add_argument(
        "output",
        metavar="OUTPUT",
        help="output Zarr store (.zarr or no suffix), or an image (.png, .tif, .tiff: the "
        "labels with the palette)",
    )
    for name in option_fields():
        if name not in _NOT_FLAGS:
            _add_option(q, name)
    _add_deprecated(q)
    _output_options(q)
    _cluster_options(q)


# The options of quantize that change what a job does, as ``plan`` takes them.
_PLAN_OPTIONS = (
    "n_colors",
    "max_iter",
    "attempts",
    "init",
    "method",
    "chunks",
    "level",
    "palette",
    "colorspace",
    "write_image",
    "alpha",
    "storage_options",
)


def _plan_command(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "plan",
        parents=[common],
        help="what a quantize job would do (sizes, tasks, memory), from the headers only",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="as for quantize")
    for name in _PLAN_OPTIONS:
        _add_option(p, name)
    p.add_argument(
        "--threads-per-worker",
        type=int,
        default=1,
        metavar="N",
        help="threads of each worker, for the memory per worker (1)",
    )
    p.add_argument("--json", action="store_true", help="print the plan as JSON")


def _demo_command(sub: Any, common: argparse.ArgumentParser) -> None:
    d = sub.add_parser(
        "demo", parents=[common], help="quantize a sample mosaic of real photos (make demo)"
    )
    d.add_argument("--out", default="out", help="folder for the sample, store and preview")
    _add_option(d, "n_colors")
    d.add_argument("--size", type=int, default=2520, help="side of the square mosaic (pixels)")
    _output_options(d)
    _cluster_options(d, small_here=False)  # the demo shows the job on a local cluster


def _storage_option(p: argparse.ArgumentParser) -> None:
    _add_option(p, "storage_options")


def _store_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    i = sub.add_parser(
        "info", parents=[common], help="what a store holds and whether it is complete"
    )
    i.add_argument("store")
    _output_options(i)
    _storage_option(i)

    e = sub.add_parser(
        "export", parents=[common], help="write a store's labels as a paletted PNG or TIFF"
    )
    e.add_argument("store")
    e.add_argument("file", help="output image (.png, .tif, .tiff)")
    e.add_argument("--name", help="which image of a collection")
    e.add_argument("--overwrite", action="store_true", help="replace an existing file")
    _rgb_bands_option(e)
    _storage_option(e)

    v = sub.add_parser("preview", parents=[common], help="before/after picture of a store")
    v.add_argument("store")
    v.add_argument("file", help="output PNG")
    v.add_argument("--max-side", type=int, default=1024, help="longest side of each half (1024)")
    v.add_argument("--name", help="which image of a collection")
    _rgb_bands_option(v)
    _storage_option(v)


def _rgb_bands_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rgb-bands",
        metavar="R,G,B",
        help="bands shown as red, green, blue (default: the first three; 1 or 2 bands: gray)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The parser of the ``daskquant`` command and its subcommands."""
    p = argparse.ArgumentParser(
        prog="daskquant",
        description="Reduce very large images to K colors with k-means on Dask.",
        epilog="Without --scheduler (or DASK_SCHEDULER_ADDRESS) the work runs on a local "
        "cluster of worker processes sized to this machine; a job of at most 16.8 "
        "megapixels without --workers, --threads-per-worker or --memory-limit runs in "
        "this process instead, on dask's threaded scheduler (the same result).",
    )
    _common_options(p, False)
    common = argparse.ArgumentParser(add_help=False)
    _common_options(common, argparse.SUPPRESS)
    p.add_argument("--version", action="version", version=f"daskquant {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _quantize_command(sub, common)
    _plan_command(sub, common)
    _demo_command(sub, common)
    _store_commands(sub, common)
    return p


# -- parameters as flags -------------------------------------------------------------------


def flag_names(parser: argparse.ArgumentParser, command: str) -> dict[str, str]:
    """The flag of each parameter of ``command``: ``{"n_colors": "--colors", ...}``, taken
    from the parser (so the table cannot disagree with it)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            sub = action.choices[command]
            return {
                a.dest: next(s for s in a.option_strings if s.startswith("--"))
                for a in sub._actions
                if a.option_strings and a.dest != "help"
            }
    return {}


# ``name=value`` as library messages name a parameter: a quoted string, a tuple, a list or
# a word (``overwrite=True``, ``level=3``, ``colorspace='lab'``, ``chunks=(0, 5)``).
_LEADING = re.compile(r"([a-z_]+)(?::\s*|\s+(?=must |is |has |needs ))")
_SETTING = re.compile(r"\b([a-z_]+)=('[^']*'|\"[^\"]*\"|\([^)]*\)|\[[^\]]*\]|[^\s,;:)]+)")


def with_flags(message: str, flags: dict[str, str]) -> str:
    """``message`` of a library error as the command line says it: each ``name=value`` of
    a parameter that has a flag becomes the flag (``overwrite=True``: ``--overwrite``,
    ``n_colors=16``: ``--colors 16``, ``chunks=(0, 5)``: ``--chunks 0,5``), and a message
    about a parameter names its flag first (``n_colors must be ...``: ``--colors: must be
    ...``), as errors about a file name the file."""

    def flag(match: re.Match[str]) -> str:
        name, value = match.groups()
        if name not in flags or value == "False":  # a switch left off has no flag to name
            return match.group(0)
        if value == "True":
            return flags[name]
        plain = value.strip("'\"").strip("()[]").replace(", ", ",")
        return f"{flags[name]} {plain}"

    said = _SETTING.sub(flag, message)
    first = _LEADING.match(said)
    if first and first.group(1) in flags:
        said = f"{flags[first.group(1)]}: {said[first.end() :]}"
    return said
