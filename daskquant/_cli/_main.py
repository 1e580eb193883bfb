"""The ``daskquant`` command: parses arguments and calls the library, nothing more.

Exit codes: 0 success, 1 runtime failure, 2 usage error (bad option or argument), 130
interrupted. Errors are one line on stderr; ``--debug`` shows the traceback. Progress, the
cluster and the dashboard link go to stderr (none with ``--quiet``); summaries go to stdout,
as a table or, with ``--json``, as one JSON object.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from daskquant import __version__
from daskquant._api._fit import Init, Method

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = ["main"]

log = logging.getLogger("daskquant")

INITS: tuple[str, ...] = get_args(Init)
METHODS: tuple[str, ...] = get_args(Method)


def _chunks(text: str) -> int | tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a size in pixels or sizes per axis (1024 or 1024,2048), got {text!r}"
        ) from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"chunk sizes must be positive, got {text!r}")
    return sizes[0] if len(sizes) == 1 else sizes


def _parser() -> argparse.ArgumentParser:
    def common_options(parser: argparse.ArgumentParser, default: Any) -> None:
        # Accepted before and after the command: the command's copies default to SUPPRESS
        # so that they do not reset what was given before it.
        parser.add_argument(
            "--debug", action="store_true", default=default, help="show tracebacks, debug logs"
        )
        parser.add_argument(
            "-q",
            "--quiet",
            action="store_true",
            default=default,
            help="no progress, cluster, dashboard or warning lines on stderr",
        )

    p = argparse.ArgumentParser(
        prog="daskquant",
        description="Reduce very large images to K colors with k-means on Dask.",
        epilog="Without --scheduler (or DASK_SCHEDULER_ADDRESS) the work runs on a local "
        "cluster of worker processes sized to this machine.",
    )
    common_options(p, False)
    common = argparse.ArgumentParser(add_help=False)
    common_options(common, argparse.SUPPRESS)
    p.add_argument("--version", action="version", version=f"daskquant {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def cluster_options(q: argparse.ArgumentParser) -> None:
        g = q.add_argument_group("where it runs")
        g.add_argument(
            "--scheduler",
            metavar="ADDRESS",
            help="a running Dask scheduler (tcp://HOST:PORT or tls://HOST:PORT); "
            "default: $DASK_SCHEDULER_ADDRESS, else a local cluster",
        )
        g.add_argument("--workers", type=int, metavar="N", help="local cluster: worker processes")
        g.add_argument(
            "--threads-per-worker", type=int, metavar="N", help="local cluster: threads each"
        )
        g.add_argument(
            "--memory-limit",
            metavar="SIZE",
            help="local cluster: memory per worker (4GiB; default: an equal share)",
        )
        g.add_argument("--tls-ca-file", metavar="PEM", help="TLS: certificate authority")
        g.add_argument("--tls-cert", metavar="PEM", help="TLS: client certificate")
        g.add_argument("--tls-key", metavar="PEM", help="TLS: client private key")
        g.add_argument(
            "--timeout",
            type=float,
            default=10.0,
            metavar="SECONDS",
            help="give up on an unreachable scheduler, or one without workers (default 10)",
        )

    def output_options(q: argparse.ArgumentParser) -> None:
        q.add_argument("--json", action="store_true", help="print the summary as JSON")

    q = sub.add_parser("quantize", parents=[common], help="quantize an image into a Zarr store")
    q.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="image file (PNG, JPEG, TIFF, ...), Zarr array or OME-Zarr image; several "
        "files, a folder or a quoted glob pattern make a collection with one palette",
    )
    q.add_argument("output", metavar="OUTPUT", help="output Zarr store (a folder)")
    q.add_argument("-k", "--colors", type=int, default=16, help="number of colors K (16)")
    q.add_argument("--max-iter", type=int, default=20, help="most Lloyd updates (20)")
    q.add_argument(
        "--epsilon",
        type=float,
        help="stop when no center moves more (1.0 in RGB, 0.2 in lab/din99)",
    )
    q.add_argument(
        "--attempts", type=int, help="runs, the best is kept (default: 4 for 8-bit, else 1)"
    )
    q.add_argument("--init", choices=INITS, default="k-means++", help="seeding (k-means++)")
    q.add_argument("--seed", type=int, help="random seed, for a reproducible result")
    q.add_argument("--method", choices=METHODS, default="auto", help="fit path (auto)")
    q.add_argument(
        "--chunks", type=_chunks, metavar="N[,N...]", help="chunk size in pixels (per axis)"
    )
    q.add_argument(
        "--write-rgb",
        "--write-image",
        dest="write_image",
        action="store_true",
        help="also store the quantized image",
    )
    q.add_argument(
        "--level", type=int, default=0, help="resolution level of a pyramidal input (0)"
    )
    q.add_argument("--ome", action="store_true", help="write an OME-Zarr (NGFF) image")
    q.add_argument(
        "--palette",
        metavar="SOURCE",
        help="fixed palette, no fit: hex colors, gray:N, web216, a .txt/.json/.gpl file, an "
        "indexed PNG or an earlier output store",
    )
    q.add_argument(
        "--colorspace",
        choices=["rgb", "lab", "din99"],
        default="rgb",
        help="where distances are measured (rgb)",
    )
    q.add_argument(
        "--dither",
        choices=["none", "bayer2", "bayer4", "bayer8", "floyd-steinberg"],
        default="none",
        help="ordered dithering of the labels (none); floyd-steinberg only for one chunk",
    )
    q.add_argument(
        "--quality",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="report PSNR and mean CIEDE2000 (default: for images up to 16.7 MP)",
    )
    q.add_argument("--preview", metavar="PNG", help="write a before/after picture here")
    q.add_argument("--overwrite", action="store_true", help="replace an existing store")
    q.add_argument(
        "--resume",
        action="store_true",
        help="finish the store of an interrupted run of this same command: reuse its "
        "palette, write only the missing chunks",
    )
    output_options(q)
    cluster_options(q)

    d = sub.add_parser(
        "demo", parents=[common], help="quantize a sample mosaic of real photos (make demo)"
    )
    d.add_argument("--out", default="out", help="folder for the sample, store and preview")
    d.add_argument("-k", "--colors", type=int, default=16, help="number of colors K (16)")
    d.add_argument("--size", type=int, default=2520, help="side of the square mosaic (pixels)")
    output_options(d)
    cluster_options(d)

    i = sub.add_parser(
        "info", parents=[common], help="what a store holds and whether it is complete"
    )
    i.add_argument("store")
    output_options(i)

    e = sub.add_parser(
        "export", parents=[common], help="write a store's labels as a paletted PNG or TIFF"
    )
    e.add_argument("store")
    e.add_argument("file", help="output image (.png, .tif, .tiff)")
    e.add_argument("--name", help="which image of a collection")
    e.add_argument("--overwrite", action="store_true", help="replace an existing file")

    v = sub.add_parser("preview", parents=[common], help="before/after picture of a store")
    v.add_argument("store")
    v.add_argument("file", help="output PNG")
    v.add_argument("--max-side", type=int, default=1024, help="longest side of each half (1024)")
    v.add_argument("--name", help="which image of a collection")
    return p


# -- output -------------------------------------------------------------------------------


def _swatch(color: Sequence[float], dtype: str) -> str:
    """Two cells in the color (a 24-bit terminal escape), for 8-bit gray or RGB palettes."""
    if dtype != "uint8" or len(color) not in (1, 3):
        return ""
    r, g, b = (int(color[0]),) * 3 if len(color) == 1 else (int(c) for c in color[:3])
    return f"\x1b[48;2;{r};{g};{b}m  \x1b[0m "


def _hex(color: Sequence[float], dtype: str) -> str:
    if dtype != "uint8" or len(color) not in (1, 3):
        return ""
    values = [int(color[0])] * 3 if len(color) == 1 else [int(c) for c in color[:3]]
    return "#" + "".join(f"{v:02x}" for v in values)


def _print_palette(
    palette: Sequence[Sequence[float]], counts: Sequence[int], dtype: str, *, tty: bool
) -> None:
    total = max(sum(counts), 1)
    values = ["(" + ", ".join(f"{v:g}" for v in color) + ")" for color in palette]
    width = max(len(v) for v in values)
    print("palette (share of pixels):")
    for k in sorted(range(len(counts)), key=lambda k: (-counts[k], k)):
        share = counts[k] / total
        swatch = _swatch(palette[k], dtype) if tty else ""
        code = _hex(palette[k], dtype)
        code = f"{code}  " if code else ""
        bar = "#" * round(40 * share)
        print(f"  {k:>5}  {swatch}{code}{values[k]:<{width}}  {100 * share:5.1f}%  {bar}")


def _print_summary(s: Any, cluster: Any) -> None:
    images = s.extra.get("images") or []
    if len(images) > 1:
        picture = f"{len(images)} images, {s.dtype}, one palette"
    else:
        picture = f"{' x '.join(map(str, s.shape))} {s.dtype}"
    rows = [
        ("output", s.store),
        ("image", picture),
        ("colors (K)", s.n_colors),
        ("method", s.method),
        ("iterations", s.n_iter),
        ("converged", "yes" if s.converged else "no (max_iter reached)"),
        ("compactness", f"{s.compactness:.6g}"),
        ("pixels", f"{s.n_pixels:,}"),
        ("wall time", f"{s.seconds:.2f} s"),
        ("throughput", f"{s.pixels_per_second / 1e6:.1f} Mpixel/s"),
        ("cluster", str(cluster)),
    ]
    measured = s.extra.get("quality")
    if measured:
        rows.append(
            (
                "quality",
                f"PSNR {measured['psnr']:.2f} dB, mean CIEDE2000 {measured['ciede2000']:.2f}",
            )
        )
    if s.extra.get("resumed"):
        rows.append(
            ("resumed", f"yes: the saved palette, {s.extra['chunks_written']} chunks written")
        )
    if s.preview:
        rows.append(("preview", s.preview))
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    _print_palette(s.palette, s.counts, s.dtype, tty=sys.stdout.isatty())


# -- commands -----------------------------------------------------------------------------


def _run(args: argparse.Namespace, source: Any, output: Any, options: dict[str, Any]) -> int:
    """Connect, quantize with progress, print the summary: shared by quantize and demo."""
    import daskquant as dq
    from daskquant._cli._cluster import cluster_info, connect
    from daskquant._cli._progress import ProgressDisplay
    from daskquant._store._store import store_state

    display = ProgressDisplay(
        enabled=not args.quiet, max_iter=options.get("max_iter"), epsilon=options.get("epsilon")
    )
    try:
        with connect(
            args.scheduler,
            workers=args.workers,
            threads_per_worker=args.threads_per_worker,
            memory_limit=args.memory_limit,
            tls_ca_file=args.tls_ca_file,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            timeout=args.timeout,
        ) as client:
            cluster = cluster_info(client)
            display.line(str(cluster))
            if cluster.dashboard:
                bokeh = cluster.kind != "local" or importlib.util.find_spec("bokeh") is not None
                note = "" if bokeh else "  (pip install bokeh to see it)"
                display.line(f"dashboard: {cluster.dashboard}{note}")
            with display.watching(client):
                summary = dq.quantize(source, output, on_iteration=display.iteration, **options)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f"interrupted: {store_state(output)}") from None
    if args.json:
        result = summary.as_dict()
        result["cluster"] = {
            "kind": cluster.kind,
            "address": cluster.address,
            "workers": cluster.workers,
            "threads": cluster.threads,
            "memory": cluster.memory,
        }
        print(json.dumps(result))
    else:
        _print_summary(summary, cluster)
    return 0


def _quantize(args: argparse.Namespace) -> int:
    options: dict[str, Any] = {
        "n_colors": args.colors,
        "max_iter": args.max_iter,
        "epsilon": args.epsilon,
        "attempts": args.attempts,
        "init": args.init,
        "seed": args.seed,
        "method": args.method,
        "chunks": args.chunks,
        "level": args.level,
        "write_image": args.write_image,
        "ome": args.ome,
        "overwrite": args.overwrite,
        "resume": args.resume,
        "preview": args.preview,
        "palette": args.palette,
        "colorspace": args.colorspace,
        "dither": args.dither,
        "quality": args.quality,
    }
    source = args.inputs[0] if len(args.inputs) == 1 else args.inputs
    return _run(args, source, args.output, options)


def _demo_image(size: int) -> NDArray[np.uint8]:
    """The demo's (size, size, 3) uint8 RGB mosaic of real photographs."""
    from daskquant._cli._samples import photo_mosaic

    return photo_mosaic(size, size, seed=0)


