"""Thread pools are made when first used, not when daskquant is imported, and not shared
with a forked child."""

from __future__ import annotations

import os
import subprocess
import sys

from daskquant._engine._threads import pool, thread_count


def test_importing_daskquant_starts_no_thread() -> None:
    code = (
        "import threading, daskquant, daskquant._engine._points, daskquant._engine._seeding;"
        "print(threading.active_count())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1", out.stderr


def test_one_pool_per_size_and_never_more_threads_than_cores() -> None:
    assert pool(3) is pool(3)
    assert thread_count(1000) == (os.cpu_count() or 1)
    assert thread_count(0) == 1
    assert pool(2).submit(sum, [1, 2]).result() == 3


def test_a_forked_child_gets_pools_of_its_own() -> None:
    assert pool(2).submit(int, "1").result() == 1  # the parent's pool exists
    pid = os.fork()
    if pid == 0:  # the child: the parent's pool has no threads here; a new one must work
        try:
            ok = pool(2).submit(int, "2").result(timeout=10) == 2
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
