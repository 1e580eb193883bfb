"""The ``daskquant`` command: parses arguments and calls the library, nothing more.

Exit codes: 0 success, 1 runtime failure, 2 usage error (bad option or argument), 130
interrupted. Errors are one line on stderr; ``--debug`` shows the traceback. Progress, the
cluster and the dashboard link go to stderr (none with ``--quiet``); summaries go to stdout,
as a table or, with ``--json``, as one JSON object.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from daskquant._cli._commands import COMMANDS
from daskquant._cli._parser import build_parser, flag_names, with_flags

__all__ = ["main"]

log = logging.getLogger("daskquant")


def _warning_line(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """Python warnings as one line each, like the errors (in full with ``--debug``)."""
    first = (str(message).strip().splitlines() or [category.__name__])[0]
    clear = "\r\x1b[2K" if sys.stderr.isatty() else ""
    print(f"{clear}daskquant: warning: {first}", file=sys.stderr)


def _fail(message: str, code: int) -> int:
    lines = message.strip().splitlines() or ["unknown error"]
    print(f"daskquant: error: {lines[0]}", file=sys.stderr)
    return code


def _configure_logging(debug: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    import distributed  # noqa: F401  (sets up its loggers, which are quieted here)

    if not debug:
        logging.getLogger("distributed").setLevel(logging.ERROR)
        # A job stopped by Ctrl-C leaves distributed's pending gathers to asyncio, which
        # logs each as an error: noise after the one line that says what happened.
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``daskquant`` command line with ``argv`` (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit code: 0 success, 1 runtime failure, 2 usage error, 130 interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage error, or the help
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    _configure_logging(args.debug)
    from daskquant._errors import DaskQuantError, InvalidParameterError

    # The library names its parameters (overwrite=True); here they are flags (--overwrite):
    # the command's own, else those of quantize (which finishes a store: --resume).
    flags = {**flag_names(parser, "quantize"), **flag_names(parser, args.command)}
    try:
        with warnings.catch_warnings():
            if args.quiet:
                warnings.simplefilter("ignore")
            elif not args.debug:
                warnings.showwarning = _warning_line
            return COMMANDS[args.command](args)
    except KeyboardInterrupt as exc:
        if args.debug:
            raise
        return _fail(with_flags(str(exc), flags) or "interrupted", 130)
    except InvalidParameterError as exc:
        if args.debug:
            raise
        return _fail(with_flags(str(exc), flags), 2)
    except DaskQuantError as exc:
        if args.debug:
            raise
        return _fail(with_flags(str(exc), flags), 1)
    except OSError as exc:
        if args.debug:
            raise
        return _fail(str(exc), 1)
    except Exception as exc:
        if args.debug:
            raise
        return _fail(f"{type(exc).__name__}: {exc} (--debug shows the traceback)", 1)