def _demo_options(colors: int) -> dict[str, Any]:
    """How the demo fits: the recipe's cv2 criteria (EPS + MAX_ITER, 20, 1.0), seed 0."""
    return {"n_colors": colors, "max_iter": 19, "epsilon": 1.0, "seed": 0}


def _demo(args: argparse.Namespace) -> int:
    import cv2

    from daskquant._errors import InvalidParameterError

    if args.size < 16:
        raise InvalidParameterError(f"--size must be at least 16 pixels, got {args.size}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sample = out / f"sample_mosaic_{args.size}.png"
    if not sample.exists():
        rgb = _demo_image(args.size)
        cv2.imwrite(str(sample), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        if not args.quiet:
            print(
                f"wrote {sample}: a {args.size} x {args.size} mosaic of real photographs",
                file=sys.stderr,
            )
    options = {
        **_demo_options(args.colors),
        "overwrite": True,
        "preview": out / "demo_preview.png",
    }
    return _run(args, sample, out / "demo.zarr", options)


def _info(args: argparse.Namespace) -> int:
    import numpy as np
    import zarr

    import daskquant as dq
    from daskquant._store._store import chunk_progress, is_complete

    group = dq.open_store(args.store)
    attrs: dict[str, Any] = dict(group.attrs)
    meta: dict[str, Any] = attrs.get("daskquant") or {}
    arrays = {
        name: {"shape": list(a.shape), "dtype": str(a.dtype), "chunks": list(a.chunks)}
        for name, a in group.members(max_depth=None)
        if isinstance(a, zarr.Array)
    }
    complete = is_complete(group)
    done, total = chunk_progress(group)
    if args.json:
        info = {"store": str(args.store), "complete": complete, "arrays": arrays}
        info["chunks"] = {"written": done, "total": total}
        print(json.dumps({**info, "daskquant": meta}))
        return 0
    print(f"store     {args.store}")
    state = (
        "yes"
        if complete
        else "NO (incomplete: its job was interrupted or failed; "
        f"{done} of {total} chunks written; finish it with quantize --resume)"
    )
    print(f"complete  {state}")
    source: dict[str, Any] = meta.get("input") or {}
    images: list[dict[str, Any]] = meta.get("images") or []
    if len(images) > 1 or not source.get("shape"):
        print(f"input     {len(images)} images, {source.get('dtype', '')}, one palette")
        for image in images:
            shape = " x ".join(map(str, image.get("shape") or []))
            print(f"  {image.get('name', '?'):<16} {shape:<16} from {image.get('source', '?')}")
    elif source:
        shape = " x ".join(map(str, source["shape"]))
        print(f"input     {source.get('source', '?')}: {shape} {source.get('dtype', '')}")
    fit: dict[str, Any] | None = meta.get("fit")
    if fit:
        state = "converged" if fit.get("converged") else "max_iter reached"
        print(
            f"fit       K={meta.get('n_colors')}, {fit.get('method')} path, init "
            f"{fit.get('init')}, seed {fit.get('seed')}, {fit.get('n_iter')} iterations "
            f"({state}), compactness {fit.get('compactness', float('nan')):.6g}"
        )
    elif "n_colors" in meta:
        print(f"palette   K={meta['n_colors']}, given (no fit)")
    print("arrays:")
    for name, a in sorted(arrays.items()):
        shape = " x ".join(map(str, a["shape"]))
        chunks = " x ".join(map(str, a["chunks"]))
        print(f"  {name:<16} {shape:<16} {a['dtype']:<8} chunks {chunks}")
    if complete and "palette" in arrays and "counts" in arrays:
        palette = np.asarray(group["palette"])
        counts = np.asarray(group["counts"])
        tty = sys.stdout.isatty()
        _print_palette(palette.tolist(), counts.tolist(), str(palette.dtype), tty=tty)
    return 0


def _export(args: argparse.Namespace) -> int:
    import daskquant as dq

    written = dq.export(args.store, args.file, name=args.name, overwrite=args.overwrite)
    if not args.quiet:
        print(f"wrote {written}", file=sys.stderr)
    return 0


def _preview(args: argparse.Namespace) -> int:
    import daskquant as dq

    written = dq.preview(args.store, args.file, max_side=args.max_side, name=args.name)
    if not args.quiet:
        print(f"wrote {written}", file=sys.stderr)
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "quantize": _quantize,
    "demo": _demo,
    "info": _info,
    "export": _export,
    "preview": _preview,
}


def _warning_line(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """Python warnings as one line each, like the errors (in full with ``--debug``)."""
    first = (str(message).strip().splitlines() or [category.__name__])[0]
    clear = "\r\x1b[2K" if sys.stderr.isatty() else ""
    print(f"{clear}daskquant: warning: {first}", file=sys.stderr)


def _fail(message: str, code: int) -> int:
    lines = message.strip().splitlines() or ["unknown error"]
    print(f"daskquant: error: {lines[0]}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``daskquant`` command line with ``argv`` (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit code: 0 success, 1 runtime failure, 2 usage error, 130 interrupted.
    """
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage error, or the help
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    import distributed  # noqa: F401  (sets up its loggers, which are quieted here)

    if not args.debug:
        logging.getLogger("distributed").setLevel(logging.ERROR)
        # A job stopped by Ctrl-C leaves distributed's pending gathers to asyncio, which
        # logs each as an error: noise after the one line that says what happened.
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    from daskquant._errors import DaskQuantError, InvalidParameterError

    try:
        with warnings.catch_warnings():
            if args.quiet:
                warnings.simplefilter("ignore")
            elif not args.debug:
                warnings.showwarning = _warning_line
            return COMMANDS[args.command](args)
    except KeyboardInterrupt as exc:
        if args.debug:
            raise
        return _fail(str(exc) or "interrupted", 130)
    except InvalidParameterError as exc:
        if args.debug:
            raise
        return _fail(str(exc), 2)
    except (DaskQuantError, OSError) as exc:
        if args.debug:
            raise
        return _fail(str(exc), 1)
    except Exception as exc:
        if args.debug:
            raise
        return _fail(f"{type(exc).__name__}: {exc} (--debug shows the traceback)", 1)
