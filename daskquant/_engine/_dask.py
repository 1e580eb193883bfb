"""How the engine puts work on Dask: data placed once, results combined in a fixed tree.

Every source question is one compute whose per-block parts are combined by
:func:`tree_reduce` (fixed fan-in, so sums never form a linear chain and their order does not
depend on the scheduler); data already in the client's memory goes to the workers once
(:func:`persist_in_memory`), and a large table many tasks read is shared once
(:func:`share_once`). With a distributed client (:func:`cluster_client`), work on data that
lives on the workers (the color histogram, the attempts on it) is submitted there and only
small results come back.
"""

from __future__ import annotations

import warnings
from typing import Any

import dask
import dask.array as da
from numpy.typing import NDArray

__all__ = [
    "FAN_IN",
    "cluster_client",
    "persist_in_memory",
    "persist_together",
    "share_once",
    "tree_reduce",
]

FAN_IN = 8


def persist_in_memory(arr: da.Array) -> da.Array:
    """Place an array that is already in the client's memory on the workers, once.

    Without this, every compute would embed the array's data in its graph again. The data
    has to travel once anyway, so the "large graph" warning for this transfer is silenced.
    Persisted (not scattered) keys keep their tasks on the scheduler: a chunk lost with a
    worker is made again, so a job survives the loss of workers.
    """
    (placed,) = persist_together([arr])
    return placed


def persist_together(arrays: list[da.Array]) -> list[da.Array]:
    """:func:`persist_in_memory` for many arrays (a collection's images) in one submit."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*large graph.*", category=UserWarning)
        return list(dask.persist(*arrays)) if arrays else []


def cluster_client() -> Any:
    """The distributed client that computes would go to now, or None (a local scheduler).

    The one ``dask.compute`` itself would use: the default client, or a client's ``get``
    set as the scheduler; an explicit local scheduler (``scheduler="threads"``) wins.
    """
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - distributed is a dependency
        return None
    from dask.base import get_scheduler

    owner = getattr(get_scheduler(), "__self__", None)
    return owner if isinstance(owner, Client) else None


def share_once(value: NDArray) -> Any:
    """A large array that many tasks read (a lookup table): on the workers once.

    With a distributed client it is scattered, so the graph holds a reference rather than
    the data; otherwise a single delayed key. Scattered data has no task to make it again,
    so it goes to every worker (``broadcast``): a worker that dies takes one copy with it,
    and the others, and the workers that replace it, still find it.
    """
    client = cluster_client()
    if client is None:
        return dask.delayed(value, pure=True)
    return client.scatter(value, hash=True, broadcast=True)


def tree_reduce(parts: list[Any], combine: Any) -> Any:
    """Combine delayed partials in a tree of fan-in FAN_IN; returns one Delayed."""
    while len(parts) > 1:
        parts = [
            dask.delayed(combine, pure=True)(*parts[i : i + FAN_IN])
            for i in range(0, len(parts), FAN_IN)
        ]
    return parts[0]
