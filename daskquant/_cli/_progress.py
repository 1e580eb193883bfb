"""Progress of a run as the command line shows it: one bar per phase, one line per iteration.

The library computes through whatever Dask scheduler is active and prints nothing. To see
its phases from outside, :class:`GraphProgress`, a scheduler plugin, counts the tasks of
every graph one client submits and publishes ``(graph, done, total)`` as scheduler events;
:class:`ProgressDisplay`, in the client, subscribes to them and draws a bar per graph,
named after the phase the library declared for it (``dask.annotate(phase=...)`` around
each compute of :func:`daskquant.quantize`: loading, fit, counts, writing, quality,
preview), next to the ``on_iteration`` lines of the fit. The plugin class is imported on
the scheduler by reference, so daskquant must be installed there, as it must anyway for
the tasks. A job in this process (dask's threaded scheduler) has no scheduler to host the
plugin: :class:`LocalProgress`, a dask callback, makes the same events there, with the
phase the compute was made under (``dask.get_annotations()``).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from dask.callbacks import Callback
from distributed.diagnostics.plugin import SchedulerPlugin

if TYPE_CHECKING:
    from distributed import Client, Scheduler

__all__ = ["GraphProgress", "LocalProgress", "ProgressDisplay", "phase_name"]

log = logging.getLogger("daskquant")

_DONE = frozenset({"memory", "erred", "forgotten"})


class GraphProgress(SchedulerPlugin):
    """Scheduler plugin: tasks done per graph of one client, published on ``topic``.

    Each event is ``{"graph": n, "done": d, "total": t}``; the first of a graph also carries
    ``"phase"``, the phase its tasks were annotated with (None if none), and
    ``"prefixes"``, the most frequent task-name prefixes of the graph (what it computes).
    Events of a graph are at most ``interval`` seconds apart, except the first and the last.
    """

    def __init__(self, client_id: str, topic: str, *, interval: float = 0.2) -> None:
        self.client_id = client_id
        self.topic = topic
        self.name = topic
        self.interval = interval
        self._scheduler: Scheduler | None = None
        self._count = 0
        self._graphs: dict[int, _Graph] = {}
        self._pending: dict[Any, list[int]] = {}  # task key -> graphs waiting for it

    async def start(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler

    def update_graph(
        self,
        scheduler: Scheduler,
        *,
        client: str,
        tasks: list[Any],
        annotations: dict[str, dict[Any, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        if client != self.client_id:
            return
        todo = []
        for key in tasks:
            ts = scheduler.tasks.get(key)
            if ts is not None and ts.state not in _DONE:
                todo.append(key)
        if not todo:
            return
        self._count += 1
        graph = self._graphs[self._count] = _Graph(self._count, len(todo))
        for key in todo:
            self._pending.setdefault(key, []).append(graph.number)
        phase = _declared_phase(todo, (annotations or {}).get("phase", {}))
        self._publish(scheduler, graph.first(todo, phase))

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        if finish not in _DONE or key not in self._pending or self._scheduler is None:
            return
        for number in self._pending.pop(key):
            graph = self._graphs.get(number)
            if graph is None:
                continue
            if graph.step(self.interval):
                self._publish(self._scheduler, graph.message())
            if graph.done >= graph.total:
                del self._graphs[number]

    def remove_client(self, scheduler: Scheduler, client: str) -> None:
        if client == self.client_id:  # the client went away without unregistering
            self._graphs.clear()
            self._pending.clear()
            scheduler.plugins.pop(self.name, None)

    def _publish(self, scheduler: Scheduler, msg: dict[str, Any]) -> None:
        scheduler.log_event(self.topic, msg)


class LocalProgress(Callback):
    """:class:`GraphProgress`'s events for the computes of a local scheduler (dask's
    threaded scheduler in this process), passed to ``handler`` as they happen.

    Each compute is a graph; its phase is the one the compute was made under
    (``dask.annotate(phase=...)``: the scheduler runs in the caller's context).
    """

    def __init__(self, handler: Callable[[tuple[float, dict[str, Any]]], None]) -> None:
        super().__init__()
        self.handler = handler
        self.interval = 0.2
        self._count = 0
        self._graphs: dict[int, _Graph] = {}  # by the compute's state (one per compute)

    def _start_state(self, dsk: Any, state: dict[str, Any]) -> None:
        import dask

        todo = [*state["ready"], *state["waiting"]]
        if not todo:
            return
        self._count += 1
        graph = self._graphs[id(state)] = _Graph(self._count, len(todo))
        phase = dask.get_annotations().get("phase")
        self.handler((time.time(), graph.first(todo, None if phase is None else str(phase))))

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        graph = self._graphs.get(id(state))
        if graph is not None and graph.step(self.interval):
            self.handler((time.time(), graph.message()))

    def _finish(self, dsk: Any, state: Any, errored: bool) -> None:
        graph = self._graphs.pop(id(state), None)
        if graph is not None and graph.done < graph.total and not errored:
            graph.done = graph.total  # tasks the scheduler ran without a callback
            self.handler((time.time(), graph.message()))


@dataclass
class _Graph:
    """One graph's tasks done, for :class:`GraphProgress` and :class:`LocalProgress`."""

    number: int
    total: int
    done: int = 0
    last: float = field(default_factory=time.monotonic)  # when its last event was made

    def message(self) -> dict[str, Any]:
        return {"graph": self.number, "done": self.done, "total": self.total}

    def first(self, todo: list[Any], phase: str | None) -> dict[str, Any]:
        """The graph's first event: also its phase and most frequent task-name prefixes."""
        from distributed.utils import key_split

        prefixes = Counter(key_split(k) for k in todo).most_common(4)
        return {**self.message(), "phase": phase, "prefixes": [list(p) for p in prefixes]}

    def step(self, interval: float) -> bool:
        """One more task done; whether to send an event (the last, or ``interval`` seconds
        after the one before)."""
        self.done += 1
        now = time.monotonic()
        if self.done >= self.total or now - self.last >= interval:
            self.last = now
            return True
        return False


def _declared_phase(keys: list[Any], phases: dict[Any, Any]) -> str | None:
    """The phase most of ``keys`` were annotated with, or None."""
    declared = Counter(str(phases[k]) for k in keys if k in phases).most_common(1)
    return declared[0][0] if declared else None


# The steps of the fit, by the task-name prefixes of its graphs (first match wins): the
# fit's computes are made in the engine, which declares only that they are the fit's.
_FIT_STEPS = (
    ("histogram", "histogram"),
    ("summar", "summary"),
    ("stats", "statistics"),
    ("partials", "iteration"),
    ("attempt", "attempts"),
    ("sample", "init"),
    ("pick", "init"),
    ("farthest", "farthest points"),
    ("lookup", "labels"),
    ("labels", "labels"),
    ("rechunk", "loading"),
    ("array", "loading"),
)


def phase_name(phase: str | None, prefixes: list[str]) -> str:
    """The name shown for a graph: its declared phase (a step of the fit for one of the
    fit's graphs, from its most frequent task-name prefixes), "compute" if undeclared."""
    if phase is None:
        return "compute"
    if phase != "fit":
        return phase
    for prefix in prefixes:
        for part, name in _FIT_STEPS:
            if part in prefix:
                return name
    return phase


@dataclass
class _Bar:
    name: str
    total: int
    done: int = 0
    start: float = field(default_factory=time.monotonic)


class ProgressDisplay:
    """Phase bars and iteration lines on ``stream`` (default: the current ``sys.stderr``).

    On a terminal the running phase is one line redrawn in place and finished phases stay
    as lines; elsewhere (a log file, a pipe) only finished phases and iterations are
    written, one line each. ``enabled=False`` shows nothing.
    """

    WIDTH = 24

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        enabled: bool = True,
        live: bool | None = None,
        max_iter: int | None = None,
        epsilon: float | None = None,
    ) -> None:
        self._stream = stream
        self.enabled = enabled
        self._live = live
        self.max_iter = max_iter
        self.epsilon = epsilon
        self._lock = threading.Lock()
        self._bars: dict[int, _Bar] = {}
        self._status = ""
        self._attempt = 0
        self._last: tuple[int, float] | None = None  # (iteration, shift) of the running attempt
        self.phases: list[tuple[str, int, float]] = []  # finished: (name, tasks, seconds)

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stderr

    @property
    def live(self) -> bool:
        if self._live is None:
            self._live = bool(getattr(self.stream, "isatty", lambda: False)())
        return self._live

    # -- output ------------------------------------------------------------------------

    def line(self, text: str) -> None:
        """Write a permanent line (above the live status line, on a terminal)."""
        if not self.enabled:
            return
        with self._lock:
            self._write_line(text)

    def _write_line(self, text: str) -> None:
        out = self.stream
        if self.live and self._status:
            out.write("\r\x1b[2K")
        out.write(text + "\n")
        if self.live and self._status:
            out.write(self._status)
        out.flush()

    def _set_status(self, text: str) -> None:
        if not self.live:
            return
        self._status = text
        self.stream.write("\r\x1b[2K" + text)
        self.stream.flush()

    # -- inputs ------------------------------------------------------------------------

    def iteration(self, iteration: int, shift: float) -> None:
        """The ``on_iteration`` callback of :func:`daskquant.quantize`.

        Off a terminal each iteration is a line; on one, the running attempt is the live
        line and each attempt ends as one line.
        """
        if not self.enabled:
            return
        with self._lock:
            if self._last is None or iteration <= self._last[0]:
                self._end_attempt()
                self._attempt += 1
            self._last = (iteration, shift)
            of = f"/{self.max_iter}" if self.max_iter else ""
            text = (
                f"attempt {self._attempt}  iteration {iteration:3d}{of}  "
                f"max center shift {shift:.4g}"
            )
            if not self.live:
                self._write_line(text)
                return
            if self.max_iter:
                filled = round(min(iteration / self.max_iter, 1.0) * self.WIDTH)
                text += "  [" + "#" * filled + "." * (self.WIDTH - filled) + "]"
            self._set_status(text)

    def _end_attempt(self) -> None:
        """On a terminal, the line that stays for the attempt that just ended."""
        if self._last is None:
            return
        iteration, shift = self._last
        self._last = None
        if not self.live:
            return
        if self.epsilon is not None and shift <= self.epsilon:
            how = f"converged (epsilon {self.epsilon:g})"
        elif self.max_iter is not None and iteration >= self.max_iter:
            how = "max_iter reached"
        else:
            how = "stopped"
        self._set_status("")
        self._status = ""
        self._write_line(
            f"attempt {self._attempt}: {iteration} iterations, last max center shift "
            f"{shift:.4g}, {how}"
        )

    def event(self, event: tuple[float, dict[str, Any]]) -> None:
        """Handler of :class:`GraphProgress` events (runs in the client's event loop)."""
        if not self.enabled:
            return
        _, msg = event
        with self._lock:
            graph = int(msg["graph"])
            name = None
            if "prefixes" in msg:  # the first event of a graph
                name = phase_name(msg.get("phase"), [str(p[0]) for p in msg["prefixes"]])
                if self._last is not None and name != "iteration":
                    self._end_attempt()
            bar = self._bars.get(graph)
            if bar is None:
                if name is None:
                    return  # the start of this graph was missed
                bar = self._bars[graph] = _Bar(name, int(msg["total"]))
            bar.done = int(msg["done"])
            if bar.done >= bar.total:
                del self._bars[graph]
                seconds = time.monotonic() - bar.start
                self.phases.append((bar.name, bar.total, seconds))
                self._set_status("")
                self._status = ""
                if bar.name != "iteration":  # the iteration lines say it already
                    self._write_line(self._render(bar, seconds))
            else:
                self._set_status(self._render(bar, time.monotonic() - bar.start))

    def _render(self, bar: _Bar, seconds: float) -> str:
        frac = bar.done / bar.total if bar.total else 1.0
        filled = round(frac * self.WIDTH)
        meter = "#" * filled + "." * (self.WIDTH - filled)
        return (
            f"{bar.name:<16} [{meter}] {100 * frac:3.0f}%  "
            f"{bar.done:,}/{bar.total:,} tasks  {seconds:.1f} s"
        )

    def close(self) -> None:
        """Clear the live line; unfinished bars are dropped."""
        with self._lock:
            self._bars.clear()
            if self.enabled:
                self._end_attempt()
            if self.enabled and self._status:
                self._set_status("")
                self._status = ""

    # -- wiring ------------------------------------------------------------------------

    @contextmanager
    def watching(self, client: Client | None) -> Iterator[ProgressDisplay]:
        """Show the phases of every graph ``client`` submits inside the block (None: of
        every compute on a local scheduler in this process)."""
        if not self.enabled:
            yield self
            return
        if client is None:
            with LocalProgress(self.event):
                try:
                    yield self
                finally:
                    self.close()
            return
        topic = f"daskquant-progress-{client.id}"
        try:
            client.register_plugin(GraphProgress(client.id, topic), name=topic)
        except Exception as exc:  # e.g. daskquant missing on the scheduler
            log.warning("no phase progress: the scheduler refused the plugin (%s)", exc)
            yield self
            return
        client.subscribe_topic(topic, self.event)
        try:
            yield self
        finally:
            self.close()
            try:
                client.unsubscribe_topic(topic)
                client.unregister_scheduler_plugin(topic)
            except Exception as exc:  # the connection may be gone after a failure
                log.debug("progress plugin cleanup: %s", exc)
