"""deploy/: what this machine can check without Docker, Kubernetes or SLURM.

Manifests parse and hold the expected services and kinds, every `daskquant` command in them
is one the command line accepts, the SLURM example generates a worker job script, the
Dockerfile installs daskquant as deploy/README.md says, and distributed.yaml holds only
settings distributed knows.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import dask.config
import distributed  # noqa: F401  (loads distributed's configuration defaults)
import pytest

from daskquant._cli._parser import build_parser as _parser

yaml = pytest.importorskip("yaml")

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
REPO = DEPLOY.parent


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _load_all(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _parses(command: list[str]) -> Any:
    """The namespace of a `daskquant ...` command line, through the real parser."""
    assert command[0] == "daskquant", command
    return _parser().parse_args([str(part) for part in command[1:]])


def test_every_deploy_file_is_documented():
    readme = (DEPLOY / "README.md").read_text()
    files = sorted(
        p.relative_to(DEPLOY).as_posix()
        for p in DEPLOY.rglob("*")
        if p.is_file() and p.name != "README.md" and "__pycache__" not in p.parts
    )
    assert files == [
        "distributed.yaml",
        "docker/Dockerfile",
        "docker/Dockerfile.dockerignore",
        "docker/docker-compose.s3.yml",
        "docker/docker-compose.tls.yml",
        "docker/docker-compose.yml",
        "kubernetes/daskcluster.yaml",
        "kubernetes/job.yaml",
        "kubernetes/shared-volume/daskcluster.yaml",
        "kubernetes/shared-volume/data.yaml",
        "kubernetes/shared-volume/job.yaml",
        "kubernetes/storage-secret.yaml",
        "slurm/daskquant.sbatch",
        "slurm/slurm_cluster.py",
    ]
    for name in files:
        if name != "docker/Dockerfile.dockerignore":
            assert name.removeprefix("kubernetes/").removeprefix("docker/") in readme, name
    assert "dashboard" in readme and "8787" in readme


# -- Docker --------------------------------------------------------------------------------


def _dockerfile_runs() -> list[str]:
    text = (DEPLOY / "docker" / "Dockerfile").read_text()
    text = re.sub(r"\\\n\s*", " ", text)
    return [line[4:].strip() for line in text.splitlines() if line.startswith("RUN ")]


def test_dockerfile_installs_as_the_readme_says():
    text = (DEPLOY / "docker" / "Dockerfile").read_text()
    assert re.search(r"^ARG DASK_IMAGE=ghcr\.io/dask/dask:\S+$", text, re.M)
    assert re.search(r"^FROM \$\{DASK_IMAGE\}$", text, re.M)
    (install,) = [run for run in _dockerfile_runs() if "pip install" in run]
    assert install in (DEPLOY / "README.md").read_text()
    extra = re.search(r'"\.\[(\w+)\]"', install)
    assert extra is not None
    pyproject = (REPO / "pyproject.toml").read_text()
    assert re.search(rf"^{extra.group(1)} = \[", pyproject, re.M)
    for line in text.splitlines():  # everything copied exists, relative to the repository
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), source


def test_compose_services_volume_and_commands():
    compose = _load(DEPLOY / "docker" / "docker-compose.yml")
    services = compose["services"]
    assert set(services) == {"scheduler", "worker", "job"}
    assert "data" in compose["volumes"]
    for service in services.values():
        assert service["image"] == "daskquant:0.1.0"
        assert service["build"]["dockerfile"] == "deploy/docker/Dockerfile"
        assert (DEPLOY / "docker" / service["build"]["context"]).resolve() == REPO
        assert "data:/data" in service["volumes"]
    scheduler = services["scheduler"]["command"]
    assert scheduler[:2] == ["dask", "scheduler"] and "8786" in scheduler
    assert "127.0.0.1:8787:8787" in services["scheduler"]["ports"]
    worker = services["worker"]["command"]
    assert worker[:3] == ["dask", "worker", "tcp://scheduler:8786"]
    job = services["job"]
    assert job["environment"]["DASK_SCHEDULER_ADDRESS"] == "tcp://scheduler:8786"
    args = _parses(job["command"])
    assert args.command == "demo" and args.out.startswith("/data/")
    assert job["depends_on"]["scheduler"]["condition"] == "service_healthy"
    assert services["worker"]["depends_on"]["scheduler"]["condition"] == "service_healthy"


def test_compose_tls_overlay():
    base = _load(DEPLOY / "docker" / "docker-compose.yml")["services"]
    tls = _load(DEPLOY / "docker" / "docker-compose.tls.yml")["services"]
    assert set(tls) == set(base)
    for service in tls.values():
        mounts = {v.split(":")[1]: v.split(":")[0] for v in service["volumes"]}
        assert mounts["/data"] == "data"
        assert (DEPLOY / "docker" / mounts["/etc/dask/distributed.yaml"]).resolve() == (
            DEPLOY / "distributed.yaml"
        )
        assert mounts["/etc/dask/tls"] == "./tls"
    assert tls["scheduler"]["command"][:4] == ["dask", "scheduler", "--protocol", "tls"]
    assert tls["worker"]["command"][2] == "tls://scheduler:8786"
    assert tls["worker"]["command"][3:] == base["worker"]["command"][3:]
    assert tls["job"]["environment"]["DASK_SCHEDULER_ADDRESS"] == "tls://scheduler:8786"


def _compose_s3() -> dict[str, Any]:
    return _load(DEPLOY / "docker" / "docker-compose.s3.yml")["services"]


def test_compose_s3_overlay_wiring():
    base = _load(DEPLOY / "docker" / "docker-compose.yml")["services"]
    s3 = _compose_s3()
    assert set(s3) == {"s3", "buckets", "worker", "job"} and {"worker", "job"} <= set(base)
    assert "127.0.0.1:5000:5000" in s3["s3"]["ports"]
    assert s3["buckets"]["depends_on"] == {"s3": {"condition": "service_healthy"}}
    for name in ("buckets", "worker", "job"):
        env = s3[name]["environment"]
        assert env["AWS_ENDPOINT_URL"] == "http://s3:5000", name
        assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(env), name
    for name in ("worker", "job"):
        done = {"condition": "service_completed_successfully"}
        assert s3[name]["depends_on"]["buckets"] == done, name
    assert s3["job"]["environment"]["DASK_SCHEDULER_ADDRESS"] == "tcp://scheduler:8786"
    assert s3["buckets"]["image"] == base["worker"]["image"]


@pytest.mark.slow  # a scheduler, workers and moto as separate processes (~17 s)
def test_compose_s3_route_runs_with_credentials_from_the_environment_only(tmp_path):
    """What the overlay's services do, against moto's server on 127.0.0.1 in place of the
    `s3` service: the `buckets` command, then a job from s3:// to s3:// on a local cluster
    whose workers know the storage only from the environment (no storage options)."""
    pytest.importorskip("s3fs")
    import numpy as np
    import s3fs
    import skimage.data
    import tifffile
    from _servers import s3_server

    overlay = _compose_s3()
    with s3_server() as local:
        env = {
            **os.environ,
            **{k: str(v) for k, v in overlay["job"]["environment"].items()},
            "AWS_ENDPOINT_URL": local["endpoint_url"],
        }
        env.pop("DASK_SCHEDULER_ADDRESS")  # the command's own local cluster stands in
        python, *rest = overlay["buckets"]["command"]  # the image's python: this one here
        assert python == "python"
        subprocess.run([sys.executable, *rest], env=env, check=True, timeout=120)
        tifffile.imwrite(tmp_path / "in.tif", skimage.data.astronaut()[:128, :128], tile=(64, 64))
        fs = s3fs.S3FileSystem(**local)
        fs.put(str(tmp_path / "in.tif"), "daskquant/scan.tif")
        argv = ["quantize", "s3://daskquant/scan.tif", "s3://daskquant/scan.zarr", "-k", "4"]
        job = [sys.executable, "-m", "daskquant", *argv, "--workers", "1", "-q", "--seed", "1"]
        subprocess.run(job, env=env, check=True, timeout=300)
        import zarr
        from zarr.storage import FsspecStore

        url = "s3://daskquant/scan.zarr"
        group = zarr.open_group(FsspecStore.from_url(url, storage_options=local), mode="r")
        labels = np.asarray(group["labels"])
        assert labels.shape == (128, 128) and group.attrs["complete"] is True
    import daskquant as dq

    dq.quantize(tmp_path / "in.tif", tmp_path / "alone.zarr", n_colors=4, seed=1)
    np.testing.assert_array_equal(
        labels, np.asarray(dq.open_store(tmp_path / "alone.zarr")["labels"])
    )


# -- Kubernetes ----------------------------------------------------------------------------


def _kubernetes(folder: Path) -> dict[str, dict]:
    docs = [d for p in sorted(folder.glob("*.yaml")) for d in _load_all(p)]
    return {d["kind"]: d for d in docs}


def _cluster_and_job(kinds: dict[str, dict]) -> tuple[dict, dict, dict, dict]:
    """The wiring both variants share; their worker group and job pod specs, worker and job
    containers."""
    cluster, job = kinds["DaskCluster"], kinds["Job"]
    assert cluster["apiVersion"] == "kubernetes.dask.org/v1" and job["apiVersion"] == "batch/v1"
    name = cluster["metadata"]["name"]

    (scheduler,) = cluster["spec"]["scheduler"]["spec"]["containers"]
    assert scheduler["args"][:2] == ["dask", "scheduler"]
    service = cluster["spec"]["scheduler"]["service"]
    assert service["selector"] == {
        "dask.org/cluster-name": name,
        "dask.org/component": "scheduler",
    }
    ports = {p["name"]: p["port"] for p in service["ports"]}
    assert ports == {"tcp-comm": 8786, "http-dashboard": 8787}
    container_ports = {p["name"] for p in scheduler["ports"]}
    assert {p["targetPort"] for p in service["ports"]} <= container_ports

    workers = cluster["spec"]["worker"]
    assert workers["replicas"] >= 1
    (worker,) = workers["spec"]["containers"]
    assert worker["args"][:2] == ["dask", "worker"]

    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and job["spec"]["backoffLimit"] == 0
    (runner,) = pod["containers"]
    env = {e["name"]: e["value"] for e in runner["env"]}
    # the operator names the scheduler's Service <cluster name>-scheduler
    assert env["DASK_SCHEDULER_ADDRESS"] == f"tcp://{name}-scheduler:8786"
    assert scheduler["image"] == worker["image"] == runner["image"]
    return workers["spec"], pod, worker, runner


def test_kubernetes_on_object_storage_needs_no_volume():
    kinds = _kubernetes(DEPLOY / "kubernetes")
    assert set(kinds) == {"DaskCluster", "Job", "Secret"}
    workers, pod, worker, runner = _cluster_and_job(kinds)
    args = _parses(runner["args"])
    assert args.command == "quantize"
    for url in (*args.inputs, args.output, args.preview):
        assert url.startswith("s3://"), url
    # The workers and the job read the same Secret into their environment, as s3fs reads it.
    secret = kinds["Secret"]
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(secret["stringData"])
    for spec, container in ((workers, worker), (pod, runner)):
        assert "volumes" not in spec and "volumeMounts" not in container
        assert container["envFrom"] == [{"secretRef": {"name": secret["metadata"]["name"]}}]


def test_kubernetes_with_a_shared_volume():
    kinds = _kubernetes(DEPLOY / "kubernetes" / "shared-volume")
    assert set(kinds) == {"DaskCluster", "Job", "PersistentVolumeClaim"}
    claim = kinds["PersistentVolumeClaim"]
    assert claim["apiVersion"] == "v1" and claim["spec"]["accessModes"] == ["ReadWriteMany"]
    workers, pod, worker, runner = _cluster_and_job(kinds)
    args = _parses(runner["args"])
    assert args.command == "quantize" and args.output.startswith("/data/")
    assert all(path.startswith("/data/") for path in args.inputs)
    # the job and the workers mount the same claim at the same path
    for spec, container in ((workers, worker), (pod, runner)):
        (volume,) = spec["volumes"]
        assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
        (mount,) = container["volumeMounts"]
        assert mount == {"name": volume["name"], "mountPath": "/data"}


# -- SLURM ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slurm() -> Any:
    pytest.importorskip("dask_jobqueue")
    path = DEPLOY / "slurm" / "slurm_cluster.py"
    spec = importlib.util.spec_from_file_location("deploy_slurm_cluster", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


LOCAL = {"scheduler_options": {"host": "127.0.0.1", "dashboard_address": ":0"}}


def test_slurm_example_generates_a_job_script(slurm):
    with slurm.make_cluster(
        queue="normal", account="proj", cores=8, processes=2, memory="32GiB", **LOCAL
    ) as cluster:
        script = cluster.job_script()
    lines = script.splitlines()
    assert lines[0] == "#!/usr/bin/env bash"
    for directive in (
        "#SBATCH -J daskquant-worker",
        "#SBATCH -p normal",
        "#SBATCH -A proj",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --mem=32G",
        "#SBATCH -t 02:00:00",
    ):
        assert directive in lines
    (command,) = [line for line in lines if "dask_worker" in line]
    assert "--nworkers 2" in command and "--nthreads 4" in command
    assert "--memory-limit 16.00GiB" in command and "--local-directory $TMPDIR" in command
    assert "tcp://127.0.0.1:" in command


def test_slurm_example_with_tls(slurm, tmp_path):
    pytest.importorskip("cryptography")
    from distributed.security import Security

    temporary = Security.temporary()  # a self-signed certificate, as PEM text
    (tmp_path / "ca.pem").write_text(temporary.tls_ca_file)
    (tmp_path / "cert.pem").write_text(temporary.tls_scheduler_cert)
    (tmp_path / "key.pem").write_text(temporary.tls_scheduler_key)
    security = slurm.security(tmp_path)
    assert security.require_encryption and security.tls_worker_cert == str(tmp_path / "cert.pem")
    with slurm.make_cluster(queue="normal", tls_dir=str(tmp_path), **LOCAL) as cluster:
        assert cluster.scheduler_address.startswith("tls://127.0.0.1:")
        (command,) = [line for line in cluster.job_script().splitlines() if "dask_worker" in line]
    assert "--protocol tls://" in command
    for option, name in (("ca-file", "ca"), ("cert", "cert"), ("key", "key")):
        assert f"--tls-{option} {tmp_path / name}.pem" in command


def test_slurm_print_job_script(slurm, capsys, monkeypatch):
    monkeypatch.setattr(slurm, "make_cluster", _local(slurm.make_cluster))
    assert slurm.main(["--queue", "normal", "--cores", "4", "--print-job-script"]) == 0
    out = capsys.readouterr().out
    assert "#SBATCH -p normal" in out and "--cpus-per-task=4" in out


def _local(make: Any) -> Any:
    return lambda **kw: make(**kw, **LOCAL)


def _sbatch_command() -> list[str]:
    text = (DEPLOY / "slurm" / "daskquant.sbatch").read_text()
    text = re.sub(r"\\\n\s*", " ", text)
    text = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", text)  # ${VAR:-default} -> default
    (line,) = [line for line in text.splitlines() if line.startswith("python ")]
    return shlex.split(line)


def test_sbatch_script_matches_the_example(slurm):
    text = (DEPLOY / "slurm" / "daskquant.sbatch").read_text()
    assert text.startswith("#!/bin/bash\n")
    directives = [line for line in text.splitlines() if line.startswith("#SBATCH")]
    assert "#SBATCH --job-name=daskquant" in directives
    command = _sbatch_command()
    assert command[0] == "python" and command[1].endswith("deploy/slurm/slurm_cluster.py")
    split = command.index("--")
    assert command[split + 1 :] == ["$@"]
    args = slurm.parser().parse_args(command[2:split])
    assert args.jobs >= 1 and args.processes >= 1 and args.cores % args.processes == 0
    # what the README submits is a daskquant command line
    readme = (DEPLOY / "README.md").read_text()
    (submit,) = re.findall(r"^sbatch deploy/slurm/daskquant\.sbatch (.+)$", readme, re.M)
    assert _parses(["daskquant", "quantize", *shlex.split(submit)]).n_colors == 16


# -- distributed.yaml ----------------------------------------------------------------------


def _settings(tree: dict, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}.{key}" if prefix else key
        out.update(_settings(value, path) if isinstance(value, dict) else {path: value})
    return out


def test_distributed_yaml_holds_known_settings():
    settings = _settings(_load(DEPLOY / "distributed.yaml"))
    assert len(settings) > 10
    for path in settings:  # a misspelt key would be ignored by Dask without a word
        dask.config.get(path)
    with dask.config.set(settings):
        memory = dask.config.get("distributed.worker.memory")
        fractions = [memory[k] for k in ("target", "spill", "pause", "terminate")]
        assert fractions == sorted(fractions) and 0 < fractions[0] and fractions[-1] < 1
        from distributed.security import Security

        security = Security()
        assert security.require_encryption is True
        assert security.tls_ca_file == "/etc/dask/tls/ca.pem"
        for role in ("scheduler", "worker", "client"):
            tls = security.get_tls_config_for_role(role)
            assert tls["cert"].startswith("/etc/dask/tls/"), role
            assert tls["key"].startswith("/etc/dask/tls/"), role
