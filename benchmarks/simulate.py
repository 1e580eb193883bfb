"""daskquant past this machine, by simulation: jobs larger than its disk and memory.

    .venv/bin/python benchmarks/simulate.py --run 1GP --graphs 10GP,100GP,1TP

- **End to end** (``--run``): ``daskquant.quantize`` of a lazy synthetic image (every chunk a
  mosaic of real photographs made inside its task, deterministic; benchmarks/_simparts.py)
  to an output that discards the chunks it is given (``discard://``, an fsspec memory
  filesystem that keeps only metadata; the benchmark's own, not daskquant's), on a
  LocalCluster of ``--workers`` single-threaded worker processes. K = 16, the recipe's
  criteria (EPS + MAX_ITER, 20, 1.0), 10 attempts.
- **Graphs only** (``--graphs``): the graph of the same job's phases (per chunk: load,
  histogram, labels, write; trees of fan-in 8 for the histogram and counts; attempts and
  the labels table), with tasks that do almost nothing, built, submitted and run on the
  same cluster: tasks, graph bytes (pickled), build and submit time, scheduler CPU per task
  and the client's memory. The end-to-end run's executed tasks check that the graph has
  the real job's shape.

Every figure comes with the machine's load (``uptime``) when it was taken: other jobs share
this 2-core machine, so counts and per-task figures are what to compare. Each measurement
runs in a fresh process. Results go to benchmarks/results/simulate.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import fsspec

HERE = Path(__file__).resolve().parent
# Before daskquant is imported: its table of URL schemes is made from fsspec's at import.
fsspec.register_implementation("discard", "_simparts.DiscardFileSystem", clobber=True)

import _simparts  # noqa: E402
import numpy as np  # noqa: E402
from _meta import REPO, header, run_meta  # noqa: E402

RESULTS = HERE / "results"
SIZES = {"256MP": 2**28, "1GP": 2**30, "2GP": 2**31, "4GP": 2**32, "10GP": 10 * 2**30}
SIZES |= {"100GP": 100 * 2**30, "1TP": 1024 * 2**30}
CHUNK = 4096  # the default chunk of a large image (2^24 pixels, daskquant._io._chunks)
FAN_IN = 8  # daskquant._engine._dask.FAN_IN


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def side_of(pixels: int) -> tuple[int, int]:
    """A (height, width) of about ``pixels``, both multiples of CHUNK, width >= height."""
    tiles = max(1, round(pixels / CHUNK**2))
    rows = int(np.sqrt(tiles))
    while tiles % rows:
        rows -= 1
    return rows * CHUNK, tiles // rows * CHUNK


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def scheduler_cpu() -> float:
    import psutil

    t = psutil.Process().cpu_times()
    return float(t.user + t.system)


def _worker_path() -> None:
    paths = [str(HERE), str(REPO), os.environ.get("PYTHONPATH", "")]
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)


def _registered(dask_worker: Any = None) -> None:
    _simparts.register()


def _executed(dask_scheduler: Any) -> dict[str, int]:
    """The scheduler preload's counts so far (benchmarks/_taskcount.py)."""
    plugin = dask_scheduler.plugins["daskquant-taskcount"]
    return {"tasks": plugin.executed, "graphs": plugin.graphs, "largest_graph": plugin.largest}


