"""Thread pools for in-memory work, made on first use, never at import time.

The in-memory sources and the k-means++ scorer split their work into a fixed number of parts
(so float sums do not depend on the thread count) and run the parts on a small pool. A pool
is made the first time it is asked for, one per size, and forgotten in a forked child (whose
copy would have no threads).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = ["pool", "thread_count"]

_POOLS: dict[int, ThreadPoolExecutor] = {}
_LOCK = threading.Lock()


def thread_count(most: int) -> int:
    """At most ``most`` threads, and no more than the machine's cores."""
    return max(1, min(most, os.cpu_count() or 1))


def pool(most: int) -> ThreadPoolExecutor:
    """The shared pool of :func:`thread_count` (``most``) threads.

    >>> pool(4) is pool(4)
    True
    """
    size = thread_count(most)
    with _LOCK:
        found = _POOLS.get(size)
        if found is None:
            found = _POOLS[size] = ThreadPoolExecutor(size, thread_name_prefix="daskquant")
        return found


def _forget_pools() -> None:  # in a forked child: the parent's pools have no threads here
    _POOLS.clear()


os.register_at_fork(after_in_child=_forget_pools)
