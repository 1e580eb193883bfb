"""What every benchmark records about its run, and how its tables state lower bounds.

``run_meta`` gives the date, the machine, the code's commit and the load of the machine when
the run started; ``header`` is the first line of a results .md file; ``at_least`` writes the
lower bound of a run stopped at its time limit. ``record_options`` and ``render_stored`` give
a script ``--note`` and ``--render-only``. ``publish_plot`` copies a plot to docs/img, where
the benchmarks page of the documentation shows it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DOCS_IMG = REPO / "docs" / "img"  # docs/benchmarks.md cannot show files outside docs/


def machine() -> str:
    """CPU model, cores, memory and Python version, e.g. "AMD EPYC ..., 2 cores, 24 GiB"."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB, Python {platform.python_version()}"


def commit() -> str:
    """The checked-out commit, with "+ uncommitted changes" when the tree has any."""
    try:

        def git(*args: str) -> str:
            return subprocess.run(
                ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True
            ).stdout.strip()

        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{head} + uncommitted changes" if dirty else head


def run_meta(note: str | None = None) -> dict[str, str]:
    """Date, machine, commit and load at the start of a run; ``note`` says what else ran."""
    meta = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "commit": commit(),
        "load": "load average {:.2f} / {:.2f} / {:.2f} (1 / 5 / 15 min) at the start".format(
            *os.getloadavg()
        ),
    }
    if note:
        meta["note"] = note
    return meta


def header(meta: dict[str, str]) -> str:
    """The first lines of a results .md file: when, where, which code, how busy."""
    where = "; ".join(meta[k] for k in ("image", "machine", "date") if k in meta)
    lines = [f"{where}."]
    facts = [f"code at {meta['commit']}" if "commit" in meta else "", meta.get("load", "")]
    if any(facts):
        lines.append("; ".join(f for f in facts if f) + ".")
    if "note" in meta:
        lines.append(meta["note"].rstrip(".") + ".")
    return "\n".join(lines)


def at_least(value: float, digits: int = 1) -> str:
    """A lower bound, rounded down: ``at_least(4.56)`` is "> 4.5", never "> 4.6"."""
    scale = 10**digits
    # round() first, so that 0.29 * 100 = 28.999999999999996 still counts as 29
    return f"> {math.floor(round(value * scale, 6)) / scale:.{digits}f}"


def record_options(ap: argparse.ArgumentParser, name: str) -> None:
    """``--note`` (stored with the results) and ``--render-only`` for benchmarks/<name>.py."""
    ap.add_argument("--note", help="what else ran on the machine, recorded with the results")
    ap.add_argument(
        "--render-only",
        action="store_true",
        help=f"rewrite {name}.md from {name}.json, run nothing",
    )


def publish_plot(path: Path) -> None:
    """Copy a results plot to docs/img (tests/test_docs.py checks the copies are the same)."""
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, DOCS_IMG / path.name)


def save_results(
    results: Path, name: str, meta: dict, found: Any, render: Callable[[dict, Any], str]
) -> None:
    """Write <name>.json ({"meta", "results"}) and its table <name>.md, and print the table
    (what :func:`render_stored` reads back)."""
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{name}.json").write_text(json.dumps({"meta": meta, "results": found}, indent=2))
    table = render(meta, found)
    (results / f"{name}.md").write_text(table)
    print(table)


def render_stored(results: Path, name: str, render: Callable[[dict, dict], str]) -> None:
    """Rewrite <name>.md from the stored <name>.json (``--render-only``)."""
    stored = json.loads((results / f"{name}.json").read_text())
    (results / f"{name}.md").write_text(render(stored["meta"], stored["results"]))
