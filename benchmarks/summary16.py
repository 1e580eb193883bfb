"""16-bit RGB on the summary path against the same image in 8 bits (issue 18), K = 16.

    .venv/bin/python benchmarks/summary16.py [--size 8192] [--colors 16] [--note "..."]
        [--render-only]

A ``size`` x ``size`` mosaic of real photographs (seed 0; 8192: 67 MP) is written once to
Zarr (2048 x 2048 chunks, under benchmarks/results/cache) in three forms:

- ``uint8``: the mosaic itself (the exact-histogram path);
- ``uint16 x257``: the same values over the full 16-bit range (256 levels a band);
- ``uint16 noisy``: x 257 plus deterministic noise in the low byte (0..256), as a real
  16-bit scan has: nearly every pixel a distinct color.

Each is quantized by the command line on its own 2-worker local cluster, as a user runs it
(``daskquant quantize IN OUT -k K --seed 0 --json``: a fresh process, so the numba
compilations of the first calls are in the time), the 16-bit ones with the default method
(``auto``: the summary, 4 attempts) and with ``--method pixels`` (exact Lloyd on the
pixels), with its default single attempt and with 4. Wall time
of the command, the fit's compactness (against the stored palette), the iterations and the
method the store records. Results go to benchmarks/results/summary16.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _meta import header, record_options, render_stored, run_meta, save_results

RESULTS = Path(__file__).parent / "results"
CACHE = RESULTS / "cache"
CHUNK = 2048


def inputs(size: int) -> dict[str, Path]:
    """The three cached Zarr images."""
    import zarr

    from daskquant._cli._samples import photo_mosaic

    paths = {name: CACHE / f"summary16_{size}_{name}.zarr" for name in ("u8", "x257", "noisy")}
    if all((p / ".built").exists() for p in paths.values()):
        return paths
    print(f"writing {size} x {size} inputs under {CACHE} ...", flush=True)
    rgb = photo_mosaic(size, size, seed=0)
    rng = np.random.default_rng(1)
    for name, path in paths.items():
        shutil.rmtree(path, ignore_errors=True)
        dtype = np.uint8 if name == "u8" else np.uint16
        z = zarr.create_array(
            str(path), shape=rgb.shape, chunks=(CHUNK, CHUNK, 3), dtype=dtype, fill_value=0
        )
        for y in range(0, size, CHUNK):  # in strips: the 16-bit image is not held whole
            part = rgb[y : y + CHUNK]
            if name == "u8":
                z[y : y + CHUNK] = part
                continue
            wide = part.astype(np.int32) * 257
            if name == "noisy":
                wide += rng.integers(0, 257, part.shape, dtype=np.int32)
            z[y : y + CHUNK] = np.clip(wide, 0, 65535).astype(np.uint16)
        (path / ".built").write_text("ok")
    return paths


def quantize(
    source: Path, k: int, method: str | None, attempts: int | None, work: Path
) -> dict[str, float | str]:
    """One command-line run: wall time and what its JSON summary says."""
    out = work / "out.zarr"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "daskquant", "quantize", str(source), str(out)]
    cmd += ["-k", str(k), "--seed", "0", "--json", "--workers", "2"]
    if method:
        cmd += ["--method", method]
    if attempts:
        cmd += ["--attempts", str(attempts)]
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    summary = json.loads(done.stdout)
    shutil.rmtree(out, ignore_errors=True)
    fit = summary.get("fit", summary)
    return {
        "seconds": seconds,
        "compactness": float(fit["compactness"]),
        "n_iter": int(fit["n_iter"]),
        "method": str(fit["method"]),
        "attempts": attempts or (1 if method == "pixels" else 4),  # as asked, or the default
    }


# (image, input, method, attempts): the pixel path with its default single attempt (the
# time users had), and with the summary's 4 (the compactness to compare with).
RUNS = [
    ("uint8", "u8", None, None),
    ("uint16 x257", "x257", None, None),
    ("uint16 x257", "x257", "pixels", None),
    ("uint16 x257", "x257", "pixels", 4),
    ("uint16 noisy", "noisy", None, None),
    ("uint16 noisy", "noisy", "pixels", None),
    ("uint16 noisy", "noisy", "pixels", 4),
]


def _name(image: str, method: str | None, attempts: int | None) -> str:
    return f"{image} / {method or 'auto'}" + (f" x{attempts}" if attempts else "")


def render(meta: dict[str, str], results: dict[str, dict[str, float | str]]) -> str:
    base = float(results["uint8 / auto"]["seconds"])
    lines = [
        header(meta),
        "",
        f"Load at the end: {meta.get('load_end', 'not recorded')}.",
        "",
        "| image | method | attempts | time (s) | vs uint8 | iterations | compactness "
        "| vs pixels, 4 attempts |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        image, run = name.split(" / ")
        if not r.get("attempts"):  # runs recorded before the field: as asked, or the default
            r["attempts"] = (
                int(run.split(" x")[1]) if " x" in run else (1 if r["method"] == "pixels" else 4)
            )
        pixels = results.get(f"{image} / pixels x4")
        c = float(r["compactness"])
        ratio = "" if pixels is None else f"{c / float(pixels['compactness']):.5f}"
        lines.append(
            f"| {image} | {r['method']} | {r['attempts']} | {float(r['seconds']):.1f} | "
            f"{float(r['seconds']) / base:.2f}x | {r['n_iter']} | {c:.6e} | {ratio} |"
        )
    return "\n".join(lines) + "\n"


def seeds_run(paths: dict[str, Path], k: int, seeds: int, crop: int) -> list[dict[str, float]]:
    """The compactness of the summary against the pixel path with as many attempts, over
    several seeds (single draws vary by about 1 %): ``fit_palette`` in this process on the
    top-left ``crop`` x ``crop`` of each 16-bit image."""
    import zarr

    import daskquant as dq

    rows = []
    for key in ("x257", "noisy"):
        image = zarr.open_array(str(paths[key]), mode="r")[:crop, :crop]
        for seed in range(1, seeds + 1):
            row: dict[str, float] = {"seed": seed}
            for method, attempts in (("summary", 4), ("pixels", 4)):
                t = time.perf_counter()
                fit = dq.fit_palette(
                    image, k, seed=seed, chunks=CHUNK, method=method, attempts=attempts
                )
                row[f"{method}_s"] = time.perf_counter() - t
                row[method] = float(fit.compactness)
            row["image"] = key  # type: ignore[assignment]
            print(row, flush=True)
            rows.append(row)
    return rows


def render_seeds(meta: dict[str, str], rows: list[dict[str, float]]) -> str:
    lines = [
        header(meta),
        "",
        "| image | seed | summary (s) | pixels, 4 attempts (s) | compactness summary / pixels |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['image']} | {int(r['seed'])} | {r['summary_s']:.1f} | {r['pixels_s']:.1f} | "
            f"{r['summary'] / r['pixels']:.5f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=8192)
    ap.add_argument("--colors", type=int, default=16)
    ap.add_argument("--out", type=Path, default=RESULTS, help="folder for summary16.json/.md")
    ap.add_argument(
        "--only-auto",
        action="store_true",
        help="measure the default-method runs again, keep the others from summary16.json",
    )
    ap.add_argument(
        "--seeds",
        type=int,
        default=0,
        help="instead: compactness of the summary vs the pixel path (4 attempts each) over "
        "this many seeds, in this process, on a --crop square of each 16-bit image",
    )
    ap.add_argument("--crop", type=int, default=4096)
    record_options(ap, "summary16")
    args = ap.parse_args()
    if args.render_only:
        render_stored(args.out, "summary16", render)
        return
    paths = inputs(args.size)
    if args.seeds:
        meta = {
            **run_meta(args.note),
            "image": f"top-left {args.crop} x {args.crop} of the {args.size} x {args.size} "
            f"16-bit mosaics, K={args.colors}, fit_palette in one process (threads)",
        }
        rows = seeds_run(paths, args.colors, args.seeds, args.crop)
        save_results(args.out, "summary16_seeds", meta, rows, render_seeds)
        return
    meta = {
        **run_meta(args.note),
        "image": f"{args.size} x {args.size} mosaic of real photographs "
        f"({args.size**2 / 1e6:.1f} MP), K={args.colors}, 2 workers, the command line",
    }
    work = CACHE / "summary16_work"
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, float | str]] = {}
    if args.only_auto:
        stored = json.loads((args.out / "summary16.json").read_text())
        results, meta["kept"] = stored["results"], f"pixel-path runs of {stored['meta']}"
    for image, key, method, attempts in RUNS:
        name = _name(image, method, attempts)
        if args.only_auto and method is not None:
            continue
        print(name, "...", flush=True)
        results[name] = quantize(paths[key], args.colors, method, attempts, work)
        print(results[name], flush=True)
    meta["load_end"] = "load average {:.2f} / {:.2f} / {:.2f} (1 / 5 / 15 min)".format(
        *os.getloadavg()
    )
    save_results(args.out, "summary16", meta, results, render)


if __name__ == "__main__":
    main()
