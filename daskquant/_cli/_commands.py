"""The commands of ``daskquant``: each turns its parsed arguments into one library call."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daskquant._api._options import option_fields
from daskquant._cli._summary import print_info, print_palette, print_summary

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from daskquant._api._quantize import Summary
    from daskquant._cli._cluster import ClusterInfo

__all__ = ["COMMANDS"]

log = logging.getLogger("daskquant")

# The arguments of daskquant._cli._cluster.connect, as the parser names them.
_CLUSTER = (
    "workers",
    "threads_per_worker",
    "memory_limit",
    "tls_ca_file",
    "tls_cert",
    "tls_key",
    "timeout",
)


def _run(
    args: argparse.Namespace,
    source: Any,
    output: Any,
    options: dict[str, Any],
    *,
    small_here: bool = True,
) -> int:
    """Connect, quantize with progress, print the summary: shared by quantize and demo
    (``small_here``: whether a small job may run in this process, see :func:`_where`)."""
    import daskquant as dq
    from daskquant._cli._logs import QuietWorkerLogs
    from daskquant._cli._progress import ProgressDisplay
    from daskquant._io._storage import storage_context
    from daskquant._store._store import store_state

    display = ProgressDisplay(
        enabled=not args.quiet, max_iter=options.get("max_iter"), epsilon=options.get("epsilon")
    )
    try:
        with _where(args, source, options, small_here=small_here) as (client, cluster):
            if cluster.kind == "local" and not args.debug:
                client.register_plugin(QuietWorkerLogs())
            display.line(str(cluster))
            if cluster.dashboard:  # bokeh, which serves it, is a dependency
                display.line(f"dashboard: {cluster.dashboard}")
            with display.watching(client):
                summary = dq.quantize(source, output, on_iteration=display.iteration, **options)
    except KeyboardInterrupt:
        with storage_context(options.get("storage_options")):
            state = store_state(output)
        raise KeyboardInterrupt(f"interrupted: {state}") from None
    _print_result(args, summary, cluster)
    return 0


@contextmanager
def _where(
    args: argparse.Namespace, source: Any, options: dict[str, Any], *, small_here: bool
) -> Iterator[tuple[Any, ClusterInfo]]:
    """Where the job runs, as (client, what it is): a small job with no scheduler or
    local-cluster size given in this process (client None), any other on a cluster (and
    the demo always: it shows the tool on a local cluster, dashboard and all)."""
    from daskquant._api._plan import runs_in
    from daskquant._cli._cluster import (
        check_timeout,
        cluster_info,
        connect,
        in_this_process,
        runs_here,
    )

    check_timeout(args.timeout)  # refused wherever the job would run
    cluster_args = {k: getattr(args, k) for k in _CLUSTER}
    local = {k: v for k, v in cluster_args.items() if k != "timeout"}
    if (
        small_here
        and runs_here(args.scheduler, **local)
        and runs_in(_pixels(source, options)) == "threads"
    ):
        with in_this_process() as here:
            yield None, here
        return
    with connect(args.scheduler, **cluster_args) as client:
        yield client, cluster_info(client)


def _pixels(source: Any, options: dict[str, Any]) -> int:
    """The job's pixels, from the headers (as ``plan`` reads them); an input whose header
    this cannot read counts as large: the job then finds what is wrong on a cluster."""
    from daskquant._api._options import QuantizeOptions
    from daskquant._api._plan import IN_PROCESS_PIXELS, job_pixels
    from daskquant._errors import DaskQuantError
    from daskquant._io._storage import storage_context

    try:
        with storage_context(options.get("storage_options")):
            return job_pixels(source, QuantizeOptions.of(options))
    except (DaskQuantError, OSError, ValueError) as exc:
        log.debug("header not read (%s): the job runs on a cluster", exc)
        return IN_PROCESS_PIXELS + 1


def _print_result(args: argparse.Namespace, summary: Summary, cluster: ClusterInfo) -> None:
    if not args.json:
        print_summary(summary, cluster)
        return
    result = summary.as_dict()
    result["cluster"] = {
        "kind": cluster.kind,
        "address": cluster.address,
        "workers": cluster.workers,
        "threads": cluster.threads,
        "memory": cluster.memory,
    }
    print(json.dumps(result))


def _quantize(args: argparse.Namespace) -> int:
    from daskquant._api._options import QuantizeOptions
    from daskquant._api._quantize import check_job

    # The parser names every option's flag after the option (see _cli._parser).
    options = {name: getattr(args, name) for name in option_fields() if hasattr(args, name)}
    source = args.inputs[0] if len(args.inputs) == 1 else args.inputs
    # Bad options, a missing input or an output in the way: said before a cluster starts.
    check_job(source, args.output, QuantizeOptions.of(options))
    return _run(args, source, args.output, options)


def _plan(args: argparse.Namespace) -> int:
    from daskquant._api._inputs import check_inputs
    from daskquant._api._options import QuantizeOptions
    from daskquant._api._plan import job_plan
    from daskquant._cli._summary import print_plan
    from daskquant._io._storage import storage_context

    options = {name: getattr(args, name) for name in option_fields() if hasattr(args, name)}
    source = args.inputs[0] if len(args.inputs) == 1 else args.inputs
    with storage_context(options.get("storage_options")):  # remote inputs, as quantize
        check_inputs(source)  # a missing file or an unknown format: refused as quantize does
        found = job_plan(
            source, QuantizeOptions.of(options), threads_per_worker=args.threads_per_worker
        )
    if args.json:
        print(json.dumps(found.as_dict()))
    else:
        print_plan(found.as_dict())
    return 0


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
        **_demo_options(args.n_colors),
        "overwrite": True,
        "preview": out / "demo_preview.png",
    }
    # The demo is the job on a local cluster, however small its image.
    return _run(args, sample, out / "demo.zarr", options, small_here=False)


def _info(args: argparse.Namespace) -> int:
    import numpy as np
    import zarr

    import daskquant as dq
    from daskquant._store._store import chunk_progress, is_complete

    group = dq.open_store(args.store, storage_options=args.storage_options)
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
    print_info(str(args.store), meta, arrays, complete=complete, chunks=(done, total))
    if complete and "palette" in arrays and "counts" in arrays:
        palette = np.asarray(group["palette"])
        counts = np.asarray(group["counts"])
        tty = sys.stdout.isatty()
        print_palette(palette.tolist(), counts.tolist(), str(palette.dtype), tty=tty)
    return 0


def _export(args: argparse.Namespace) -> int:
    import daskquant as dq

    written = dq.export(
        args.store,
        args.file,
        name=args.name,
        overwrite=args.overwrite,
        storage_options=args.storage_options,
        rgb_bands=args.rgb_bands,
    )
    if not args.quiet:
        print(f"wrote {written}", file=sys.stderr)
    return 0


def _preview(args: argparse.Namespace) -> int:
    import daskquant as dq

    written = dq.preview(
        args.store,
        args.file,
        max_side=args.max_side,
        name=args.name,
        storage_options=args.storage_options,
        rgb_bands=args.rgb_bands,
    )
    if not args.quiet:
        print(f"wrote {written}", file=sys.stderr)
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "quantize": _quantize,
    "plan": _plan,
    "demo": _demo,
    "info": _info,
    "export": _export,
    "preview": _preview,
}
