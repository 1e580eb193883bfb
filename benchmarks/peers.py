"""daskquant against the peers on one >= 25-megapixel mosaic of real photographs.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/peers.py                      # K = 16, 64, 256 (hours)
    .venv/bin/python benchmarks/peers.py --colors 16 --side 2048 --skip cv2-recipe  # minutes
    .venv/bin/python benchmarks/peers.py --side 2520 --only daskquant libimagequant  # 6.3 MP

Every method runs in its own fresh process (one LocalCluster of 2 single-threaded worker
processes for the Dask methods, except daskquant-threads: dask's threaded scheduler in the
process, as the command line runs a job of at most 16.8 MP), so peak memory is the sum of the resident memory of that
process and its children, sampled every 50 ms. Time is wall time for fit + labels of every
pixel (the library's import included, the cluster's start not); daskquant-threads and
libimagequant also run a second time in their process ("2nd run": no first-call costs, as
in a process that quantizes many images). Compactness is computed here, the same way for all: the sum over all pixels of the
squared distance to the nearest returned center (float64). Results go to
benchmarks/results/peers.json, .md and .png (and the .png to docs/img), with the date, the machine, the commit and the
load average at the start (``--note`` adds what else ran on the machine); another
``--side`` than 5040 writes peers_<side>.json and .md instead (no plot);
``--render-only`` rewrites peers.md from peers.json without running anything.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from _meta import at_least, header, publish_plot, record_options, render_stored, run_meta

RESULTS = Path(__file__).parent / "results"
CACHE = RESULTS / "cache"
METHODS = [
    "daskquant",  # auto path (histogram for 8-bit), recipe criteria and attempts, k-means++
    "daskquant-threads",  # the same in this process, dask's threaded scheduler, no cluster
    "daskquant-random",  # the same with the recipe's random centers
    "daskquant-pixels",  # pixel path, k-means++: the same result as "daskquant", bit for bit
    "cv2-recipe",
    "cv2-1-attempt",
    "sklearn-kmeans",
    "sklearn-minibatch",
    "dask-ml",
    "libimagequant",  # pngquant's library (imagequant package), no dithering, its defaults
]
DEFAULT_SIDE = 5040
CRITERIA = (3, 20, 1.0)  # cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0


def mosaic(side: int) -> np.ndarray:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"mosaic_{side}.npy"
    if not path.exists():
        from daskquant._cli._samples import photo_mosaic

        np.save(path, photo_mosaic(side, side, seed=0))
    return np.load(path)


def run_method(method: str, side: int, k: int, out: Path) -> None:
    """Child process: run one method, save centers and timings."""
    img = mosaic(side)
    pixels = img.reshape(-1, 3)
    info: dict[str, float] = {}
    client = cluster = None
    if method == "daskquant-threads":
        import dask

        dask.config.set(scheduler="threads")  # what the command line runs a small job on
    elif method.startswith(("daskquant", "dask-ml")):
        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None)
        client = Client(cluster)
    t0 = time.perf_counter()
    if method.startswith("daskquant"):
        stamps: list[float] = []
        fit = run_daskquant(method, img, k, stamps)
        centers = fit.centers
        info["iterations"] = fit.n_iter
        gaps = np.diff(stamps)
        gaps = gaps[gaps > 0]
        info["per_iteration"] = float(np.median(gaps)) if gaps.size else 0.0
    elif method.startswith("cv2"):
        import cv2

        cv2.setRNGSeed(0)
        attempts = 10 if method == "cv2-recipe" else 1
        _, _, centers = cv2.kmeans(
            pixels.astype(np.float32), k, None, CRITERIA, attempts, cv2.KMEANS_RANDOM_CENTERS
        )
    elif method == "sklearn-kmeans":
        from sklearn.cluster import KMeans

        data = pixels.astype(np.float32)
        km = KMeans(k, n_init=1, random_state=0).fit(data)
        centers = km.cluster_centers_
        info["iterations"] = km.n_iter_
    elif method == "sklearn-minibatch":
        from sklearn.cluster import MiniBatchKMeans

        km = MiniBatchKMeans(k, random_state=0, n_init=1).fit(pixels.astype(np.float32))
        km.predict(pixels.astype(np.float32))
        centers = km.cluster_centers_
    elif method == "libimagequant":
        centers = run_imagequant(img, k)
    elif method == "dask-ml":
        import dask.array as da
        from dask_ml.cluster import KMeans as DKMeans

        x = da.from_array(pixels.astype(np.float32), chunks=(1 << 21, 3)).persist()
        km = DKMeans(n_clusters=k, max_iter=20, random_state=0).fit(x)
        km.labels_.compute() if hasattr(km.labels_, "compute") else None
        centers = km.cluster_centers_
        info["iterations"] = km.n_iter_
    else:
        raise SystemExit(f"unknown method {method}")
    info["seconds"] = time.perf_counter() - t0
    if method in WARM:  # the same again in this process: without the first call's costs
        t1 = time.perf_counter()
        if method == "libimagequant":
            run_imagequant(img, k)
        else:
            run_daskquant(method, img, k, [])
        info["warm_seconds"] = time.perf_counter() - t1
    if method == "sklearn-kmeans":
        # Time per Lloyd iteration, without the seeding: 10 plain iterations from its centers.
        t1 = time.perf_counter()
        again = KMeans(k, init=centers, n_init=1, max_iter=10, tol=0).fit(data)
        info["per_iteration"] = (time.perf_counter() - t1) / again.n_iter_
    if client is not None:
        client.close()
        cluster.close()  # type: ignore[union-attr]
    np.save(out.with_suffix(".npy"), np.asarray(centers, np.float64))
    out.write_text(json.dumps(info))


def run_daskquant(method: str, img: np.ndarray, k: int, stamps: list[float]) -> Any:
    """daskquant's fit with the recipe's criteria and 10 attempts, and the labels of every
    pixel; ``stamps`` gets the time of every Lloyd update."""
    import daskquant as dq

    fit = dq.fit_palette(
        img,
        k,
        max_iter=CRITERIA[1] - 1,
        epsilon=CRITERIA[2],
        attempts=10,
        init="random" if method.endswith("random") else "k-means++",
        seed=0,
        method="pixels" if method.endswith("pixels") else "auto",
        on_iteration=lambda i, s: stamps.append(time.perf_counter()),
    )
    dq.apply_palette(img, fit.centers).compute()
    return fit


def run_imagequant(img: np.ndarray, k: int) -> np.ndarray:
    """libimagequant's palette of ``img`` (no dithering), with its own remap of every
    pixel; the palette entries some pixel uses."""
    import imagequant
    from PIL import Image

    quantized = imagequant.quantize_pil_image(
        Image.fromarray(img).convert("RGBA"), dithering_level=0.0, max_colors=k
    )
    labels = np.asarray(quantized)  # its own remap, timed with the fit
    table = np.array(quantized.getpalette(), np.float64)[: 3 * 256].reshape(-1, 3)
    return table[np.unique(labels)]


# The methods run twice in their process: the second run has no first-call costs (imports,
# the compiled kernels' loading), as in a process that quantizes many images.
WARM = ("daskquant-threads", "libimagequant")


def tree_rss(pid: int) -> int:
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_sampled(
    cmd: list[str], timeout: float, **popen: object
) -> tuple[int | None, float, int, str]:
    """Run ``cmd`` as a fresh process tree, sampling its memory (all processes) every 50 ms.

    Returns the exit code (None if stopped after ``timeout`` s), the wall time, the peak
    of the summed resident memory in bytes, and the standard output if it was piped.
    """
    peak = 0
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, text=True, **popen)  # type: ignore[call-overload]

    def sample() -> None:
        nonlocal peak
        while child.poll() is None:
            peak = max(peak, tree_rss(child.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        stdout, _ = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        import psutil

        for p in psutil.Process(child.pid).children(recursive=True):
            p.kill()
        child.kill()
        child.wait()
        sampler.join()
        return None, time.perf_counter() - t0, peak, ""
    seconds = time.perf_counter() - t0
    sampler.join()
    return child.returncode, seconds, peak, stdout or ""


def measure(method: str, side: int, k: int, timeout: float) -> dict[str, float]:
    out = CACHE / f"run_{method}_{side}_{k}.json"
    cmd = [sys.executable, __file__, "--child", method, "--side", str(side), "--colors", str(k)]
    code, _, peak, _ = run_sampled(cmd, timeout, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if code is None:
        return {"timeout": timeout, "peak_gib": peak / 2**30}
    if code != 0:
        return {"error": float(code)}
    info = json.loads(out.read_text())
    info["peak_gib"] = peak / 2**30
    img = mosaic(side)
    info["compactness"] = nearest_sse(img, np.load(out.with_suffix(".npy")))
    info["psnr"] = float(10 * np.log10(255.0**2 * img.size / info["compactness"]))
    return info


def nearest_sse(img: np.ndarray, centers: np.ndarray) -> float:
    from daskquant._engine import _kernels

    px = img.reshape(-1, 3)
    total = 0.0
    for start in range(0, px.shape[0], 1 << 22):
        block = px[start : start + (1 << 22)]
        total += float(_kernels.min_distances(block, centers).sum())
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--side", type=int, default=DEFAULT_SIDE, help="mosaic side (5040 = 25.4 MP)")
    ap.add_argument("--colors", type=int, nargs="+", default=[16, 64, 256])
    ap.add_argument("--skip", nargs="*", default=[], help="methods to leave out")
    ap.add_argument("--only", nargs="*", default=[], help="run only these methods")
    ap.add_argument(
        "--timeout", type=float, default=1200, help="seconds per method before it is stopped"
    )
    record_options(ap, "peers")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    # Other sizes than the default get their own record (peers_<side>.json, .md, no plot).
    name = "peers" if args.side == DEFAULT_SIDE else f"peers_{args.side}"
    if args.render_only:
        render_stored(RESULTS, name, render)
        return
    if args.child:
        run_method(
            args.child,
            args.side,
            args.colors[0],
            CACHE / f"run_{args.child}_{args.side}_{args.colors[0]}.json",
        )
        return
    img = mosaic(args.side)
    this_run = run_meta(args.note)
    meta: dict = {
        "image": f"{img.shape[1]} x {img.shape[0]} mosaic of real photographs ({img.shape[0] * img.shape[1] / 1e6:.1f} MP)",
        "machine": this_run["machine"],
        "date": this_run["date"],
        "criteria": "EPS + MAX_ITER, 20, 1.0; 10 attempts, random centers (recipe); sklearn/dask-ml defaults",
        "runs": {},  # the record of the run each K's rows come from
    }
    # The rows of other K values stay, with the record of their own run: ratios are only
    # ever taken within one K, so within one run.
    results: dict[str, dict[str, dict[str, float]]] = {}
    stored = RESULTS / f"{name}.json"
    if stored.exists():
        old = json.loads(stored.read_text())
        if old["meta"].get("image") == meta["image"]:
            for k, rows in old["results"].items():
                if int(k) not in args.colors:
                    results[k] = rows
                    meta["runs"][k] = old["meta"]["runs"][k]
    for k in args.colors:
        meta["runs"][str(k)] = this_run
        results = dict(sorted({**results, str(k): {}}.items(), key=lambda kv: int(kv[0])))
        results[str(k)] = {}
        for method in METHODS:
            if method in args.skip or (args.only and method not in args.only):
                continue
            print(f"K={k} {method} ...", flush=True)
            results[str(k)][method] = measure(method, args.side, k, args.timeout)
            print(f"   {results[str(k)][method]}", flush=True)
            save(meta, results, name)
    save(meta, results, name, final=True)


def save(
    meta: dict,
    results: dict[str, dict[str, dict[str, float]]],
    name: str,
    *,
    final: bool = False,
) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    table = render(meta, results)
    (RESULTS / f"{name}.md").write_text(table)
    if name == "peers":
        plot(results, RESULTS / "peers.png", meta)
        publish_plot(RESULTS / "peers.png")
    if final:
        print(table)


def render(meta: dict, results: dict[str, dict[str, dict[str, float]]]) -> str:
    lines = [header(meta), ""]
    for k, run in sorted(meta.get("runs", {}).items(), key=lambda kv: int(kv[0])):
        record = header({key: v for key, v in run.items() if key != "machine"})
        lines.append(f"K={k}: " + record.replace("\n", " "))
    lines.append("")
    lines.append(
        "| K | method | time (s) | x daskquant time | peak memory (GiB) | compactness | x daskquant compactness | PSNR (dB) | s / Lloyd iteration | 2nd run (s) |"
    )
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for k, rows in results.items():
        ref = rows.get("daskquant", {})
        for method, r in rows.items():
            if "error" in r:
                lines.append(f"| {k} | {method} | failed ({int(r['error'])}) | | | | | | | |")
                continue
            if "timeout" in r:
                # No ratio where daskquant itself was stopped.
                ratio_t = at_least(r["timeout"] / ref["seconds"]) if "seconds" in ref else ""
                lines.append(
                    f"| {k} | {method} | > {r['timeout']:.0f} (stopped) | {ratio_t} | "
                    f"{at_least(r['peak_gib'], 2)} | | | | | |"
                )
                continue
            ratio = r["seconds"] / ref["seconds"] if "seconds" in ref else float("nan")
            cratio = (
                r["compactness"] / ref["compactness"] if "compactness" in ref else float("nan")
            )
            # Under 0.1 ms: the iterations were reported at once (a fit on the workers).
            per_iter = f"{r['per_iteration']:.3f}" if r.get("per_iteration", 0) > 1e-4 else ""
            psnr = f"{r['psnr']:.2f}" if "psnr" in r else ""
            warm = f"{r['warm_seconds']:.2f}" if "warm_seconds" in r else ""
            lines.append(
                f"| {k} | {method} | {r['seconds']:.2f} | {ratio:.{1 if ratio >= 1 else 3}f} | {r['peak_gib']:.2f} | "
                f"{r['compactness']:.4g} | {cratio:.3f} | {psnr} | {per_iter} | {warm} |"
            )
    return "\n".join(lines) + "\n"


def plot(
    results: dict[str, dict[str, dict[str, float]]], path: Path, meta: dict[str, str]
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = list(results)
    methods = [
        m for m in METHODS if any(m in results[k] and "seconds" in results[k][m] for k in ks)
    ]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / max(len(methods), 1)
    for i, m in enumerate(methods):
        vals = [results[k].get(m, {}).get("seconds", np.nan) for k in ks]
        ax.bar(np.arange(len(ks)) + i * width, vals, width, label=m)
    ax.set_xticks(np.arange(len(ks)) + width * (len(methods) - 1) / 2, [f"K={k}" for k in ks])
    ax.set_yscale("log")
    ax.set_ylabel("wall time (s, log)")
    ax.set_title(f"{meta['image']}, {meta['machine']}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
