"""What the command prints besides its results: its own warnings, or the ``--debug`` log.

Without ``--debug``, stderr holds only the lines of the normal run (progress, the cluster)
and, on failure, one ``daskquant: error:`` line. Log lines of other libraries (tifffile on a
damaged tag, distributed, asyncio, OpenCV's native log) are dropped, in the command's
process and in the workers of its local cluster; daskquant's own warnings are one
``daskquant: warning:`` line each, and none with ``--quiet``. With ``--debug`` every
library logs at DEBUG to stderr.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

__all__ = ["QuietWorkerLogs", "configure_logging"]

# OpenCV's native log (imread's "[ WARN:0@0.1] ..." lines) reads this variable when cv2 is
# first imported; the workers of a local cluster inherit it.
_OPENCV_LEVEL = "OPENCV_LOG_LEVEL"


class _Line(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        first = (record.getMessage().strip().splitlines() or [record.levelname])[0]
        clear = "\r\x1b[2K" if sys.stderr.isatty() else ""
        return f"{clear}daskquant: {record.levelname.lower()}: {first}"


def configure_logging(*, debug: bool, quiet: bool) -> None:
    """Set up the command's logging (see the module docstring)."""
    root = logging.getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    ours = logging.getLogger("daskquant")
    if debug:
        os.environ.setdefault(_OPENCV_LEVEL, "DEBUG")
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
        ours.setLevel(logging.DEBUG)
        return
    os.environ[_OPENCV_LEVEL] = "SILENT"
    if "cv2" in sys.modules:
        _silence_opencv()
    _silence_others()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Line())
    ours.handlers[:] = [handler]
    ours.propagate = False
    ours.setLevel(logging.CRITICAL + 1 if quiet else logging.WARNING)


def _silence_others() -> None:
    """No log line of another library reaches stderr (Python's last-resort handler
    included, which prints the warnings of loggers that have no handler)."""
    logging.getLogger().setLevel(logging.CRITICAL + 1)
    logging.lastResort = logging.NullHandler()
    for name in ("distributed", "asyncio", "tornado", "bokeh", "tifffile"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.CRITICAL + 1)
        logger.propagate = False


def _silence_opencv() -> None:
    """OpenCV's native log, where cv2 is imported already (the variable is read once)."""
    cv2 = sys.modules["cv2"]
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


class QuietWorkerLogs(WorkerPlugin):
    """A worker plugin: the same silence in the workers of the command's local cluster
    (their stderr is the command's), including workers started again after a crash."""

    name = "daskquant-quiet-logs"

    def setup(self, worker: Any) -> None:
        _silence_others()
        if "cv2" in sys.modules:
            _silence_opencv()
