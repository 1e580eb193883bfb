"""daskquant at scale: 64 MP, 256 MP and 1 GP Zarr images on a 2-worker local cluster.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/scale.py                  # everything (about an hour)
    .venv/bin/python benchmarks/scale.py --sizes 64MP     # a quick look

The inputs are RGB uint8 Zarr v3 arrays (2048 x 2048 chunks, Zstd level 3) of real
photographs: every chunk is a mosaic of scikit-image's bundled photos at varied scales
(daskquant._samples.photo_mosaic). They are built once and cached under
benchmarks/results/cache (about 4 GB in all).

Every run is a fresh process tree (after an unmeasured small run that fills numba's cache), timed from start to exit, with its memory sampled every
50 ms over all its processes (client, scheduler, nannies, workers):

- ``daskquant quantize`` end to end (fit + labels + Zarr write), the recipe's criteria
  (EPS + MAX_ITER, 20, 1.0; 10 attempts), K = 16 and 256, on the command line's own
  LocalCluster of 2 single-threaded workers;
- the pixel path (``--method pixels``, 1 attempt) at K = 16 on 64 MP and 256 MP;
- the I/O floor: the same local cluster reads the input and writes a uint8 array of the
  labels' shape, chunks and codec (its first channel), with no computation.

A scheduler preload (benchmarks/_taskcount.py) counts the tasks each run executes, and the
run's stderr is searched for Dask's "large graph" warning. Results go to
benchmarks/results/scale.json, .md and .png.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from peers import run_sampled

RESULTS = Path(__file__).parent / "results"
CACHE = RESULTS / "cache"
SIZES = {"64MP": 8192, "256MP": 16384, "1GP": 32768}
CHUNK = 2048
CRITERIA = ["--max-iter", "19", "--epsilon", "1", "--seed", "0"]  # maxCount 20 = 19 updates
CLUSTER = ["--workers", "2", "--threads-per-worker", "1"]
LARGE_GRAPH = re.compile(r"large graph", re.IGNORECASE)


def build(side: int) -> Path:
    """The cached (side, side, 3) uint8 input, built chunk by chunk on local threads."""
    import dask
    import dask.array as da
    import zarr
    from zarr.codecs import ZstdCodec

    from daskquant._samples import photo_mosaic

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

    from daskquant._store import write_large

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
    if counts.exists():
        result.update(json.loads(counts.read_text()))
    if stdout.strip().startswith("{"):
        summary = json.loads(stdout)
        result["job_seconds"] = summary["seconds"]
        result["n_iter"] = summary["n_iter"]
        result["compactness"] = summary["compactness"]
        result["method"] = summary["method"]
    return result


def quantize_cmd(source: Path, out: Path, k: int, *, pixels: bool) -> list[str]:
    method = ["--method", "pixels", "--attempts", "1"] if pixels else ["--attempts", "10"]
    return [
        *(sys.executable, "-m", "daskquant", "quantize", str(source), str(out)),
        *("-k", str(k), *CRITERIA, *method, *CLUSTER),
        *("--no-quality", "--overwrite", "--json"),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    ap.add_argument("--colors", type=int, nargs="+", default=[16, 256])
    ap.add_argument("--pixels", nargs="*", default=["64MP", "256MP"], help="pixel-path sizes")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    ap.add_argument("--floor-child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.floor_child:
        floor_child(*args.floor_child)
        return
    CACHE.mkdir(parents=True, exist_ok=True)
    warm_up(args.timeout)
    results = load()
    for size in args.sizes:
        source = build(SIZES[size])
        out = CACHE / f"out_{size}.zarr"
        rows = results.setdefault(size, {})
        for k in args.colors:
            print(f"{size} K={k} ...", flush=True)
            rows[f"K={k}"] = run(
                quantize_cmd(source, out, k, pixels=False), f"{size}_{k}", args.timeout
            )
            print(f"   {rows[f'K={k}']}", flush=True)
            save(results)
        chunks = label_chunks(out)
        print(f"{size} I/O floor (chunks {chunks}) ...", flush=True)
        floor_out = str(CACHE / f"floor_{size}.zarr")
        floor = [sys.executable, __file__, "--floor-child", str(source), floor_out, chunks]
        rows["I/O floor"] = run(floor, f"{size}_floor", args.timeout)
        print(f"   {rows['I/O floor']}", flush=True)
        save(results)
        if size in args.pixels:
            print(f"{size} pixel path K=16 ...", flush=True)
            cmd = quantize_cmd(source, out, 16, pixels=True)
            rows["pixels K=16"] = run(cmd, f"{size}_pixels", args.timeout)
            print(f"   {rows['pixels K=16']}", flush=True)
            save(results)
    print(render(results))


def label_chunks(store: Path) -> str:
    """The chunks daskquant chose for ``store``'s labels, as "rows,cols"."""
    import zarr

    if not (store / "labels").exists():
        return f"{CHUNK},{CHUNK}"
    return ",".join(str(c) for c in zarr.open_array(str(store / "labels"), mode="r").chunks)


def load() -> dict:
    path = RESULTS / "scale.json"
    return json.loads(path.read_text())["results"] if path.exists() else {}


def save(results: dict) -> None:
    meta = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB",
    }
    RESULTS.mkdir(exist_ok=True)
    ordered = {s: results[s] for s in SIZES if s in results}
    (RESULTS / "scale.json").write_text(json.dumps({"meta": meta, "results": ordered}, indent=2))
    (RESULTS / "scale.md").write_text(f"{meta['machine']}; {meta['date']}.\n\n" + render(ordered))
    plot(ordered, RESULTS / "scale.png", meta)


def render(results: dict) -> str:
    lines = [
        "| image | run | time (s) | s / MP | MP/s | x I/O floor | peak memory (GiB) | tasks | large-graph warnings |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size, rows in results.items():
        mp = SIZES[size] ** 2 / 1e6
        floor = rows.get("I/O floor", {}).get("seconds")
        for name, r in rows.items():
            if "seconds" not in r:
                why = f"stopped after {r['timeout']:.0f} s" if "timeout" in r else "failed"
                lines.append(f"| {size} | {name} | {why} | | | | | | |")
                continue
            ratio = f"{r['seconds'] / floor:.2f}" if floor else ""
            lines.append(
                f"| {size} | {name} | {r['seconds']:.1f} | {r['seconds'] / mp:.4f} | "
                f"{mp / r['seconds']:.1f} | {ratio} | {r['peak_gib']:.2f} | "
                f"{r.get('tasks', '')} | {r.get('large_graph_warnings', '')} |"
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
