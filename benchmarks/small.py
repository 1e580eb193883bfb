"""Small jobs end to end: ``daskquant quantize`` in its own process against a LocalCluster.

    .venv/bin/python benchmarks/small.py [--sides 724 2520] [--colors 16] [--repeat 3]
        [--note "nothing else running"] [--render-only]

For each mosaic of real photographs (``photo_mosaic(S, S, seed=0)`` as a PNG; 724 is 0.5
MP, 2520 the 6.4 MP ``make demo`` mosaic), the wall time of the whole command as a shell
runs it (interpreter start, imports, reading the PNG, the fit, the labels, writing the
store, the default metrics, shutting down), best of ``--repeat``:

- "this process": the default, no cluster asked for: a job of at most 16.8 MP runs on
  dask's threaded scheduler in the command's process (``IN_PROCESS_PIXELS``);
- "LocalCluster": ``--workers 2 --threads-per-worker 1`` (what the default was on this
  2-core machine before): the command starts a cluster of 2 worker processes;
- "libimagequant": a fresh Python process that reads the same PNG (Pillow), quantizes it
  with the ``imagequant`` package (pngquant's library, no dithering) and writes the
  paletted PNG: what a user of pngquant's library runs for the same job.

The two daskquant runs must give the same store (checked here, array by array). Results go
to benchmarks/results/small.json and .md (``--out`` picks another folder), with the date, the machine, the commit
and the load average at the start.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from _meta import header, record_options, render_stored, run_meta, save_results

RESULTS = Path(__file__).parent / "results"
CACHE = RESULTS / "cache"
WAYS = {
    "this process": [],
    "LocalCluster": ["--workers", "2", "--threads-per-worker", "1"],
}
IMAGEQUANT = """
import sys
import imagequant
from PIL import Image
img = Image.open(sys.argv[1]).convert("RGBA")
out = imagequant.quantize_pil_image(img, dithering_level=0.0, max_colors=int(sys.argv[3]))
out.save(sys.argv[2])
"""


def mosaic_png(side: int) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"mosaic_{side}.png"
    if not path.exists():
        from daskquant._cli._samples import photo_mosaic

        rgb = photo_mosaic(side, side, seed=0)
        cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def timed(cmd: list[str]) -> tuple[float, str]:
    env = {k: v for k, v in os.environ.items() if k != "DASK_SCHEDULER_ADDRESS"}
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return time.perf_counter() - t, done.stdout


def same_store(a: Path, b: Path) -> bool:
    import zarr

    ga, gb = zarr.open_group(str(a), mode="r"), zarr.open_group(str(b), mode="r")
    names = sorted(ga.array_keys())
    return names == sorted(gb.array_keys()) and all(
        np.array_equal(np.asarray(ga[n]), np.asarray(gb[n])) for n in names
    )


def measure(side: int, k: int, repeat: int) -> dict[str, dict[str, float | str]]:
    png = mosaic_png(side)
    rows: dict[str, dict[str, float | str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        stores = {}
        for way, extra in WAYS.items():
            stores[way] = Path(tmp) / f"{len(stores)}.zarr"
            cmd = [sys.executable, "-m", "daskquant", "quantize", str(png), str(stores[way])]
            cmd += ["-k", str(k), "--seed", "0", "--overwrite", "--json", "-q", *extra]
            runs = [timed(cmd) for _ in range(repeat)]
            seconds, out = min(runs)
            summary = json.loads(out)
            rows[way] = {
                "seconds": seconds,
                "job_seconds": summary["seconds"],
                "cluster": summary["cluster"]["kind"],
                "psnr": summary["extra"]["quality"]["psnr"],
            }
        same = same_store(*stores.values())
        for row in rows.values():
            row["same_store"] = "yes" if same else "NO"
        out_png = Path(tmp) / "liq.png"
        cmd = [sys.executable, "-c", IMAGEQUANT, str(png), str(out_png), str(k)]
        seconds = min(timed(cmd)[0] for _ in range(repeat))
        rows["libimagequant"] = {"seconds": seconds, "psnr": psnr_of(png, out_png)}
    return rows


def psnr_of(png: Path, paletted: Path) -> float:
    from PIL import Image

    rgb = cv2.cvtColor(cv2.imread(str(png)), cv2.COLOR_BGR2RGB).astype(np.float64)
    out = np.asarray(Image.open(paletted).convert("RGB"), np.float64)
    return float(10 * np.log10(255.0**2 / np.mean((rgb - out) ** 2)))


def render(meta: dict, results: dict[str, dict[str, dict[str, float | str]]]) -> str:
    lines = [
        header(meta),
        "",
        "Wall time of the whole command (best of "
        f"{meta['repeat']}), K = {meta['colors']}, seed 0, default metrics; job = the "
        "summary's wall time (from the input to the finished store).",
        "",
        "| image | how | command (s) | job (s) | x this process | PSNR (dB) | same store |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for image, rows in results.items():
        ref = float(rows["this process"]["seconds"])
        for way, r in rows.items():
            job = f"{float(r['job_seconds']):.2f}" if "job_seconds" in r else ""
            lines.append(
                f"| {image} | {way} | {float(r['seconds']):.2f} | {job} | "
                f"{float(r['seconds']) / ref:.2f} | {float(r['psnr']):.2f} | "
                f"{r.get('same_store', '')} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sides", type=int, nargs="+", default=[724, 2520])
    ap.add_argument("--colors", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=RESULTS, help="folder for small.json and .md")
    record_options(ap, "small")
    args = ap.parse_args()
    if args.render_only:
        render_stored(args.out, "small", render)
        return
    meta = {**run_meta(args.note), "colors": args.colors, "repeat": args.repeat}
    results = {}
    for side in args.sides:
        name = f"{side} x {side} mosaic ({side * side / 1e6:.1f} MP)"
        results[name] = measure(side, args.colors, args.repeat)
        print(name, results[name], flush=True)
    save_results(args.out, "small", meta, results, render)


if __name__ == "__main__":
    main()
