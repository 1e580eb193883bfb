"""The ``daskquant`` command: parses arguments and calls the library, nothing more."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["main"]

log = logging.getLogger("daskquant")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="daskquant", description="Reduce very large images to K colors with k-means on Dask."
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = p.add_subparsers(dest="command", required=True)

    def cluster_options(q: argparse.ArgumentParser) -> None:
        q.add_argument("--scheduler", help="address of a running Dask scheduler (tcp://HOST:PORT)")
        q.add_argument("--workers", type=int, help="local cluster: number of worker processes")
        q.add_argument("--threads-per-worker", type=int, help="local cluster: threads per worker")

    q = sub.add_parser("quantize", help="quantize an image into a Zarr store")
    q.add_argument("input", help="image file, Zarr array, or folder")
    q.add_argument("output", help="output Zarr store (a folder)")
    q.add_argument("-k", "--colors", type=int, default=16, help="number of colors (K)")
    q.add_argument("--max-iter", type=int, default=20, help="most Lloyd updates")
    q.add_argument("--epsilon", type=float, default=1.0, help="stop when centers move less")
    q.add_argument(
        "--attempts", type=int, help="runs, the best is kept (default: 4 for 8-bit, else 1)"
    )
    q.add_argument("--init", choices=["k-means++", "random"], default="k-means++")
    q.add_argument("--seed", type=int)
    q.add_argument("--method", choices=["auto", "histogram", "pixels"], default="auto")
    q.add_argument("--chunks", type=int, help="spatial chunk size in pixels")
    q.add_argument("--write-image", action="store_true", help="also store the quantized image")
    q.add_argument("--preview", help="write a before/after PNG here")
    q.add_argument("--overwrite", action="store_true", help="replace an existing output store")
    q.add_argument("--json", action="store_true", help="print the summary as JSON")
    cluster_options(q)

    d = sub.add_parser("demo", help="quantize a sample photo mosaic on a local cluster")
    d.add_argument("--out", default="out", help="folder for the sample, store and preview")
    d.add_argument("-k", "--colors", type=int, default=16)
    d.add_argument("--size", type=int, default=2520, help="side of the square mosaic (pixels)")
    cluster_options(d)

    i = sub.add_parser("info", help="what a store holds and whether it is complete")
    i.add_argument("store")
    return p


def _print_summary(s: Any) -> None:
    rows = [
        ("output", s.store),
        ("image", f"{' x '.join(map(str, s.shape))} {s.dtype}"),
        ("colors (K)", s.n_colors),
        ("path", s.method),
        ("iterations", f"{s.n_iter} ({'converged' if s.converged else 'max_iter reached'})"),
        ("compactness", f"{s.compactness:.6g}"),
        ("pixels", f"{s.n_pixels:,}"),
        ("wall time", f"{s.seconds:.2f} s"),
        ("throughput", f"{s.pixels_per_second / 1e6:.1f} Mpixel/s"),
    ]
    if s.preview:
        rows.append(("preview", s.preview))
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    total = max(sum(s.counts), 1)
    print("palette (share of pixels):")
    for k in np.argsort(s.counts)[::-1]:
        color = ", ".join(f"{v:g}" for v in s.palette[k])
        print(f"  {k:>5}  ({color})  {100 * s.counts[k] / total:5.1f}%")


def _connect(args: argparse.Namespace) -> Any:
    from daskquant._cluster import connect

    return connect(
        args.scheduler, workers=args.workers, threads_per_worker=args.threads_per_worker
    )


def _quantize(args: argparse.Namespace) -> int:
    import daskquant as dq

    def on_iteration(it: int, shift: float) -> None:
        if not args.json:
            print(f"  iteration {it:3d}  max center shift {shift:.4g}", file=sys.stderr)

    with _connect(args) as client:
        if not args.json:
            print(f"dashboard: {getattr(client, 'dashboard_link', '-')}", file=sys.stderr)
        summary = dq.quantize(
            args.input,
            args.output,
            n_colors=args.colors,
            max_iter=args.max_iter,
            epsilon=args.epsilon,
            attempts=args.attempts,
            init=args.init,
            seed=args.seed,
            method=args.method,
            chunks=args.chunks,
            write_image=args.write_image,
            overwrite=args.overwrite,
            preview=args.preview,
            on_iteration=on_iteration,
        )
    if args.json:
        print(json.dumps(summary.as_dict()))
    else:
        _print_summary(summary)
    return 0


def _demo(args: argparse.Namespace) -> int:
    import cv2

    import daskquant as dq
    from daskquant._samples import photo_mosaic

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sample = out / "sample_mosaic.png"
    if not sample.exists():
        rgb = photo_mosaic(args.size, args.size, seed=0)
        cv2.imwrite(str(sample), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        print(f"wrote {sample}: a {args.size} x {args.size} mosaic of real photographs")
    with _connect(args) as client:
        print(f"dashboard: {getattr(client, 'dashboard_link', '-')}")
        summary = dq.quantize(
            sample,
            out / "demo.zarr",
            n_colors=args.colors,
            max_iter=19,  # the recipe's cv2 criteria (EPS + MAX_ITER, 20, 1.0)
            epsilon=1.0,
            seed=0,
            overwrite=True,
            preview=out / "demo_preview.png",
            on_iteration=lambda it, shift: print(f"  iteration {it:3d}  max shift {shift:.4g}"),
        )
    _print_summary(summary)
    return 0


def _info(args: argparse.Namespace) -> int:
    import daskquant as dq
    from daskquant._store import is_complete

    group = dq.open_store(args.store)
    attrs = dict(group.attrs)
    print(f"store     {args.store}")
    print(f"complete  {'yes' if is_complete(group) else 'NO (unfinished or interrupted job)'}")
    for name in sorted(group.array_keys()):
        a = group[name]
        print(f"  {name:<8} {a.shape} {a.dtype} chunks {a.chunks}")  # type: ignore[union-attr]
    print(json.dumps(attrs["daskquant"], indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 failure, 2 usage error)."""
    from daskquant._errors import DaskQuantError, InvalidParameterError

    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING)
    import distributed  # noqa: F401  (sets up its loggers, which are quieted here)

    if not args.debug:
        logging.getLogger("distributed").setLevel(logging.ERROR)
    commands = {"quantize": _quantize, "demo": _demo, "info": _info}
    try:
        return commands[args.command](args)
    except InvalidParameterError as exc:
        if args.debug:
            raise
        print(f"daskquant: error: {exc}", file=sys.stderr)
        return 2
    except (DaskQuantError, OSError) as exc:
        if args.debug:
            raise
        print(f"daskquant: error: {exc}", file=sys.stderr)
        return 1
