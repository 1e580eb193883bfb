"""daskquant at scale: 64 MP, 256 MP and 1 GP Zarr images on a 2-worker local cluster.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/scale.py                  # everything (about an hour)
    .venv/bin/python benchmarks/scale.py --sizes 64MP     # a quick look

The inputs are RGB uint8 Zarr v3 arrays (2048 x 2048 chunks, Zstd level 3) of real
photographs: every chunk is a mosaic of scikit-image's bundled photos at varied scales
(daskquant._cli._samples.photo_mosaic). They are built once and cached under
benchmarks/results/cache (about 4 GB in all).

Every run is a fresh process tree (after an unmeasured small run that fills numba's cache), timed from start to exit, with its memory sampled every
50 ms over all its processes (client, scheduler, nannies, workers):

- ``daskquant quantize`` end to end (fit + labels + Zarr write), the recipe's criteria
  (EPS + MAX_ITER, 20, 1.0; 10 attempts), K = 16 and 256, on the command line's own
  LocalCluster of 2 single-threaded workers;
- the pixel path (``--method pixels``, 1 attempt) at K = 16 on 64 MP and 256 MP;
- the I/O floor: the same local cluster reads the input and writes a uint8 array of the
  labels' shape, chunks and codec (its first channel), with no computation.

A scheduler preload (benchmarks/_taskcount.py) counts the tasks each run executes, the
run's stderr is searched for Dask's "large graph" warning, and the seconds of each phase the
command prints (histogram, writing, ...) are kept. Results go to
benchmarks/results/scale.json, .md and .png (and the .png to docs/img). Rows kept from an earlier invocation (say, of
``--sizes 64MP``) keep their own record of date, commit, load average at the start and
``--note`` (what else ran on the machine); ``--render-only`` rewrites scale.md from
scale.json without running anything.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from _meta import header, publish_plot, record_options, render_stored, run_meta
from peers import run_sampled

RESULTS = Path(__file__).parent / "results"
CACHE = RESULTS / "cache"
SIZES = {"64MP": 8192, "256MP": 16384, "1GP": 32768}
CHUNK = 2048
CRITERIA = ["--max-iter", "19", "--epsilon", "1", "--seed", "0"]  # maxCount 20 = 19 updates
CLUSTER = ["--workers", "2", "--threads-per-worker", "1"]
LARGE_GRAPH = re.compile(r"large graph", re.IGNORECASE)
# A finished phase as the command prints it: "histogram   [#####] 100%  138/138 tasks  13.4 s"
PHASE = re.compile(r"^(\S.*?)\s+\[[^]]*\]\s+\d+%\s+[\d,]+/[\d,]+ tasks\s+([\d.]+) s$", re.M)


def build(side: int) -> Path:
    """The cached (side, side, 3) uint8 input, built chunk by chunk on local threads."""
    import dask
    import dask.array as da
    import zarr
    from zarr.codecs import ZstdCodec

    from daskquant._cli._samples import photo_mosaic

    path = CACHE / f"scale_{side}.zarr"
    if path.exists() and zarr.open_array(str(path), mode="r").attrs.get("built"):
        return path
    print(f"building {path} ...", flush=True)

    def block(block_info: dict | None = None) -> np.ndarray:
        assert block_info is not None
        (y0, y1), (x0, x1), _ = block_info[None]["array-location"]
        seed = side * 1_000_003 + y0 * 7 + x0
        return photo_mosaic(y1 - y0, x1 - x0, seed=seed)

    image = da.map_blocks(
        block,
        chunks=((CHUNK,) * (side // CHUNK), (CHUNK,) * (side // CHUNK), (3,)),
        dtype=np.uint8,
    )
    target = zarr.create_array(
        str(path),
        shape=image.shape,
        chunks=(CHUNK, CHUNK, 3),
        dtype=np.uint8,
        compressors=ZstdCodec(level=3),
        overwrite=True,
    )
    with dask.config.set(scheduler="threads", num_workers=os.cpu_count()):
        da.store(image, target, lock=False)
    target.attrs["built"] = True
    return path


def warm_up(timeout: float) -> None:
    """One small run of each kind, unmeasured: numba compiles the kernels into its cache
    (daskquant/__pycache__) on first use in each process, which is not what is measured."""
    small = build(CHUNK)
    out = CACHE / "out_warm.zarr"
    for k, pixels in ((16, False), (16, True)):
        run(quantize_cmd(small, out, k, pixels=pixels), "warm", timeout)


def floor_child(source: str, out: str, chunks: str) -> None:
    """Child process: read the input, write its first channel as the labels would be."""
    import dask.array as da
    import zarr
    from distributed import Client, LocalCluster

    from daskquant._store._store import write_large

    cy, cx = (int(c) for c in chunks.split(","))
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster),
    ):
        image = da.from_zarr(source, chunks=(cy, cx, 3))
        first = image.map_blocks(lambda b: np.ascontiguousarray(b[..., 0]), drop_axis=2)
        write_large(zarr.open_group(out, mode="w"), {"labels": first})


def run(cmd: list[str], name: str, timeout: float) -> dict:
    """Run ``cmd`` as a fresh process tree: wall time, peak memory, tasks, warnings."""
    counts = CACHE / f"tasks_{name}.json"
    log = CACHE / f"log_{name}.txt"
    counts.unlink(missing_ok=True)
    env = {
        **os.environ,
        "DASK_DISTRIBUTED__SCHEDULER__PRELOAD": json.dumps(
            [str(Path(__file__).with_name("_taskcount.py"))]
        ),
        "DASKQUANT_TASKCOUNT": str(counts),
    }
    with open(log, "w") as err:
        code, seconds, peak, stdout = run_sampled(
            cmd, timeout, env=env, stdout=subprocess.PIPE, stderr=err
        )
    if code is None:
        return {"timeout": timeout, "peak_gib": peak / 2**30}
    text = log.read_text()
    if code != 0:
        print(text[-3000:], file=sys.stderr)
        return {"error": code}
    result: dict = {"seconds": seconds, "peak_gib": peak / 2**30}
    result["large_graph_warnings"] = len(LARGE_GRAPH.findall(text))
    if found := phases(text):
        result["phases"] = found
    if counts.exists():
        result.update(json.loads(counts.read_text()))
    if stdout.strip().startswith("{"):
        summary = json.loads(stdout)
        result["job_seconds"] = summary["seconds"]
        result["n_iter"] = summary["n_iter"]
        result["compactness"] = summary["compactness"]
        result["method"] = summary["method"]
    return result


def phases(log: str) -> dict[str, float]:
    """Seconds of each phase in a ``daskquant quantize`` stderr log, by phase name."""
    found: dict[str, float] = {}
    for name, seconds in PHASE.findall(log):
        found[name] = round(found.get(name, 0.0) + float(seconds), 1)
    return found


def quantize_cmd(source: Path, out: Path, k: int, *, pixels: bool) -> list[str]:
    method = ["--method", "pixels", "--attempts", "1"] if pixels else ["--attempts", "10"]
    return [
        *(sys.executable, "-m", "daskquant", "quantize", str(source), str(out)),
        *("-k", str(k), *CRITERIA, *method, *CLUSTER),
        *("--no-metrics", "--overwrite", "--json"),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    ap.add_argument("--colors", type=int, nargs="+", default=[16, 256])
    ap.add_argument("--pixels", nargs="*", default=["64MP", "256MP"], help="pixel-path sizes")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    record_options(ap, "scale")
    ap.add_argument("--floor-child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.floor_child:
        floor_child(*args.floor_child)
        return
    if args.render_only:
        render_stored(RESULTS, "scale", render_md)
        return
    CACHE.mkdir(parents=True, exist_ok=True)
    meta, results = load()
    meta["runs"].append({**run_meta(args.note), "command": " ".join(sys.argv)})
    meta["machine"] = meta["runs"][-1]["machine"]
    this_run = len(meta["runs"]) - 1
    warm_up(args.timeout)
    for size in args.sizes:
        source = build(SIZES[size])
        out = CACHE / f"out_{size}.zarr"
        rows = results.setdefault(size, {})
        for k in args.colors:
            print(f"{size} K={k} ...", flush=True)
            rows[f"K={k}"] = run(
                quantize_cmd(source, out, k, pixels=False), f"{size}_{k}", args.timeout
            )
            rows[f"K={k}"]["run"] = this_run
            print(f"   {rows[f'K={k}']}", flush=True)
            save(meta, results)
        chunks = label_chunks(out)
        print(f"{size} I/O floor (chunks {chunks}) ...", flush=True)
        floor_out = str(CACHE / f"floor_{size}.zarr")
        floor = [sys.executable, __file__, "--floor-child", str(source), floor_out, chunks]
        rows["I/O floor"] = run(floor, f"{size}_floor", args.timeout)
        rows["I/O floor"]["run"] = this_run
        print(f"   {rows['I/O floor']}", flush=True)
        save(meta, results)
        if size in args.pixels:
            print(f"{size} pixel path K=16 ...", flush=True)
            cmd = quantize_cmd(source, out, 16, pixels=True)
            rows["pixels K=16"] = run(cmd, f"{size}_pixels", args.timeout)
            rows["pixels K=16"]["run"] = this_run
            print(f"   {rows['pixels K=16']}", flush=True)
            save(meta, results)
    print(render_md(meta, results))


def label_chunks(store: Path) -> str:
    """The chunks daskquant chose for ``store``'s labels, as "rows,cols"."""
    import zarr

    if not (store / "labels").exists():
        return f"{CHUNK},{CHUNK}"
    return ",".join(str(c) for c in zarr.open_array(str(store / "labels"), mode="r").chunks)


