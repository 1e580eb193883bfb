"""Object storage against local disk: the same job from s3:// to s3:// and from a local file
to a local store, on a separately started scheduler and 2 workers, with the bytes that pass
through the client process.

    .venv/bin/pip install -e '.[bench,test]'        # moto[server] and s3fs
    .venv/bin/python benchmarks/storage.py           # 64 MP (a few minutes)
    .venv/bin/python benchmarks/storage.py --side 4096 --colors 16   # a quick look

The input is an RGB uint8 tiled TIFF (512 x 512 tiles, Zstd) of a mosaic of real photographs
(daskquant._cli._samples.photo_mosaic), built once under benchmarks/results/cache. The S3
server is moto's (``moto_server``, its own process on 127.0.0.1, objects in memory), as in
the tests; the scheduler and the 2 single-threaded workers are ``dask scheduler`` and ``dask
worker`` processes that reach it through ``AWS_ENDPOINT_URL`` in their environment, as on a
cluster. The client is ``daskquant quantize ... --scheduler ADDRESS``, in a process of its
own.

Bytes through the client are the growth of ``rchar`` and ``wchar`` in the client's
``/proc/self/io`` from the start of the command (after its imports) to its end: every
``read``/``write`` system call, on files and on sockets (to the scheduler and to the
storage) alike. The target (issue 16) is that the client moves only the task graph, the
palette and the summary: a small fraction of the image and the store. Results go to
benchmarks/results/storage.json and storage.md.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from _meta import REPO, header, run_meta

sys.path.insert(0, str(REPO / "tests"))
from _servers import http_server  # the tests' HTTP server, answering ranges

RESULTS = Path(__file__).parent / "results"
CACHE = RESULTS / "cache"
BUCKET = "daskquant-bench"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}

# The client: the command line, with the bytes it sends and receives on its sockets counted
# by the peer's port (the storage's, the scheduler's, any other).
_CLIENT = """
import json, socket, sys
out, storage, scheduler = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
moved = {"storage": [0, 0], "scheduler": [0, 0], "other": [0, 0]}
def peer(sock):
    try:
        port = sock.getpeername()[1]
    except (OSError, IndexError, TypeError):
        return "other"
    return {storage: "storage", scheduler: "scheduler"}.get(port, "other")
def counting(name, received):
    plain = getattr(socket.socket, name)
    def call(self, *args, **kwargs):
        got = plain(self, *args, **kwargs)
        size = got if isinstance(got, int) else len(got) if got is not None else len(args[0])
        moved[peer(self)][0 if received else 1] += size
        return got
    setattr(socket.socket, name, call)
for name in ("recv", "recv_into"):
    counting(name, True)
for name in ("send", "sendall"):
    counting(name, False)
from daskquant._cli import main
code = main(sys.argv[4:])
with open(out, "w") as f:
    json.dump(moved, f)
