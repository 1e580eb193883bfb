"""Multi-band and masked float fits (issue 18) against scikit-learn's KMeans, K = 8.

    .venv/bin/python benchmarks/bands.py [--height 1024] [--width 1536] [--colors 8]
        [--note "what else ran"] [--render-only]

Two images made from a mosaic of real photographs (seed 0):

- ``uint16 8-band``: RGB in 16 bits plus five derived bands (brightness, |R - G|,
  |G - B|, 255 - R, R * G / 255), each scaled to the full 16-bit range;
- ``float32 NaN holes``: the RGB mosaic / 255 in float32 with NaN in every band of
  random disks (about 10 % of the pixels), fitted with ``nodata="nan"``.

``dq.fit_palette(image, K, seed=0)`` runs with its defaults (the summary path, 4 attempts
of k-means++ on its cells, then Lloyd updates on the pixels; max_iter 20, the default
epsilon), and again run to convergence
(max_iter 300, epsilon 1e-4 of the data's range), in this process (default Dask
scheduler); ``sklearn.cluster.KMeans(K, n_init=1, random_state=0)`` (its defaults:
k-means++, Lloyd, max_iter 300, tol 1e-4) runs on the same pixels (the NaN ones left out)
as a float64 (N, C) array, which it needs in memory. The compactness of both is computed
here the same way: the sum over the pixels of the squared distance to the nearest of the
returned centers (daskquant's stored palette, scikit-learn's ``cluster_centers_``), in
float64. Results go to benchmarks/results/bands.json and .md with the machine, the commit
and the load average at the start and the end.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from _meta import header, record_options, render_stored, run_meta, save_results
from numpy.typing import NDArray

import daskquant as dq
from daskquant._cli._samples import photo_mosaic

RESULTS = Path(__file__).parent / "results"


def eight_bands(rgb: NDArray[np.uint8]) -> NDArray[np.uint16]:
    """RGB plus five derived bands, (H, W, 8) uint16 over the full range."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    bands = [r, g, b, (r + g + b) / 3, np.abs(r - g), np.abs(g - b), 255 - r, r * g / 255]
    return np.clip(np.rint(np.stack(bands, -1) * 257), 0, 65535).astype(np.uint16)


def nan_holes(rgb: NDArray[np.uint8], seed: int = 0) -> NDArray[np.float32]:
    """RGB / 255 in float32 with NaN disks (every band) over about 10 % of the pixels."""
    img = (rgb / np.float32(255)).astype(np.float32)
    h, w = img.shape[:2]
    rng = np.random.default_rng(seed)
    yy, xx = np.ogrid[:h, :w]
    hole = np.zeros((h, w), bool)
    while hole.mean() < 0.1:
        cy, cx, rad = rng.integers(0, h), rng.integers(0, w), rng.integers(8, max(9, h // 12))
        hole |= (yy - cy) ** 2 + (xx - cx) ** 2 < rad * rad
    img[hole] = np.nan
    return img


def compactness(pixels: NDArray[np.float64], centers: NDArray) -> float:
    """Sum of squared distances to the nearest center, float64, in slices."""
    c = np.asarray(centers, np.float64)
    total = 0.0
    for start in range(0, len(pixels), 1 << 16):
        x = pixels[start : start + (1 << 16)]
        d = (x * x).sum(1)[:, None] - 2 * x @ c.T + (c * c).sum(1)[None]
        total += float(np.maximum(d.min(axis=1), 0).sum())
    return total


def measure(image: NDArray, k: int, *, nodata: str | None) -> dict[str, dict[str, float]]:
    from sklearn.cluster import KMeans

    flat = image.reshape(-1, image.shape[-1])
    kept = flat[~np.isnan(flat).any(axis=1)] if nodata == "nan" else flat
    pixels = kept.astype(np.float64)
    spread = float(np.ptp(pixels))
    out: dict[str, dict[str, float]] = {}
    runs: list[tuple[str, dict[str, Any]]] = [
        ("daskquant", {}),
        ("daskquant, converged", {"max_iter": 300, "epsilon": 1e-4 * spread}),
    ]
    for name, kw in runs:
        t = time.perf_counter()
        fit = dq.fit_palette(image, k, seed=0, nodata=nodata, **kw)
        out[name] = {
            "seconds": time.perf_counter() - t,
            "compactness": compactness(pixels, fit.palette),
            "n_iter": fit.n_iter,
            "n_pixels": fit.n_pixels,
        }
    t = time.perf_counter()
    km = KMeans(k, n_init=1, random_state=0).fit(kept.astype(np.float64))  # needs float64
    theirs = time.perf_counter() - t
    return {
        **out,
        "scikit-learn": {
            "seconds": theirs,
            "compactness": compactness(pixels, km.cluster_centers_),
            "n_iter": int(km.n_iter_),
            "n_pixels": len(pixels),
        },
    }


def render(meta: dict[str, str], results: dict[str, dict[str, dict[str, float]]]) -> str:
    lines = [
        header(meta),
        "",
        f"Load at the end: {meta.get('load_end', 'not recorded')}.",
        "",
        "| image | library | time (s) | iterations | pixels | compactness | vs scikit-learn |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for image, runs in results.items():
        base = runs["scikit-learn"]["compactness"]
        for name, r in runs.items():
            lines.append(
                f"| {image} | {name} | {r['seconds']:.2f} | {int(r['n_iter'])} | "
                f"{int(r['n_pixels'])} | {r['compactness']:.6e} | {r['compactness'] / base:.4f} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--height", type=int, default=1024)
    ap.add_argument("--width", type=int, default=1536)
    ap.add_argument("--colors", type=int, default=8)
    ap.add_argument("--out", type=Path, default=RESULTS, help="folder for bands.json/.md")
    record_options(ap, "bands")
    args = ap.parse_args()
    if args.render_only:
        render_stored(args.out, "bands", render)
        return
    rgb = photo_mosaic(args.height, args.width, seed=0)
    meta = {
        **run_meta(args.note),
        "image": f"{args.height} x {args.width} mosaic of real photographs "
        f"({args.height * args.width / 1e6:.2f} MP), K={args.colors}",
    }
    dq.fit_palette(eight_bands(rgb[:64, :64]), 2, seed=0, max_iter=2)  # JIT warm-up
    results = {
        "uint16 8-band": measure(eight_bands(rgb), args.colors, nodata=None),
        "float32 NaN holes": measure(nan_holes(rgb), args.colors, nodata="nan"),
    }
    meta["load_end"] = "load average {:.2f} / {:.2f} / {:.2f} (1 / 5 / 15 min)".format(
        *os.getloadavg()
    )
    save_results(args.out, "bands", meta, results, render)


if __name__ == "__main__":
    main()