def end_to_end(size: str, workers: int) -> dict[str, Any]:
    import dask
    from distributed import Client, LocalCluster

    import daskquant as dq

    height, width = side_of(SIZES[size])
    counts = RESULTS / "cache" / f"simulate_counts_{size}.json"
    counts.parent.mkdir(parents=True, exist_ok=True)
    _worker_path()
    os.environ["DASKQUANT_TASKCOUNT"] = str(counts)
    dask.config.set({"distributed.scheduler.preload": [str(HERE / "_taskcount.py")]})
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, memory_limit="2GiB", dashboard_address=None
    )
    client = Client(cluster)
    client.run(_registered)
    _simparts.register()
    load_before = uptime()
    image = _simparts.synthetic_image(height, width, CHUNK)
    cpu0 = time.process_time()
    sched0 = client.run_on_scheduler(scheduler_cpu)
    t0 = time.perf_counter()
    dq.quantize(
        image,
        f"discard://simulate/{size}.zarr",
        n_colors=16,
        max_iter=19,
        epsilon=1.0,
        attempts=10,
        seed=0,
        chunks=CHUNK,
        metrics=False,
        overwrite=True,
    )
    wall = time.perf_counter() - t0
    client_cpu = time.process_time() - cpu0
    sched_cpu = client.run_on_scheduler(scheduler_cpu) - sched0
    dropped = client.run(_simparts.discarded)
    load_after = uptime()
    executed = client.run_on_scheduler(_executed)
    try:  # on a loaded machine closing can time out: the measurement is already taken
        client.close()
        cluster.close(timeout=60)
    except (TimeoutError, OSError) as error:
        print(f"closing the cluster: {error!r}", file=sys.stderr)
    n_chunks = (height // CHUNK) * (width // CHUNK)
    return {
        "size": size,
        "pixels": height * width,
        "shape": [height, width, 3],
        "chunks": n_chunks,
        "workers": workers,
        "wall_s": round(wall, 1),
        "s_per_gigapixel": round(wall / (height * width / 1e9), 1),
        "client_cpu_s": round(client_cpu, 1),
        "client_cpu_share": round(client_cpu / wall, 3),
        "client_peak_rss_mib": round(rss_mib()),
        "scheduler_cpu_s": round(sched_cpu, 1),
        "tasks_executed": executed["tasks"],
        "tasks_per_chunk": round(executed["tasks"] / n_chunks, 2),
        "graphs": executed["graphs"],
        "largest_graph": executed["largest_graph"],
        "scheduler_ms_per_task": round(1e3 * sched_cpu / max(executed["tasks"], 1), 2),
        "chunks_discarded": sum(v[0] for v in dropped.values()),
        "bytes_discarded": sum(v[1] for v in dropped.values()),
        "uptime_before": load_before,
        "uptime_after": load_after,
    }


def job_graph(n_chunks: int, attempts: int = 10) -> dict[Any, Any]:
    """The phases of the histogram-path job on ``n_chunks`` chunks, as plain tasks: load,
    per-chunk histogram and its fan-in-8 tree, attempts, labels table, labels, counts tree,
    write (the phases daskquant._api._plan counts)."""
    from dask.task_spec import Task, TaskRef

    nothing, combine = _simparts.nothing, _simparts.combine
    dsk: dict[Any, Any] = {}

    def tree(name: str, parts: list[Any]) -> Any:
        level = 0
        while len(parts) > 1:
            nxt = []
            for i in range(0, len(parts), FAN_IN):
                key = (f"{name}-{level}", i // FAN_IN)
                dsk[key] = Task(key, combine, *(TaskRef(p) for p in parts[i : i + FAN_IN]))
                nxt.append(key)
            parts, level = nxt, level + 1
        return parts[0]

    load = [("load", i) for i in range(n_chunks)]
    for key in load:
        dsk[key] = Task(key, nothing, key[1])
    hist = [("histogram", i) for i in range(n_chunks)]
    for key, src in zip(hist, load, strict=True):
        dsk[key] = Task(key, nothing, TaskRef(src))
    merged = tree("merge", hist)
    dsk["points"] = Task("points", nothing, TaskRef(merged))
    dsk["seeds"] = Task("seeds", nothing, TaskRef("points"))
    runs = [f"attempt-{a}" for a in range(attempts)]
    for key in runs:
        dsk[key] = Task(key, nothing, TaskRef("points"), TaskRef("seeds"))
    dsk["best"] = Task("best", combine, *(TaskRef(r) for r in runs))
    dsk["table"] = Task("table", nothing, TaskRef("best"), TaskRef("points"))
    labels = [("labels", i) for i in range(n_chunks)]
    for key, src in zip(labels, load, strict=True):
        dsk[key] = Task(key, nothing, TaskRef(src), TaskRef("table"))
    counted = tree("counts", labels)
    writes = [("write", i) for i in range(n_chunks)]
    for key, src in zip(writes, labels, strict=True):
        dsk[key] = Task(key, nothing, TaskRef(src))
    dsk["done"] = Task("done", combine, TaskRef(counted), *(TaskRef(w) for w in writes))
    return dsk


COMPLETE_UP_TO = 5000  # graphs of at most this many tasks also run to the end


def _scheduler_tasks(dask_scheduler: Any) -> int:
    return len(dask_scheduler.tasks)


def built_only(size: str, workers: int) -> dict[str, Any]:
    """Build the job's graph of ``size`` and pickle it, without a cluster."""
    height, width = side_of(SIZES[size])
    n_chunks = (height // CHUNK) * (width // CHUNK)
    load_before = uptime()
    rss0 = rss_mib()
    t0, cpu0 = time.perf_counter(), time.process_time()
    dsk = job_graph(n_chunks)
    build, build_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    graph_bytes = len(pickle.dumps(dsk, protocol=5))
    return {
        "size": size,
        "pixels": height * width,
        "chunks": n_chunks,
        "workers": 0,
        "tasks": len(dsk),
        "tasks_per_chunk": round(len(dsk) / n_chunks, 2),
        "graph_mib": round(graph_bytes / 2**20, 2),
        "graph_bytes_per_task": round(graph_bytes / len(dsk)),
        "build_s": round(build, 2),
        "build_us_per_task": round(1e6 * build / len(dsk)),
        "build_cpu_us_per_task": round(1e6 * build_cpu / len(dsk)),
        "client_rss_growth_mib": round(rss_mib() - rss0),
        "uptime_before": load_before,
        "uptime_after": uptime(),
    }


def graph_only(size: str, workers: int) -> dict[str, Any]:
    """Build the job's graph of ``size``, submit it, wait until the scheduler holds every
    task; run it to the end if it is small (COMPLETE_UP_TO), else cancel it."""
    from distributed import Client, LocalCluster, wait

    height, width = side_of(SIZES[size])
    n_chunks = (height // CHUNK) * (width // CHUNK)
    _worker_path()
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, memory_limit="1GiB", dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        load_before = uptime()
        rss0 = rss_mib()
        t0, cpu0 = time.perf_counter(), time.process_time()
        dsk = job_graph(n_chunks)
        build, build_cpu = time.perf_counter() - t0, time.process_time() - cpu0
        graph_bytes = len(pickle.dumps(dsk, protocol=5))
        sched0 = client.run_on_scheduler(scheduler_cpu)
        t1 = time.perf_counter()
        future = client.get(dsk, "done", sync=False)
        submitted = time.perf_counter() - t1
        while client.run_on_scheduler(_scheduler_tasks) < len(dsk) * 0.99:
            time.sleep(0.2)  # tasks already done may have left: 99% is "all accepted"
        accepted = time.perf_counter() - t1
        sched_accept = client.run_on_scheduler(scheduler_cpu) - sched0
        result: dict[str, Any] = {}
        if len(dsk) <= COMPLETE_UP_TO:
            wait(future)
            ran = time.perf_counter() - t1
            sched_run = client.run_on_scheduler(scheduler_cpu) - sched0
            result = {
                "run_s": round(ran, 1),
                "scheduler_ms_per_task_run": round(1e3 * sched_run / len(dsk), 2),
                "wall_ms_per_task_run": round(1e3 * ran / len(dsk), 2),
            }
        else:
            future.cancel()
        client_growth = rss_mib() - rss0
        del future
        load_after = uptime()
    return {
        "size": size,
        "pixels": height * width,
        "chunks": n_chunks,
        "workers": workers,
        "tasks": len(dsk),
        "tasks_per_chunk": round(len(dsk) / n_chunks, 2),
        "graph_mib": round(graph_bytes / 2**20, 2),
        "graph_bytes_per_task": round(graph_bytes / len(dsk)),
        "build_s": round(build, 2),
        "build_us_per_task": round(1e6 * build / len(dsk)),
        "build_cpu_us_per_task": round(1e6 * build_cpu / len(dsk)),
        "submit_s": round(submitted, 2),
        "accepted_s": round(accepted, 1),
        "scheduler_ms_per_task_accept": round(1e3 * sched_accept / len(dsk), 3),
        **result,
        "client_rss_growth_mib": round(client_growth),
        "uptime_before": load_before,
        "uptime_after": load_after,
    }


def _load(r: dict[str, Any]) -> str:
    return str(r["uptime_before"].split("load average:")[-1].strip())


def render(record: dict[str, Any]) -> str:
    lines = [header(record["meta"]), ""]
    if record.get("runs"):
        lines += [
            "End to end (quantize, K = 16, 10 attempts, chunks of 4096 x 4096, output discarded):",
            "",
            "| size | chunks | workers | wall (s) | s per GP | client CPU | client peak RSS "
            "(MiB) | tasks | tasks / chunk | scheduler ms / task | chunks discarded | load |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        lines += [
            f"| {r['size']} | {r['chunks']} | {r['workers']} | {r['wall_s']} | "
            f"{r['s_per_gigapixel']} | {100 * r['client_cpu_share']:.0f}% | "
            f"{r['client_peak_rss_mib']} | {r['tasks_executed']} | {r['tasks_per_chunk']} | "
            f"{r['scheduler_ms_per_task']} | {r['chunks_discarded']} | {_load(r)} |"
            for r in record["runs"]
        ]
        lines.append("")
    if record.get("graphs"):
        lines += [
            "Graphs only (the job's phases, tasks that do almost nothing):",
            "",
            "| size | chunks | workers | tasks | tasks / chunk | graph (MiB) | bytes / task | "
            "build (s) | submit (s) | all on the scheduler (s) | scheduler ms / task to "
            "accept | run to the end (s) | scheduler ms / task to run | client memory growth "
            "(MiB) | load |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        lines += [
            f"| {g['size']} | {g['chunks']} | {g['workers']} | {g['tasks']} | "
            f"{g['tasks_per_chunk']} | {g['graph_mib']} | {g['graph_bytes_per_task']} | "
            f"{g['build_s']} | {g.get('submit_s', 'not submitted')} | {g.get('accepted_s', '')} | "
            f"{g.get('scheduler_ms_per_task_accept', '')} | {g.get('run_s', 'not run')} | "
            f"{g.get('scheduler_ms_per_task_run', '')} | {g['client_rss_growth_mib']} | "
            f"{_load(g)} |"
            for g in record["graphs"]
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--run", default="", help="sizes to run end to end, e.g. 1GP,10GP")
    parser.add_argument("--graphs", default="", help="sizes to build and submit, e.g. 100GP,1TP")
    parser.add_argument("--build-only", default="", help="sizes to build only, e.g. 1TP")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--note", default=None, help="what else ran on the machine")
    parser.add_argument("--render-only", action="store_true")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:  # one measurement in a fresh process (the client's memory is its own)
        kind, size = args.one.split(":")
        measure = {"run": end_to_end, "graph": graph_only, "build": built_only}[kind]
        print(json.dumps(measure(size, args.workers)))
        return 0
    path = RESULTS / "simulate.json"
    record = json.loads(path.read_text()) if path.exists() else {"runs": [], "graphs": []}
    if not args.render_only:
        record["meta"] = run_meta(args.note)
    for kind, sizes in (("run", args.run), ("graph", args.graphs), ("build", args.build_only)):
        for size in filter(None, sizes.split(",")):
            print(f"{kind} {size} ...", flush=True)
            command = [sys.executable, __file__, "--one", f"{kind}:{size}"]
            out = subprocess.run(
                [*command, "--workers", str(args.workers)], capture_output=True, text=True
            )
            if out.returncode:
                print(out.stderr[-3000:], file=sys.stderr)
                return out.returncode
            result = json.loads(out.stdout.strip().splitlines()[-1])
            print(result, flush=True)
            rows = record["runs" if kind == "run" else "graphs"]
            rows[:] = [r for r in rows if (r["size"], r["workers"]) != (size, result["workers"])]
            rows.append(result)
            path.write_text(json.dumps(record, indent=1) + "\n")
    (RESULTS / "simulate.md").write_text(render(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
