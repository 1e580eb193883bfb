"""The defaults' extra work on a large image: its time and what it buys, per K.

    .venv/bin/python benchmarks/extra_work.py                # 4096 x 4096, K 16 64 256 (minutes)
    .venv/bin/python benchmarks/extra_work.py --side 2048 --colors 16
    .venv/bin/python benchmarks/extra_work.py --render-only

On the exact histogram, ``fit_palette``'s defaults make more attempts than the criteria
alone and continue the best 3 to a Lloyd fixed point (``CONVERGE_ATTEMPTS``,
``CONVERGE_ITER``), both bounded by the distinct colors (``ATTEMPT_WORK``, ``CONTINUE_WORK``).
On a mosaic of real photographs (``photo_mosaic``, seed 0) with over a million distinct
colors, in this process (2 threads), for each K:

- criteria: ``epsilon=1.0`` given (the default's value), so 4 attempts stopped at epsilon,
  as the defaults did before the continuation;
- default: ``fit_palette(img, K, seed=0)``;
- unbounded: the defaults with both bounds lifted (12 attempts, up to 300 updates each), to
  show what the bounds save.

Each row: fit seconds (numba compiled beforehand), attempts, Lloyd updates of the kept run,
and the PSNR of ``apply_palette``'s labels. Results go to benchmarks/results/extra_work.json
and extra_work.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
from _meta import header, record_options, render_stored, run_meta, save_results

import daskquant as dq
from daskquant._api import _fit
from daskquant._cli._samples import photo_mosaic

RESULTS = Path(__file__).parent / "results"
VARIANTS = ("criteria", "default", "unbounded")


def fit_once(img: np.ndarray, k: int, variant: str) -> dict[str, Any]:
    kw = {"epsilon": 1.0} if variant == "criteria" else {}
    bounds = _fit.ATTEMPT_WORK, _fit.CONTINUE_WORK
    if variant == "unbounded":
        _fit.ATTEMPT_WORK = _fit.CONTINUE_WORK = 2**62
    try:
        t = time.perf_counter()
        fit = dq.fit_palette(img, k, seed=0, **kw)  # type: ignore[arg-type]
        seconds = time.perf_counter() - t
    finally:
        _fit.ATTEMPT_WORK, _fit.CONTINUE_WORK = bounds
    labels = dq.apply_palette(img, fit.centers).compute()
    mse = float(np.mean((fit.palette[labels].astype(np.float64) - img) ** 2))
    psnr = 10 * np.log10(255.0**2 / mse)
    return {"seconds": seconds, "attempts": fit.attempts, "n_iter": fit.n_iter, "psnr": psnr}


def render(meta: dict[str, str], results: dict[str, Any]) -> str:
    lines = [
        "# The defaults' extra work on a large image",
        "",
        header(meta),
        f"Command: `{meta['command']}`. {results['distinct']:,} distinct colors.",
        "",
        "| K | fit | seconds | x criteria | attempts | updates (kept run) | PSNR (dB) | "
        "PSNR - criteria |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for k, per in results["runs"].items():
        base = per["criteria"]
        for variant in VARIANTS:
            r = per[variant]
            lines.append(
                f"| {k} | {variant} | {r['seconds']:.2f} | {r['seconds'] / base['seconds']:.2f}x"
                f" | {r['attempts']} | {r['n_iter']} | {r['psnr']:.3f} | "
                f"{r['psnr'] - base['psnr']:+.3f} |"
            )
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--side", type=int, default=4096)
    ap.add_argument("--colors", type=int, nargs="+", default=[16, 64, 256])
    record_options(ap, "extra_work")
    args = ap.parse_args()
    if args.render_only:
        render_stored(RESULTS, "extra_work", render)
        return
    img = photo_mosaic(args.side, args.side, seed=0)
    flat = img.reshape(-1, 3).astype(np.int64)
    distinct = int(np.unique(flat[:, 0] << 16 | flat[:, 1] << 8 | flat[:, 2]).shape[0])
    meta = {
        **run_meta(args.note),
        "image": f"{args.side} x {args.side} mosaic of real photographs",
        "command": f"python benchmarks/extra_work.py --side {args.side} --colors "
        + " ".join(map(str, args.colors)),
    }
    dq.fit_palette(img[:256, :256], 4, seed=0)  # numba's first calls, outside the timing
    runs: dict[str, dict[str, Any]] = {}
    for k in args.colors:
        for variant in VARIANTS:
            r = runs.setdefault(str(k), {})[variant] = fit_once(img, k, variant)
            print(k, variant, r, flush=True)
    save_results(RESULTS, "extra_work", meta, {"distinct": distinct, "runs": runs}, render)


if __name__ == "__main__":
    main()
