"""The files this process opens: ``with opens() as paths:`` records every path opened
(``open``, ``io.open``, ``os.open``: the "open" audit event) while the block runs."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["opens"]

_recording: list[list[str]] = []  # the lists being filled, innermost last


def _hook(event: str, args: tuple[object, ...]) -> None:
    if event == "open" and _recording and isinstance(args[0], (str, bytes)):
        path = args[0] if isinstance(args[0], str) else args[0].decode(errors="replace")
        for paths in _recording:
            paths.append(path)


sys.addaudithook(_hook)  # audit hooks cannot be removed: this one records only when asked


@contextmanager
def opens() -> Iterator[list[str]]:
    paths: list[str] = []
    _recording.append(paths)
    try:
        yield paths
    finally:
        _recording.remove(paths)