def load() -> tuple[dict, dict]:
    """The stored meta and results; meta["runs"] records each invocation that left rows."""
    path = RESULTS / "scale.json"
    if not path.exists():
        return {"runs": []}, {}
    stored = json.loads(path.read_text())
    stored["meta"].setdefault("runs", [])
    return stored["meta"], stored["results"]


def save(meta: dict, results: dict) -> None:
    ordered = {s: results[s] for s in SIZES if s in results}
    # Renumber the runs that still have rows, so the record holds no run without results.
    used = sorted({r["run"] for rows in ordered.values() for r in rows.values() if "run" in r})
    renumber = {old: new for new, old in enumerate(used)}
    for rows in ordered.values():
        for r in rows.values():
            if "run" in r:
                r["run"] = renumber[r["run"]]
    meta = {**meta, "runs": [meta["runs"][i] for i in used]}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scale.json").write_text(json.dumps({"meta": meta, "results": ordered}, indent=2))
    (RESULTS / "scale.md").write_text(render_md(meta, ordered))
    plot(ordered, RESULTS / "scale.png", meta)
    publish_plot(RESULTS / "scale.png")


def render_md(meta: dict, results: dict) -> str:
    """scale.md: the record of each run, the table, and where the time went."""
    runs = meta.get("runs", [])
    if len(runs) == 1:
        lines = [header(runs[0])]
    else:
        lines = [f"Run {i + 1}: {header(run)}" for i, run in enumerate(runs)]
    return (
        "\n\n".join(lines) + "\n\n" + render(results, many_runs=len(runs) > 1) + breakdown(results)
    )


