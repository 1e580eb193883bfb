"""The recipe's cv2.kmeans call beside daskquant on the same >= 6-megapixel photo mosaic.

    python benchmarks/recipe.py [--size 2520] [--colors 16] [--skip-cv2-attempts]

Prints wall time and compactness (sum of squared distances of every pixel to its nearest
center, computed the same way for every method) and the ratio to daskquant.
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

import daskquant as dq
from daskquant._cluster import connect
from daskquant._samples import photo_mosaic


def nearest_sse(pixels: np.ndarray, centers: np.ndarray) -> float:
    """Sum over pixels of the squared distance to the nearest center, in float64."""
    labels = dq.apply_palette(pixels.reshape(-1, 1, pixels.shape[-1]), centers).compute()
    diff = pixels.reshape(-1, pixels.shape[-1]).astype(np.float64) - centers[labels.ravel()]
    return float(np.einsum("ij,ij->", diff, diff))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=2520)
    ap.add_argument("--colors", type=int, default=16)
    ap.add_argument("--skip-cv2-attempts", action="store_true")
    args = ap.parse_args()
    img = photo_mosaic(args.size, args.size, seed=0)
    k = args.colors
    data = img.reshape(-1, 3).astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0)
    rows = []
    cv2.setRNGSeed(0)
    for attempts in (1,) if args.skip_cv2_attempts else (10, 1):
        t = time.perf_counter()
        _, _, centers = cv2.kmeans(data, k, None, criteria, attempts, cv2.KMEANS_RANDOM_CENTERS)
        rows.append((f"cv2.kmeans attempts={attempts}", time.perf_counter() - t, centers))
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
                name = f"daskquant {method} attempts={attempts}"
                rows.append((name, time.perf_counter() - t, fit.centers))
    ref = rows[[r[0] for r in rows].index("daskquant histogram attempts=10")][1]
    print(
        f"image: {args.size} x {args.size} photo mosaic ({img.shape[0] * img.shape[1] / 1e6:.1f} MP), K={k}"
    )
    print(f"{'method':<36} {'time (s)':>9} {'x daskquant':>12} {'compactness':>14}")
    for name, seconds, centers in rows:
        sse = nearest_sse(img, np.asarray(centers, np.float64))
        print(f"{name:<36} {seconds:9.2f} {seconds / ref:12.1f} {sse:14.6g}")


if __name__ == "__main__":
    main()
