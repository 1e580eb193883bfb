"""dq.kmeans against cv2.kmeans on the recipe's exact call: float32 pixels of an 8-bit photo.

    .venv/bin/python benchmarks/float_recipe.py [--height 1200] [--width 1600] [--colors 16]
        [--note "nothing else running"] [--render-only]

The recipe reshapes an 8-bit photo to (N, 3), passes ``np.float32(img)`` to
``cv2.kmeans(data, K, None, (EPS + MAX_ITER, 20, 1.0), 10, KMEANS_RANDOM_CENTERS)``.
``dq.kmeans`` gets the very same arguments in the same process (default Dask scheduler);
its float data holds only integers in 0..255, so it runs on the exact color histogram. The
input is a 1200 x 1600 (1.9 MP) mosaic of real photographs (seed 0). Time is the wall time
of each call; compactness is each one's own return value (OpenCV's definition, which both
follow). Results go to benchmarks/results/float_recipe.json and .md, with the date, the
machine, the commit and the load average at the start.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
from _meta import header, record_options, render_stored, run_meta, save_results

import daskquant as dq
from daskquant._cli._samples import photo_mosaic

RESULTS = Path(__file__).parent / "results"
CV2 = "cv2.kmeans"
DQ = "dq.kmeans"


def measure(data: np.ndarray, k: int) -> dict[str, dict[str, float]]:
    """Seconds and compactness of both calls, by name."""
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0)
    dq.kmeans(data[:4096], 4, None, criteria, 1, dq.KMEANS_RANDOM_CENTERS, seed=0)  # JIT warm-up
    out: dict[str, dict[str, float]] = {}
    t = time.perf_counter()
    compactness, _, _ = dq.kmeans(data, k, None, criteria, 10, dq.KMEANS_RANDOM_CENTERS, seed=0)
    out[DQ] = {"seconds": time.perf_counter() - t, "compactness": float(compactness)}
    cv2.setRNGSeed(0)
    t = time.perf_counter()
    compactness, _, _ = cv2.kmeans(data, k, None, criteria, 10, cv2.KMEANS_RANDOM_CENTERS)
    out[CV2] = {"seconds": time.perf_counter() - t, "compactness": float(compactness)}
    return out


def render(meta: dict[str, str], results: dict[str, dict[str, float]]) -> str:
    ours, theirs = results[DQ], results[CV2]
    lines = [
        header(meta),
        "",
        f"Call: {meta['call']}.",
        "",
        "| function | time (s) | compactness |",
        "|---|---:|---:|",
        *(
            f"| {name} | {r['seconds']:.2f} | {r['compactness']:.6e} |"
            for name, r in results.items()
        ),
        "",
        f"dq.kmeans is {theirs['seconds'] / ours['seconds']:.1f}x as fast as cv2.kmeans; "
        f"compactness ratio (dq / cv2) {ours['compactness'] / theirs['compactness']:.4f}.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--height", type=int, default=1200)
    ap.add_argument("--width", type=int, default=1600)
    ap.add_argument("--colors", type=int, default=16)
    ap.add_argument("--out", type=Path, default=RESULTS, help="folder for float_recipe.json/.md")
    record_options(ap, "float_recipe")
    args = ap.parse_args()
    if args.render_only:
        render_stored(args.out, "float_recipe", render)
        return
    img = photo_mosaic(args.height, args.width, seed=0)
    data = np.float32(img.reshape(-1, 3))
    meta = {
        **run_meta(args.note),
        "image": f"{args.height} x {args.width} mosaic of real photographs "
        f"({data.shape[0] / 1e6:.2f} MP), float32 of its 8-bit pixels, K={args.colors}",
        "call": "kmeans(np.float32(img), K, None, (EPS + MAX_ITER, 20, 1.0), 10, "
        "KMEANS_RANDOM_CENTERS); dq.kmeans with seed=0, cv2.setRNGSeed(0)",
    }
    results = measure(data, args.colors)
    save_results(args.out, "float_recipe", meta, results, render)


if __name__ == "__main__":
    main()