sys.exit(code)
"""


def build(side: int) -> Path:
    """The cached (side, side, 3) tiled TIFF of real photographs."""
    import tifffile

    from daskquant._cli._samples import photo_mosaic

    path = CACHE / f"storage_{side}.tif"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        print(f"building {path} ...", flush=True)
        tmp = path.with_suffix(".tmp.tif")
        tifffile.imwrite(
            tmp, photo_mosaic(side, side, seed=side), tile=(512, 512), compression="zstd"
        )
        tmp.rename(path)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start") from None
            time.sleep(0.2)


@contextmanager
def services(env: dict[str, str]) -> Iterator[str]:
    """moto's S3 server, a scheduler and 2 workers; yields the scheduler's address."""
    bin_dir = Path(sys.executable).parent
    s3_port, port = _free_port(), _free_port()
    env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{s3_port}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    with ExitStack() as stack:
        procs: list[subprocess.Popen] = []
        stack.callback(_stop, procs)
        s3 = subprocess.Popen(
            [str(bin_dir / "moto_server"), "-H", "127.0.0.1", "-p", str(s3_port)], **quiet
        )
        procs.append(s3)
        _wait_for_port(s3_port, s3, "moto_server")
        address = f"tcp://127.0.0.1:{port}"
        scheduler = subprocess.Popen(
            [
                str(bin_dir / "dask"),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--dashboard-address",
                ":0",
            ],
            **quiet,
        )
        procs.append(scheduler)
        _wait_for_port(port, scheduler, "the scheduler")
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    [
                        str(bin_dir / "dask"),
                        "worker",
                        address,
                        "--nthreads",
                        "1",
                        "--nworkers",
                        "1",
                        "--memory-limit",
                        "6GiB",
                    ],
                    **quiet,
                )
            )
        yield address


def _stop(procs: list[subprocess.Popen]) -> None:
    """Workers first, then the scheduler, then the S3 server."""
    for proc in reversed(procs):
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(20)


def client(argv: list[str], env: dict[str, str], folder: Path, address: str) -> dict:
    """One ``daskquant`` command as the client: seconds, bytes on its sockets (received,
    sent) by peer, its summary."""
    counted = folder / "client_io.json"
    ports = [env["AWS_ENDPOINT_URL"].rsplit(":", 1)[1], address.rsplit(":", 1)[1]]
    cmd = [sys.executable, "-c", _CLIENT, str(counted), *ports, *argv, "--json", "-q"]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stderr}")
    moved = json.loads(counted.read_text())
    return {"seconds": round(seconds, 2), "moved": moved, "summary": json.loads(done.stdout)}


def _s3_options(env: dict[str, str]) -> dict[str, str]:
    """What this process needs to reach the S3 server (the others read their environment)."""
    return {
        "endpoint_url": env["AWS_ENDPOINT_URL"],
        "key": env["AWS_ACCESS_KEY_ID"],
        "secret": env["AWS_SECRET_ACCESS_KEY"],
    }


def store_bytes(store: str, env: dict[str, str]) -> int:
    import fsspec

    options = _s3_options(env) if store.startswith("s3://") else {}
    fs, path = fsspec.core.url_to_fs(store, **options)
    return int(sum(info["size"] for info in fs.find(path, detail=True).values()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--side", type=int, default=8192, help="image side (default 8192: 64 MP)")
    ap.add_argument("--colors", type=int, nargs="+", default=[16, 256])
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds of each case")
    ap.add_argument("--cases", nargs="+", default=["local", "s3", "http"])
    ap.add_argument("--note", help="what else ran on the machine")
    args = ap.parse_args()

    image = build(args.side)
    env = {**os.environ, **CREDENTIALS}
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="dq-storage-") as tmp,
        services(env) as address,
        http_server(image.parent) as web,
    ):
        import s3fs

        fs = s3fs.S3FileSystem(**_s3_options(env))
        fs.mkdir(BUCKET)
        fs.put_file(str(image), f"{BUCKET}/in.tif")
        folder = Path(tmp)
        on = ["--scheduler", address, "--seed", "0"]
        # Unmeasured: numba fills its cache in the workers, the scheduler warms up.
        warm = ["quantize", str(image), str(folder / "warm.zarr"), "-k", "4", *on]
        client(warm, env, folder, address)
        for k in args.colors:
            for r in range(args.rounds):
                for where in args.cases:
                    source = {
                        "local": str(image),
                        "s3": f"s3://{BUCKET}/in.tif",
                        "http": f"{web}/{image.name}",
                    }[where]
                    out = f"s3://{BUCKET}/out.zarr" if where == "s3" else str(folder / "out.zarr")
                    argv = ["quantize", source, out, "-k", str(k), "--overwrite", *on]
                    got = client(argv, env, folder, address)
                    got.update(
                        case=where,
                        k=k,
                        round=r,
                        input_bytes=image.stat().st_size,
                        store_bytes=store_bytes(out, env),
                    )
                    print(_line(got), flush=True)
                    rows.append(got)
    meta = {**run_meta(args.note), "image": f"{args.side} x {args.side} RGB uint8 tiled TIFF"}
    RESULTS.mkdir(exist_ok=True)
    for row in rows:
        row.pop("summary")
    (RESULTS / "storage.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    (RESULTS / "storage.md").write_text(render(meta, rows))
    print((RESULTS / "storage.md").read_text())


def _line(row: dict) -> str:
    m = row["moved"]
    data = row["input_bytes"] + row["store_bytes"]
    return (
        f"{row['case']:>5}  K={row['k']:<4} {row['seconds']:7.1f} s  client: storage "
        f"{_kib(m['storage'])}, scheduler {_kib(m['scheduler'])}, other {_kib(m['other'])} "
        f"(received/sent); input + store {data / 2**20:.1f} MiB"
    )


def _kib(pair: list[int]) -> str:
    return f"{pair[0] / 1024:.0f}/{pair[1] / 1024:.0f} KiB"


def render(meta: dict, rows: list[dict]) -> str:
    lines = [
        "# Object storage against local disk",
        "",
        header(meta),
        "",
        "| K | case | seconds (median) | / local | client and storage (KiB in/out) "
        "| client and scheduler (KiB in/out) | client bytes / (input + store) |",
        "|---|---|---|---|---|---|---|",
    ]
    for k in sorted({r["k"] for r in rows}):
        medians: dict[str, float] = {}
        for case in [c for c in ("local", "s3", "http") if any(r["case"] == c for r in rows)]:
            mine = [r for r in rows if r["k"] == k and r["case"] == case]
            medians[case] = sorted(r["seconds"] for r in mine)[len(mine) // 2]
            last = mine[-1]
            m = last["moved"]
            data = last["input_bytes"] + last["store_bytes"]
            total = sum(sum(pair) for pair in m.values())
            ratio = f"{medians[case] / medians['local']:.2f}x" if case != "local" else ""
            lines.append(
                f"| {k} | {case} | {medians[case]:.1f} | {ratio} | {_kib(m['storage'])} "
                f"| {_kib(m['scheduler'])} | {total / data:.3%} |"
            )
    lines += [
        "",
        "Client bytes: what the command's process received and sent on its sockets, by peer "
        "(the S3 server; the scheduler: the task graph out, the palette, counts and summary "
        "back). The input and the labels go between the workers and the storage.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
