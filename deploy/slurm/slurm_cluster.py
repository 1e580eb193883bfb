"""daskquant on SLURM: dask-jobqueue submits the Dask workers as SLURM jobs, this script holds
the scheduler and runs the ``daskquant quantize`` command against it.

Run it inside a small job of its own (``sbatch deploy/slurm/daskquant.sbatch ...``), or on a
login node where long-running processes are allowed::

    python deploy/slurm/slurm_cluster.py --jobs 4 --queue normal -- \\
        /shared/scans/slide.tif /shared/out/slide.zarr -k 16 --preview /shared/out/slide.png
    python deploy/slurm/slurm_cluster.py --queue normal --print-job-script

Options before ``--`` size the workers; everything after it goes to ``daskquant quantize``.
Inputs and outputs must be on a file system that every node sees, and the Python
environment (with ``daskquant[deploy]`` installed) too. ``--tls-dir`` turns on TLS with the
certificates of deploy/distributed.yaml (ca.pem, cert.pem, key.pem).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dask_jobqueue import SLURMCluster
from distributed.security import Security


def security(tls_dir: str | Path) -> Security:
    """TLS for the scheduler, the workers and the command, from ``tls_dir``'s PEM files."""
    folder = Path(tls_dir)
    ca, cert, key = (str(folder / name) for name in ("ca.pem", "cert.pem", "key.pem"))
    return Security(
        tls_ca_file=ca,
        tls_scheduler_cert=cert,
        tls_scheduler_key=key,
        tls_worker_cert=cert,
        tls_worker_key=key,
        tls_client_cert=cert,
        tls_client_key=key,
        require_encryption=True,
    )


def make_cluster(
    *,
    queue: str | None = None,
    account: str | None = None,
    cores: int = 8,
    processes: int = 2,
    memory: str = "32GiB",
    walltime: str = "02:00:00",
    interface: str | None = None,
    tls_dir: str | None = None,
    log_directory: str | None = None,
    **kwargs: Any,
) -> SLURMCluster:
    """A SLURMCluster whose every job runs ``processes`` workers on ``cores`` cores.

    Each worker gets ``cores // processes`` threads and ``memory / processes`` of memory.
    Workers spill to node-local disk (``$TMPDIR``). Other keyword arguments go to
    ``SLURMCluster`` (``job_extra_directives=["--constraint=..."]``, ``scheduler_options``).
    """
    options: dict[str, Any] = {
        "queue": queue,
        "account": account,
        "cores": cores,
        "processes": processes,
        "memory": memory,
        "walltime": walltime,
        "job_name": "daskquant-worker",
        "interface": interface,
        "local_directory": "$TMPDIR",
        "log_directory": log_directory,
        "scheduler_options": {"dashboard_address": ":8787"},
    }
    if tls_dir is not None:
        options["security"] = security(tls_dir)
        options["protocol"] = "tls://"
    options.update(kwargs)
    return SLURMCluster(**options)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Run `daskquant quantize` on Dask workers submitted as SLURM jobs.",
        usage="%(prog)s [OPTIONS] -- INPUT OUTPUT [daskquant quantize options]",
    )
    p.add_argument("--jobs", type=int, default=4, help="SLURM jobs of workers (4)")
    p.add_argument("--queue", help="SLURM partition (-p)")
    p.add_argument("--account", help="SLURM account (-A)")
    p.add_argument("--cores", type=int, default=8, help="cores per job (8)")
    p.add_argument("--processes", type=int, default=2, help="worker processes per job (2)")
    p.add_argument("--memory", default="32GiB", help="memory per job (32GiB)")
    p.add_argument("--walltime", default="02:00:00", help="time limit per job (02:00:00)")
    p.add_argument("--interface", help="network interface of the nodes (e.g. ib0)")
    p.add_argument("--tls-dir", help="folder with ca.pem, cert.pem, key.pem: use TLS")
    p.add_argument("--log-directory", help="folder for the worker jobs' output")
    p.add_argument(
        "--wait", type=float, default=3600, help="seconds to wait for a first worker (3600)"
    )
    p.add_argument(
        "--print-job-script", action="store_true", help="show a worker job script and exit"
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--") if "--" in argv else len(argv)
    args, quantize_args = parser().parse_args(argv[:split]), argv[split + 1 :]
    if not args.print_job_script and len(quantize_args) < 2:
        parser().error("give the daskquant arguments after --: -- INPUT OUTPUT [options]")
    with make_cluster(
        queue=args.queue,
        account=args.account,
        cores=args.cores,
        processes=args.processes,
        memory=args.memory,
        walltime=args.walltime,
        interface=args.interface,
        tls_dir=args.tls_dir,
        log_directory=args.log_directory,
    ) as cluster:
        if args.print_job_script:
            print(cluster.job_script())
            return 0
        cluster.scale(jobs=args.jobs)
        print(f"scheduler {cluster.scheduler_address}, dashboard {cluster.dashboard_link}")
        command = [sys.executable, "-m", "daskquant", "quantize", *quantize_args]
        command += ["--scheduler", cluster.scheduler_address, "--timeout", str(args.wait)]
        if args.tls_dir is not None:
            folder = Path(args.tls_dir)
            command += ["--tls-ca-file", str(folder / "ca.pem")]
            command += ["--tls-cert", str(folder / "cert.pem")]
            command += ["--tls-key", str(folder / "key.pem")]
        return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
