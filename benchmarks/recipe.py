"""The recipe's cv2.kmeans call beside daskquant on the same >= 6-megapixel photo mosaic.

    .venv/bin/python benchmarks/recipe.py [--size 2520] [--colors 16] [--skip-cv2-attempts]
        [--note "nothing else running"]

The mosaic is the one ``make demo`` quantizes (2520 x 2520, seed 0). The recipe's criteria
(EPS + MAX_ITER, 20, 1.0) and its random centers, for cv2.kmeans with 10 attempts and 1, and
for daskquant's histogram and pixel paths with 10 attempts and 1, on a LocalCluster of 2
single-threaded workers, and for the histogram path in the script's process on dask's
threaded scheduler (what the command line runs a job of at most 16.8 MP on), timed after
one fit there (the compiled kernels loaded, as in the workers after their first task). Time is wall time of the fit; compactness is computed here, the
same way for every method: the sum over all pixels of the squared distance to the nearest
returned center (float64). Results go to benchmarks/results/recipe.json and .md (``--out``
picks another folder), with the date, the machine, the commit and the load average at the
start.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
from _meta import header, run_meta, save_results
from peers import nearest_sse

import daskquant as dq
from daskquant._cli._cluster import connect
from daskquant._cli._samples import photo_mosaic

RESULTS = Path(__file__).parent / "results"
REFERENCE = "daskquant, histogram path, 10 attempts"


def attempts_text(attempts: int) -> str:
    return f"{attempts} attempt{'s' if attempts != 1 else ''}"


def measure(img: np.ndarray, k: int, *, skip_cv2_attempts: bool) -> dict[str, dict[str, float]]:
    """Seconds and compactness of each method, by the name the tables show."""
    data = img.reshape(-1, 3).astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0)
    runs: list[tuple[str, float, np.ndarray]] = []
    cv2.setRNGSeed(0)
    for attempts in (1,) if skip_cv2_attempts else (10, 1):
        t = time.perf_counter()
        _, _, centers = cv2.kmeans(data, k, None, criteria, attempts, cv2.KMEANS_RANDOM_CENTERS)
        name = "the recipe's call (10 attempts)" if attempts == 10 else "attempts=1"
        runs.append((f"cv2.kmeans, {name}", time.perf_counter() - t, centers))
    fit_here(img, k, 1)  # the kernels loaded in this process, as in the workers after their first
    for attempts in (10, 1):
        t = time.perf_counter()
        fit = fit_here(img, k, attempts)
        name = f"daskquant, histogram path, {attempts_text(attempts)}, in this process"
        runs.append((name, time.perf_counter() - t, fit.centers))
    with connect(workers=2, threads_per_worker=1):
        for method in ("histogram", "pixels"):
            for attempts in (10, 1):
                t = time.perf_counter()
                fit = dq.fit_palette(
                    img,
                    k,
                    max_iter=19,
                    epsilon=1.0,
                    attempts=attempts,
                    init="random",
                    seed=0,
                    method=method,
                )
                path = "histogram path" if method == "histogram" else "pixel path"
                name = f"daskquant, {path}, {attempts_text(attempts)}"
                runs.append((name, time.perf_counter() - t, fit.centers))
    return {
        name: {"seconds": seconds, "compactness": nearest_sse(img, np.asarray(c, np.float64))}
        for name, seconds, c in runs
    }


def fit_here(img: np.ndarray, k: int, attempts: int) -> dq.FitResult:
    """The histogram path's fit on dask's threaded scheduler in this process (no cluster:
    what the command line runs a job of at most 16.8 MP on)."""
    import dask

    with dask.config.set(scheduler="threads"):
        return dq.fit_palette(
            img, k, max_iter=19, epsilon=1.0, attempts=attempts, init="random", seed=0
        )


def render(meta: dict[str, str], results: dict[str, dict[str, float]]) -> str:
    ref = results[REFERENCE]["seconds"]
    lines = [
        header(meta),
        "",
        f"Criteria: {meta['criteria']}.",
        "",
        "| method | time (s) | x daskquant time | compactness |",
        "|---|---:|---:|---:|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['seconds']:.1f} | {r['seconds'] / ref:.1f} | {r['compactness']:.4e} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=2520, help="mosaic side (2520 = make demo's)")
    ap.add_argument("--colors", type=int, default=16)
    ap.add_argument("--skip-cv2-attempts", action="store_true", help="only cv2 with 1 attempt")
    ap.add_argument("--note", help="what else ran on the machine, recorded with the results")
    ap.add_argument("--out", type=Path, default=RESULTS, help="folder for recipe.json and .md")
    args = ap.parse_args()
    img = photo_mosaic(args.size, args.size, seed=0)
    meta = {
        **run_meta(args.note),
        "image": f"{args.size} x {args.size} mosaic of real photographs ({img.shape[0] * img.shape[1] / 1e6:.1f} MP, make demo's at 2520), K={args.colors}",
        "criteria": "EPS + MAX_ITER, 20, 1.0; random centers (the recipe's); daskquant max_iter=19 (OpenCV counts the seeding as an iteration), seed 0; 2 single-threaded workers",
    }
    results = measure(img, args.colors, skip_cv2_attempts=args.skip_cv2_attempts)
    save_results(args.out, "recipe", meta, results, render)


if __name__ == "__main__":
    main()
