"""Scheduler preload for benchmarks/scale.py: counts the tasks a run executes.

Loaded through ``DASK_DISTRIBUTED__SCHEDULER__PRELOAD``, so the job under test runs
unchanged (its embedded LocalCluster's scheduler picks the preload up from the
configuration). At scheduler close, the count and the largest graph submitted at once go to
the JSON file named by ``DASKQUANT_TASKCOUNT``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin


class TaskCount(SchedulerPlugin):
    name = "daskquant-taskcount"

    def __init__(self, path: str) -> None:
        self.path = path
        self.executed = 0
        self.graphs = 0
        self.largest = 0

    def update_graph(self, scheduler: Any, *, tasks: Any = None, **kwargs: Any) -> None:
        self.graphs += 1
        self.largest = max(self.largest, len(tasks or ()))

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        if start == "processing" and finish == "memory":
            self.executed += 1

    async def close(self) -> None:
        with open(self.path, "w") as f:
            json.dump(
                {"tasks": self.executed, "graphs": self.graphs, "largest_graph": self.largest}, f
            )


def dask_setup(scheduler: Any) -> None:
    path = os.environ.get("DASKQUANT_TASKCOUNT")
    if path:
        scheduler.add_plugin(TaskCount(path))