def render(results: dict, *, many_runs: bool = False) -> str:
    lines = [
        "| image | run | time (s) | s / MP | MP/s | x I/O floor | peak memory (GiB) | tasks | large-graph warnings |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size, rows in results.items():
        mp = SIZES[size] ** 2 / 1e6
        floor = rows.get("I/O floor", {}).get("seconds")
        for name, r in rows.items():
            case = f"{name} (run {r['run'] + 1})" if many_runs and "run" in r else name
            if "seconds" not in r:
                why = f"stopped after {r['timeout']:.0f} s" if "timeout" in r else "failed"
                lines.append(f"| {size} | {case} | {why} | | | | | | |")
                continue
            ratio = f"{r['seconds'] / floor:.2f}" if floor else ""
            lines.append(
                f"| {size} | {case} | {r['seconds']:.1f} | {r['seconds'] / mp:.4f} | "
                f"{mp / r['seconds']:.1f} | {ratio} | {r['peak_gib']:.2f} | "
                f"{r.get('tasks', '')} | {r.get('large_graph_warnings', '')} |"
            )
    return "\n".join(lines) + "\n"


def breakdown(results: dict) -> str:
    """Where the time of each quantize run went: the phases the command printed, the rest of
    the job (mostly the fit), and the time outside the job (process and cluster start, exit)."""
    timed = [
        (size, name, r)
        for size, rows in results.items()
        for name, r in rows.items()
        if "phases" in r and "job_seconds" in r
    ]
    if not timed:
        return ""
    names = list(dict.fromkeys(p for _, _, r in timed for p in r["phases"]))
    lines = [
        "",
        "Where the time goes (seconds; phases as the command printed them):",
        "",
        "| image | run | "
        + " | ".join(names)
        + " | rest of the job, mostly the fit | outside the job: process and cluster start, exit | total |",
        "|---|---|" + "---:|" * (len(names) + 3),
    ]
    for size, name, r in timed:
        shown = [f"{r['phases'][p]:.1f}" if p in r["phases"] else "" for p in names]
        rest = r["job_seconds"] - sum(r["phases"].values())
        lines.append(
            f"| {size} | {name} | "
            + " | ".join(shown)
            + f" | {rest:.1f} | {r['seconds'] - r['job_seconds']:.1f} | {r['seconds']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def plot(results: dict, path: Path, meta: dict[str, str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({n for rows in results.values() for n in rows}, key=str)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for name in names:
        points = [
            (SIZES[s] ** 2 / 1e6, rows[name])
            for s, rows in results.items()
            if "seconds" in rows.get(name, {})
        ]
        if not points:
            continue
        mp = np.array([p[0] for p in points])
        left.plot(
            mp, [p["seconds"] / m for m, (_, p) in zip(mp, points, strict=True)], "o-", label=name
        )
        right.plot(mp, [p[1]["peak_gib"] for p in points], "o-", label=name)
    for ax, label in (
        (left, "seconds per megapixel"),
        (right, "peak memory, all processes (GiB)"),
    ):
        ax.set_xscale("log")
        ax.set_xlabel("image size (megapixels, log)")
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    right.axhline(3, color="gray", linestyle=":", label="3 GiB target")
    right.set_ylim(0, max(3.3, right.get_ylim()[1]))
    left.legend(fontsize=8)
    right.legend(fontsize=8)
    fig.suptitle(f"daskquant quantize end to end, 2 workers; {meta['machine']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
