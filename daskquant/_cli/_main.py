"""The ``daskquant`` command: parses arguments and calls the library, nothing more.

Exit codes: 0 success, 1 runtime failure, 2 usage error (bad option or argument), 3 quality
too low (``--min-psnr`` not reached even with ``--colors`` colors; nothing written), 130
interrupted. A failure ends stderr with exactly one line, ``daskquant: error: <file or
argument>: <cause>``; ``--debug`` shows the traceback and every library's log (see
``_logs``). Progress, the cluster and the dashboard link go to stderr (none with
``--quiet``, which prints nothing but the error line); summaries go to stdout, as a table
or, with ``--json``, as one JSON object. Output to a closed pipe ends quietly.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from daskquant._cli._commands import COMMANDS
from daskquant._cli._logs import configure_logging
from daskquant._cli._parser import DEPRECATIONS, build_parser, flag_names, with_flags

__all__ = ["main"]

log = logging.getLogger("daskquant")

QUALITY_TOO_LOW = 3  # exit code: --min-psnr not reached (pngquant's is 99)


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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``daskquant`` command line with ``argv`` (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit code: 0 success, 1 runtime failure, 2 usage error, 3 quality too low,
        130 interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage error, or the help
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    configure_logging(debug=args.debug, quiet=args.quiet)
    from daskquant._errors import DaskQuantError, InvalidParameterError, QualityTooLowError

    # The library names its parameters (overwrite=True); here they are flags (--overwrite):
    # the command's own, else those of quantize (which finishes a store: --resume).
    flags = {**flag_names(parser, "quantize"), **flag_names(parser, args.command)}
    try:
        with warnings.catch_warnings():
            if args.quiet:
                warnings.simplefilter("ignore")
            elif not args.debug:
                warnings.showwarning = _warning_line
            for said in getattr(args, DEPRECATIONS, []):
                warnings.warn(said, FutureWarning, stacklevel=1)
            code = COMMANDS[args.command](args)
            sys.stdout.flush()  # a closed pipe fails here, inside the handlers below
            return code
    except BrokenPipeError:
        # The reader of stdout has gone (``daskquant info X | head``): end quietly, and
        # keep the interpreter's last flush from failing on the closed pipe again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt as exc:
        if args.debug:
            raise
        return _fail(with_flags(str(exc), flags) or "interrupted", 130)
    except InvalidParameterError as exc:
        if args.debug:
            raise
        return _fail(with_flags(str(exc), flags), 2)
    except QualityTooLowError as exc:
        if args.debug:
            raise
        return _fail(with_flags(str(exc), flags), QUALITY_TOO_LOW)
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
