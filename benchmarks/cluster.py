"""daskquant on a separately started cluster: what the client does, and a 10,000-image archive.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/cluster.py                        # everything
    .venv/bin/python benchmarks/cluster.py --only collection --images 2000

Every run starts its own ``dask scheduler`` and single-threaded ``dask worker`` processes on
127.0.0.1 (no nannies), with a scheduler preload (benchmarks/_taskcount.py) that counts the
tasks executed, and runs ``daskquant quantize ... --scheduler ADDRESS --json`` in a fresh
client process that records its own CPU time, wall time, peak memory, and the bytes it read
(``rchar`` of /proc/self/io: everything read from sockets and files during the job, an upper
bound on what the client received from the cluster), and the phases the command prints.

- ``mosaic``: the 268 MP photo mosaic of benchmarks/scale.py (16384 x 16384 RGB uint8 Zarr,
  2048 x 2048 chunks, built once under benchmarks/results/cache), K = 256, the recipe's
  criteria (EPS + MAX_ITER, 20, 1.0; 10 attempts), on 2 workers: the client's CPU against
  the command's wall time (issue 17's goal: at most 25%), the bytes it read; then the same
  job on 1, 2 and 4 workers for the fit time (the attempts run in parallel on the workers).
- ``collection``: 10,000 JPEG files of 512 x 512 pixels (mosaics of the bundled photos,
  each a different crop and scale; quality 90; written once to the cache), quantized to one
  16-color palette on 2 workers: time and tasks per image, the client's memory.

Results go to benchmarks/results/cluster.json and .md; ``--render-only`` rewrites the .md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _meta import header, record_options, render_stored, run_meta

HERE = Path(__file__).parent
RESULTS = HERE / "results"
CACHE = RESULTS / "cache"
CRITERIA = ["--max-iter", "19", "--epsilon", "1", "--seed", "0", "--attempts", "10"]
MEMORY = "5GiB"  # per worker: past it they spill to disk rather than crowd the machine


def crops(n: int) -> Path:
    """The cached collection: ``n`` 512 x 512 JPEG mosaics of the bundled photos."""
    import cv2

    from daskquant._cli._samples import photo_mosaic

    folder = CACHE / f"crops_{n}"
    done = folder / ".built"
    if done.exists():
        return folder
    print(f"writing {folder} ...", flush=True)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        bgr = cv2.cvtColor(photo_mosaic(512, 512, seed=100_003 * i + 17), cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(folder / f"crop{i:05d}.jpg"), bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])
    done.write_text("ok")
    return folder


def start(workers: int, folder: Path) -> tuple[list[subprocess.Popen[bytes]], str, Path]:
    """A scheduler (with the task-count preload) and ``workers`` single-threaded workers."""
    folder.mkdir(parents=True, exist_ok=True)
    file, counts = folder / "scheduler.json", folder / "tasks.json"
    file.unlink(missing_ok=True)
    counts.unlink(missing_ok=True)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        "DASK_DISTRIBUTED__SCHEDULER__PRELOAD": "_taskcount",
        "DASKQUANT_TASKCOUNT": str(counts),
    }
    py = [sys.executable, "-m"]
    local = ["--host", "127.0.0.1"]
    scheduler = ["--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(file)]
    worker = ["--nthreads", "1", "--no-nanny", "--no-dashboard", "--memory-limit", MEMORY]
    worker.append("--name")
    log = open(folder / "cluster.log", "wb")
    procs = [
        subprocess.Popen(
            [*py, "distributed.cli.dask_scheduler", *local, "--port", "0", *scheduler],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    ]
    while not file.exists():
        time.sleep(0.1)
    time.sleep(0.5)
    address = json.loads(file.read_text())["address"]
    for i in range(workers):
        procs.append(
            subprocess.Popen(
                [*py, "distributed.cli.dask_worker", address, *local, *worker, f"w{i}"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    log.close()
    from distributed import Client

    with Client(address, timeout=60) as c:
        c.wait_for_workers(workers, timeout=120)
    return procs, address, counts


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in reversed(procs):  # workers first, then the scheduler (which writes the counts)
        p.terminate()
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def client_child(out: str, argv: list[str]) -> None:
    """Child process: run the command in this process and record what the client did."""
    import contextlib
    import io

    from daskquant._cli._main import main

    def read_bytes() -> int:
        text = Path("/proc/self/io").read_text()
        return int(next(ln.split()[1] for ln in text.splitlines() if ln.startswith("rchar")))

    cpu0, t0, r0 = sum(os.times()[:2]), time.perf_counter(), read_bytes()
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(argv)
    record = {
        "code": code,
        "job_wall": time.perf_counter() - t0,
        "job_cpu": sum(os.times()[:2]) - cpu0,
        "process_cpu": sum(os.times()[:2]),
        "bytes_read": read_bytes() - r0,
        "summary_bytes": len(stdout.getvalue().encode()),
        "client_peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "summary": json.loads(stdout.getvalue()) if code == 0 else None,
        "stderr": stderr.getvalue()[-4000:],
    }
    Path(out).write_text(json.dumps(record))


def job(name: str, workers: int, source: Path, k: int, extra: list[str], timeout: float) -> dict:
    """One measured run on its own cluster of ``workers`` workers."""
    folder = CACHE / f"cluster_{name}"
    out = CACHE / f"cluster_{name}.zarr"
    shutil.rmtree(out, ignore_errors=True)
    procs, address, counts = start(workers, folder)
    record_file = folder / "client.json"
    argv = ["quantize", str(source), str(out), "-k", str(k), "--scheduler", address, "--json"]
    try:
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, __file__, "--client-child", str(record_file), "--", *argv, *extra],
            check=True,
            timeout=timeout,
        )
        wall = time.perf_counter() - t0
    finally:
        stop(procs)
    rec = json.loads(record_file.read_text())
    rec.update(json.loads(counts.read_text()) if counts.exists() else {})
    rec["command_wall"], rec["workers"] = wall, workers
    summary = rec.pop("summary") or {}
    rec["phases"] = summary.get("phases") or _phases(rec.pop("stderr", ""))
    rec["seconds"] = summary.get("seconds")
    rec["n_pixels"] = summary.get("n_pixels")
    shutil.rmtree(out, ignore_errors=True)
    print(name, json.dumps({k: v for k, v in rec.items() if k != "phases"}), flush=True)
    return rec


def _phases(log: str) -> dict[str, float]:
    from scale import PHASE

    return {m[1].strip(): float(m[2]) for m in PHASE.finditer(log)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=["mosaic", "workers", "collection"], nargs="+")
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--client-child", help=argparse.SUPPRESS)
    record_options(ap, "cluster")
    args, rest = ap.parse_known_args()
    if args.client_child:
        client_child(args.client_child, [a for a in rest if a != "--"])
        return
    if args.render_only:
        render_stored(RESULTS, "cluster", render_md)
        return
    meta, results = _load()
    meta.update(run_meta(args.note))
    only = set(args.only or ["mosaic", "workers", "collection"])
    if only & {"mosaic", "workers"}:
        from scale import build

        mosaic = build(16384)
        quiet = [*CRITERIA, "-q"]
        if "mosaic" in only:
            results["mosaic"] = job("mosaic", 2, mosaic, 256, quiet, args.timeout)
        if "workers" in only:
            for n in (1, 2, 4):
                results[f"workers_{n}"] = job(f"w{n}", n, mosaic, 256, CRITERIA, args.timeout)
    if "collection" in only:
        folder = crops(args.images)
        results["collection"] = job("collection", 2, folder, 16, ["-q"], args.timeout)
        results["collection"]["images"] = args.images
    _save(meta, results)


def _load() -> tuple[dict, dict]:
    path = RESULTS / "cluster.json"
    if not path.exists():
        return {}, {}
    stored = json.loads(path.read_text())
    return stored["meta"], stored["results"]


def _save(meta: dict, results: dict) -> None:
    (RESULTS / "cluster.json").write_text(
        json.dumps({"meta": meta, "results": results}, indent=1) + "\n"
    )
    (RESULTS / "cluster.md").write_text(render_md(meta, results))


def render_md(meta: dict, results: dict) -> str:
    lines = [header(meta), ""]
    if "mosaic" in results:
        r = results["mosaic"]
        lines += [
            "268 MP mosaic, K = 256, 10 attempts, `dask scheduler` + 2 workers started apart:",
            "",
            "| command wall | client CPU (whole process) | share | client CPU (the job) "
            "| bytes read by the client | summary | client peak |",
            "|---:|---:|---:|---:|---:|---:|---:|",
            f"| {r['command_wall']:.1f} s | {r['process_cpu']:.1f} s "
            f"| {100 * r['process_cpu'] / r['command_wall']:.1f}% | {r['job_cpu']:.1f} s "
            f"| {r['bytes_read'] / 1e6:.2f} MB | {r['summary_bytes'] / 1e3:.1f} kB "
            f"| {r['client_peak'] / 2**20:.0f} MiB |",
            "",
        ]
    rows = [(n, results[f"workers_{n}"]) for n in (1, 2, 4) if f"workers_{n}" in results]
    if rows:
        lines += [
            "The same job on 1, 2 and 4 single-threaded workers (phases as the command prints "
            "them):",
            "",
            "| workers | command wall | job | phases |",
            "|---:|---:|---:|---|",
        ]
        for n, r in rows:
            phases = ", ".join(f"{k} {v:.1f} s" for k, v in r["phases"].items())
            lines.append(f"| {n} | {r['command_wall']:.1f} s | {r['seconds']:.1f} s | {phases} |")
        lines.append("")
    if "collection" in results:
        r = results["collection"]
        n = r["images"]
        lines += [
            f"A collection of {n:,} JPEG files, 512 x 512, K = 16, 2 workers"
            + (f" ({r['load']})" if "load" in r else "")
            + ":",
            "",
            "| command wall | per image | tasks | per image | client CPU | client peak "
            "| bytes read by the client |",
            "|---:|---:|---:|---:|---:|---:|---:|",
            f"| {r['command_wall']:.1f} s | {1000 * r['command_wall'] / n:.1f} ms "
            f"| {r.get('tasks', 0):,} | {r.get('tasks', 0) / n:.1f} | {r['process_cpu']:.1f} s "
            f"| {r['client_peak'] / 2**20:.0f} MiB | {r['bytes_read'] / 1e6:.1f} MB |",
            "",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
