"""The daskquant command, run in-process against a real scheduler and real files."""

from __future__ import annotations

import inspect
import json
import os
import time
from typing import get_args

import cv2
import numpy as np
import pytest
import zarr

import daskquant as dq
from daskquant._api._fit import Init, Method
from daskquant._api._options import DEPRECATED
from daskquant._cli._main import main
from daskquant._cli._parser import build_parser as _parser
from daskquant._cli._samples import photo as bundled_photo


@pytest.fixture
def png(tmp_path):
    rgb = bundled_photo("motorcycle_left.png")[::2, ::2]
    path = tmp_path / "moto.png"
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture
def on(local_cluster):
    """The options that send a run to the session's cluster."""
    return ["--scheduler", local_cluster.scheduler.address]


def test_quantize_against_a_scheduler_then_info(png, tmp_path, on, capsys):
    out = tmp_path / "moto.zarr"
    args = ["quantize", str(png), str(out), "-k", "6", "--seed", "2", "--json"]
    code = main([*args, "--preview", str(tmp_path / "p.png"), *on])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    g = zarr.open_group(str(out), mode="r")
    assert g.attrs["complete"] is True
    assert summary["n_colors"] == 6 and summary["counts"] == g["counts"][:].tolist()
    assert summary["cluster"]["kind"] == "scheduler" and summary["cluster"]["workers"] == 2
    assert cv2.imread(str(tmp_path / "p.png")) is not None
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "complete  yes" in text and "labels" in text and "palette (share of pixels)" in text
    assert main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["complete"] is True and info["arrays"]["labels"]["dtype"] == "uint8"
    assert info["daskquant"]["fit"]["seed"] == 2


def test_progress_and_summary_of_a_real_run(png, tmp_path, on, capsys):
    out = tmp_path / "moto.zarr"
    args = ["quantize", str(png), str(out), "-k", "5", "--seed", "1", "--chunks", "96"]
    assert main([*args, "--attempts", "2", "--max-iter", "6", *on]) == 0
    captured = capsys.readouterr()
    err = captured.err.splitlines()
    assert err[0].startswith("scheduler tcp://127.0.0.1:") and "2 workers" in err[0]
    phases = [line.split()[0] for line in err if "tasks" in line]
    assert "histogram" in phases and "writing" in phases
    assert phases.index("histogram") < phases.index("writing")
    assert all("[########################] 100%" in line for line in err if "tasks" in line)
    iterations = [line for line in err if "max center shift" in line]
    assert iterations[0].startswith("attempt 1  iteration   1/6")
    assert any(line.startswith("attempt 2  iteration   1/6") for line in iterations)
    rows = dict(line.split(None, 1) for line in captured.out.splitlines()[:4])
    assert rows["output"] == str(out)
    table = captured.out
    for label in ("colors (K)", "iterations", "converged", "compactness", "pixels"):
        assert f"\n{label} " in table
    for label in ("wall time", "throughput", "cluster"):
        assert f"\n{label} " in table
    palette = table.split("palette (share of pixels):\n")[1].splitlines()
    assert len(palette) == 5
    shares = [float(line.split("%")[0].split()[-1]) for line in palette]
    assert shares == sorted(shares, reverse=True) and abs(sum(shares) - 100) < 0.5
    assert all("#" in line.split()[1] for line in palette)  # hex codes of 8-bit RGB


def test_quiet_and_json_print_only_the_summary(png, tmp_path, on, capsys):
    out = tmp_path / "moto.zarr"
    assert main(["quantize", str(png), str(out), "-k", "3", "-q", "--json", *on]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    (line,) = captured.out.splitlines()
    assert json.loads(line)["store"] == str(out)
    # --quiet and --debug are accepted before the command too
    assert main(["--quiet", "quantize", str(png), str(out), "-k", "3", "--overwrite", *on]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "palette" in captured.out


@pytest.mark.parametrize("flag", ["--write-rgb", "--write-image"])
def test_write_rgb_stores_the_quantized_image(png, tmp_path, on, flag, capsys):
    out = tmp_path / "moto.zarr"
    assert main(["quantize", str(png), str(out), "-k", "4", flag, "-q", *on]) == 0
    g = zarr.open_group(str(out), mode="r")
    image = np.asarray(g["image"])
    palette = np.asarray(g["palette"])
    assert image.shape == (*np.asarray(g["labels"]).shape, 3)
    np.testing.assert_array_equal(image, palette[np.asarray(g["labels"])])


def test_demo_runs_the_readme_command(tmp_path, on, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--size", "160", "-k", "4", "--json", *on]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_colors"] == 4 and summary["shape"] == [160, 160, 3]
    assert (out / "demo.zarr").is_dir() and (out / "demo_preview.png").is_file()


def test_demo_runs_on_a_local_cluster_however_small(tmp_path, capsys):
    # The demo shows the tool on a local cluster (README): not the in-process path of
    # small jobs, though its image is small.
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--size", "64", "-k", "4", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["cluster"]["kind"] == "local" and summary["cluster"]["workers"] >= 1


def _quantize_actions():
    import argparse

    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["quantize"]._actions


# -- a small job in this process ----------------------------------------------------------


def _stores_equal(a, b):
    ga, gb = zarr.open_group(str(a), mode="r"), zarr.open_group(str(b), mode="r")
    assert ga.attrs["daskquant"] == gb.attrs["daskquant"]
    assert sorted(ga.array_keys()) == sorted(gb.array_keys())
    for name in ga.array_keys():
        np.testing.assert_array_equal(np.asarray(ga[name]), np.asarray(gb[name]), err_msg=name)


def test_a_small_job_runs_in_this_process_with_the_clusters_store(
    png, tmp_path, monkeypatch, capsys
):
    # No scheduler and no size asked for: a small job runs on dask's threaded scheduler
    # here, with the store the command's own LocalCluster writes, array for array.
    import daskquant._api._plan as plan

    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    args = ["-k", "7", "--seed", "3", "--chunks", "96", "--write-rgb", "--json", "-q"]
    assert main(["quantize", str(png), str(tmp_path / "here.zarr"), *args]) == 0
    here = json.loads(capsys.readouterr().out)
    assert here["cluster"] == {
        "kind": "threads",
        "address": "",
        "workers": 0,
        "threads": here["cluster"]["threads"],
        "memory": 0,
    }
    assert here["cluster"]["threads"] >= 1
    monkeypatch.setattr(plan, "IN_PROCESS_PIXELS", 1000)  # the photo is now a large job
    assert main(["quantize", str(png), str(tmp_path / "local.zarr"), *args]) == 0
    local = json.loads(capsys.readouterr().out)
    assert local["cluster"]["kind"] == "local" and local["cluster"]["workers"] >= 1
    _stores_equal(tmp_path / "here.zarr", tmp_path / "local.zarr")
    assert here["palette"] == local["palette"] and here["counts"] == local["counts"]


def test_a_job_in_this_process_shows_its_progress(png, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    args = ["quantize", str(png), str(tmp_path / "o.zarr"), "-k", "5", "--seed", "1"]
    assert main([*args, "--chunks", "96", "--attempts", "2", "--max-iter", "6"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert (
        err[0]
        == f"this process: threaded scheduler, {os.cpu_count()} threads (a small job: no cluster)"
    )
    assert not [line for line in err if line.startswith("dashboard")]
    bars = [line for line in err if "tasks" in line]
    phases = [line.split()[0] for line in bars]
    assert "histogram" in phases and "writing" in phases and "quality" in phases
    assert phases.index("histogram") < phases.index("writing")
    assert all("[########################] 100%" in line for line in bars)
    iterations = [line for line in err if "max center shift" in line]
    assert iterations[0].startswith("attempt 1  iteration   1/6")
    assert any(line.startswith("attempt 2  iteration   1/6") for line in iterations)


def test_a_scheduler_or_a_size_asks_for_a_cluster(monkeypatch):
    from daskquant._cli._cluster import runs_here

    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    assert runs_here(None, workers=None, threads_per_worker=None, memory_limit=None)
    assert not runs_here("tcp://127.0.0.1:1", workers=None)
    assert not runs_here(None, workers=1, threads_per_worker=None)
    assert not runs_here(None, memory_limit="1GiB")
    assert not runs_here(None, tls_ca_file="ca.pem")
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://127.0.0.1:1")
    assert not runs_here(None, workers=None)


def test_local_progress_reports_the_computes_of_this_process():
    import dask
    import dask.array as da

    from daskquant._cli._progress import LocalProgress

    events = []
    x = da.ones((40, 40), chunks=10)
    with dask.config.set(scheduler="threads"), LocalProgress(events.append):
        with dask.annotate(phase="writing"):
            x.sum().compute()
        (x + 1).max().compute()
    msgs = [m for _, m in events]
    starts = [m for m in msgs if "prefixes" in m]
    assert [m["phase"] for m in starts] == ["writing", None]
    assert [m["graph"] for m in starts] == [1, 2]
    for start in starts:
        done = [m["done"] for m in msgs if m["graph"] == start["graph"]]
        assert done[0] == 0 and done[-1] == start["total"] > 16 and done == sorted(done)


def test_parser_defaults_are_the_library_defaults():
    # Derived from QuantizeOptions (see tests/api/test__options.py); checked here against
    # the signature users see.
    args = _parser().parse_args(["quantize", "in.png", "out.zarr"])
    defaults = inspect.signature(dq.quantize).parameters
    for name, parameter in defaults.items():
        if name in DEPRECATED:  # an old spelling of another option, not a parser dest
            continue
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and name != "on_iteration":
            assert getattr(args, name) == parameter.default, name
    actions = {a.dest: a for a in _quantize_actions()}
    assert tuple(actions["init"].choices) == get_args(Init)
    assert tuple(actions["method"].choices) == get_args(Method)
    assert _parser().parse_args(["quantize", "a", "b", "--chunks", "512,256"]).chunks == (512, 256)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["quantize", "in.png"],
        ["quantize", "in.png", "out.zarr", "--init", "kmeans"],
        ["quantize", "in.png", "out.zarr", "--chunks", "big"],
        ["quantize", "in.png", "out.zarr", "-k", "many"],
        ["frobnicate"],
    ],
)
def test_argument_errors_exit_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "usage: daskquant" in err and "Traceback" not in err


# --chunks text and the chunks= value it spells, for the library.
_CHUNK_SPELLINGS = [
    ("40", 40),
    ("24,16", (24, 16)),
    ("24,16,3", (24, 16, 3)),  # a trailing channel size, as arrays take it
    ("0", 0),
    ("-8", -8),
    ("0,5", (0, 5)),
    ("24,16,3,1", (24, 16, 3, 1)),
    ("24,", (24,)),
    ("", ()),
    ("1.5", 1.5),
    ("big", "big"),
]


@pytest.mark.parametrize(("text", "value"), _CHUNK_SPELLINGS)
def test_chunks_mean_the_same_in_the_cli_and_the_library(text, value, tmp_path, on, capsys):
    rgb = bundled_photo("coffee.png")[:48, :40].copy()
    path = tmp_path / "small.png"
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    code = main(
        ["quantize", str(path), str(tmp_path / "cli.zarr"), "-k", "2", *on, "--chunks", text]
    )
    err = capsys.readouterr().err
    library = {}
    for name, call in {
        "quantize (file)": lambda: dq.quantize(
            path, tmp_path / "f.zarr", n_colors=2, chunks=value
        ),
        "quantize (array)": lambda: dq.quantize(
            rgb, tmp_path / "a.zarr", n_colors=2, chunks=value
        ),
        "fit_palette": lambda: dq.fit_palette(rgb, 2, chunks=value),
    }.items():
        try:
            call()
            library[name] = "accepted"
        except dq.InvalidParameterError:
            library[name] = "refused"
    if code == 0:
        assert set(library.values()) == {"accepted"}, library
        chunks = {
            zarr.open_group(str(tmp_path / s), mode="r")["labels"].chunks
            for s in ("cli.zarr", "f.zarr", "a.zarr")
        }
        assert len(chunks) == 1
    else:
        assert code == 2 and "chunk" in err and "Traceback" not in err, err
        assert set(library.values()) == {"refused"}, library


def test_help_and_version_exit_0(capsys):
    assert main(["--help"]) == 0
    assert "quantize" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"daskquant {dq.__version__}"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--workers", "2"], "--workers size the local cluster"),
        (["--tls-cert", "c.pem"], "TLS needs all of --tls-ca-file, --tls-cert and --tls-key"),
    ],
)
def test_contradicting_cluster_options_exit_2(png, tmp_path, on, extra, message, capsys):
    assert main(["quantize", str(png), str(tmp_path / "o.zarr"), *on, *extra]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--memory-limit", "lots"], "--memory-limit: must be a size such as '4GiB'"),
        (["--workers", "0"], "--workers: must be a positive integer, got 0"),
        (["--timeout", "0"], "--timeout: must be a positive number, got 0.0"),
    ],
)
def test_bad_local_cluster_options_exit_2(png, tmp_path, monkeypatch, argv, message, capsys):
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    assert main(["quantize", str(png), str(tmp_path / "o.zarr"), *argv]) == 2
    assert message in capsys.readouterr().err


def test_tls_options_need_a_scheduler(png, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    tls = ["--tls-ca-file", "a", "--tls-cert", "b", "--tls-key", "c"]
    assert main(["quantize", str(png), str(tmp_path / "o.zarr"), *tls]) == 2
    assert "the TLS options are for a remote scheduler" in capsys.readouterr().err


def test_debug_shows_the_traceback(tmp_path, on):
    with pytest.raises(dq.InputError, match="no such file"):
        main(["quantize", str(tmp_path / "nope.png"), str(tmp_path / "o.zarr"), "--debug", *on])


def test_unreachable_scheduler_fails_fast(png, tmp_path, capsys):
    t0 = time.monotonic()
    code = main(
        [
            "quantize",
            str(png),
            str(tmp_path / "o.zarr"),
            "--scheduler",
            "tcp://127.0.0.1:9",
            "--timeout",
            "1",
        ]
    )
    assert code == 1 and time.monotonic() - t0 < 8
    err = capsys.readouterr().err
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9 within 1 s" in err
    assert len(err.strip().splitlines()) == 1


def test_scheduler_from_the_environment(png, tmp_path, local_cluster, monkeypatch, capsys):
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", local_cluster.scheduler.address)
    out = tmp_path / "o.zarr"
    assert main(["quantize", str(png), str(out), "-k", "3", "--json", "-q"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["cluster"]["address"] == local_cluster.scheduler.address


def test_info_says_when_a_store_is_unfinished(png, tmp_path, on, capsys):
    out = tmp_path / "o.zarr"
    assert main(["quantize", str(png), str(out), "-k", "3", "--seed", "0", "--json", *on]) == 0
    zarr.open_group(str(out), mode="r+").attrs["complete"] = False
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    assert "complete  NO" in capsys.readouterr().out
    assert np.asarray(zarr.open_group(str(out))["labels"]).max() < 3
    # The library says resume=True; export has no such flag, so the line names quantize's.
    assert main(["export", str(out), str(tmp_path / "o.png")]) == 1
    err = capsys.readouterr().err
    assert "the store is incomplete" in err and err.rstrip().endswith("again with --resume")
    assert "resume=True" not in err


def test_info_on_a_missing_store_exits_1(tmp_path, capsys):
    assert main(["info", str(tmp_path / "none.zarr")]) == 1
    assert "no such store" in capsys.readouterr().err


# -- export, preview, --ome: the CLI passes its arguments on ------------------------------


def test_export_and_preview_call_the_library(tmp_path, monkeypatch, capsys):
    calls = []

    def export(store, path, *, name=None, overwrite=False, storage_options=None, rgb_bands=None):
        calls.append(("export", store, path, name, overwrite, storage_options, rgb_bands))
        return path

    def preview(store, path, *, max_side=1024, name=None, storage_options=None, rgb_bands=None):
        calls.append(("preview", store, path, max_side, name, storage_options, rgb_bands))
        return path

    monkeypatch.setattr(dq, "export", export, raising=False)
    monkeypatch.setattr(dq, "preview", preview, raising=False)
    assert main(["export", "s.zarr", "s.tif"]) == 0
    assert main(["export", "s.zarr", "a.png", "--name", "a", "--overwrite"]) == 0
    assert main(["preview", "s.zarr", "s.png", "--max-side", "256"]) == 0
    assert main(["preview", "s.zarr", "t.png", "-q", "--name", "b"]) == 0
    assert main(["export", "s.zarr", "-q", "u.png", "--storage-options", '{"anon": true}']) == 0
    assert main(["export", "s.zarr", "-q", "v.png", "--rgb-bands", "3,2,1"]) == 0
    assert main(["preview", "s.zarr", "-q", "v.png", "--rgb-bands", "0,0,0"]) == 0
    assert calls == [
        ("export", "s.zarr", "s.tif", None, False, None, None),
        ("export", "s.zarr", "a.png", "a", True, None, None),
        ("preview", "s.zarr", "s.png", 256, None, None, None),
        ("preview", "s.zarr", "t.png", 1024, "b", None, None),
        ("export", "s.zarr", "u.png", None, False, {"anon": True}, None),
        ("export", "s.zarr", "v.png", None, False, None, "3,2,1"),
        ("preview", "s.zarr", "v.png", 1024, None, None, "0,0,0"),
    ]
    assert capsys.readouterr().err.splitlines() == ["wrote s.tif", "wrote a.png", "wrote s.png"]


def test_options_and_inputs_are_passed_to_quantize(png, tmp_path, on, monkeypatch, capsys):
    seen = {}

    def quantize(image, store, **kwargs):
        seen.update(kwargs, image=image, store=store)
        raise dq.StoreError("stop here")

    monkeypatch.chdir(tmp_path)
    for name in ("in.png", "a.png", "b.png"):  # the inputs are checked before quantize
        (tmp_path / name).write_bytes(png.read_bytes())
    monkeypatch.setattr(dq, "quantize", quantize)
    assert main(["quantize", "in.png", "out.zarr", "--ome", "--level", "2", *on]) == 1
    assert seen["ome"] is True and seen["level"] == 2 and seen["image"] == "in.png"
    assert "stop here" in capsys.readouterr().err
    assert main(["quantize", "a.png", "b.png", "out.zarr", "--init", "k-means||", *on]) == 1
    assert seen["image"] == ["a.png", "b.png"] and seen["store"] == "out.zarr"
    assert seen["init"] == "k-means||" and seen["ome"] is False


needs_export = pytest.mark.skipif(
    not (hasattr(dq, "export") and hasattr(dq, "preview")),
    reason="awaits daskquant.export and daskquant.preview",
)


@needs_export
def test_export_and_preview_of_a_real_store(png, tmp_path, on, capsys):
    out = tmp_path / "moto.zarr"
    assert main(["quantize", str(png), str(out), "-k", "4", "--seed", "0", "-q", *on]) == 0
    g = zarr.open_group(str(out), mode="r")
    expected = np.asarray(g["palette"])[np.asarray(g["labels"])]
    for name in ("labels.png", "labels.tif"):
        assert main(["export", str(out), str(tmp_path / name), "-q"]) == 0
        rgb = cv2.cvtColor(cv2.imread(str(tmp_path / name)), cv2.COLOR_BGR2RGB)
        np.testing.assert_array_equal(rgb, expected)
    assert main(["export", str(out), str(tmp_path / "labels.png")]) == 1  # exists
    assert "exists" in capsys.readouterr().err
    assert main(["export", str(out), str(tmp_path / "labels.png"), "--overwrite"]) == 0
    assert main(["preview", str(out), str(tmp_path / "big.png")]) == 0
    assert main(["preview", str(out), str(tmp_path / "small.png"), "--max-side", "100"]) == 0
    big, small = (cv2.imread(str(tmp_path / f"{n}.png")) for n in ("big", "small"))
    assert small.shape[1] < big.shape[1] and small.shape[0] < big.shape[0]


@pytest.mark.skipif(
    "ome" not in inspect.signature(dq.quantize).parameters, reason="awaits quantize(ome=)"
)
def test_ome_writes_an_ome_zarr(png, tmp_path, on, capsys):
    out = tmp_path / "moto.zarr"
    assert main(["quantize", str(png), str(out), "-k", "4", "--ome", "-q", *on]) == 0
    assert "ome" in json.dumps(dict(zarr.open_group(str(out), mode="r").attrs))


def test_a_collection_of_files_shares_one_palette(png, tmp_path, on, capsys):
    second = tmp_path / "second.png"
    second.write_bytes(png.read_bytes())
    out = tmp_path / "both.zarr"
    assert main(["quantize", str(png), str(second), str(out), "-k", "4", "-q", *on]) == 0
    assert "2 images" in capsys.readouterr().out
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "input     2 images" in text and "labels/second" in text


def test_python_dash_m_daskquant():
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "daskquant", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.strip() == f"daskquant {dq.__version__}"


# -- the progress display -----------------------------------------------------------------


# The phase quantize declares for a graph, by its most frequent task-name prefix.
_PHASE_OF = {"block_histogram": "fit", "block_partials": "fit", "store-map": "writing"}


def _event(graph, done, total, *prefixes):
    msg = {"graph": graph, "done": done, "total": total}
    if prefixes:
        msg["prefixes"] = [[p, 1] for p in prefixes]
        msg["phase"] = _PHASE_OF.get(prefixes[0])
    return (0.0, msg)


def test_phase_names():
    from daskquant._cli._progress import phase_name

    assert phase_name("writing", ["store-map", "block_lookup-store-map"]) == "writing"
    assert phase_name("quality", ["_block_sums"]) == "quality"
    # The fit's graphs are named after their step.
    assert phase_name("fit", ["block_histogram", "combine_histograms"]) == "histogram"
    assert phase_name("fit", ["block_partials", "combine_partials"]) == "iteration"
    assert phase_name("fit", ["rechunk-merge", "array"]) == "loading"
    assert phase_name("fit", ["_block_frobnicate"]) == "fit"
    # Names are declared, not guessed: a graph without a phase is a computation.
    assert phase_name(None, ["store-map"]) == "compute"
    assert phase_name(None, []) == "compute"


def test_quantize_declares_its_phases(tmp_path):
    # The annotations reach a scheduler plugin, as GraphProgress receives them.
    from distributed import Client, LocalCluster
    from distributed.diagnostics.plugin import SchedulerPlugin

    class Phases(SchedulerPlugin):
        def __init__(self):
            self.seen = []

        def update_graph(self, scheduler, *, annotations=None, **kwargs):
            self.seen.extend(set((annotations or {}).get("phase", {}).values()))

    rgb = bundled_photo("motorcycle_left.png")[::4, ::4]
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False) as cluster:
        with Client(cluster):
            plugin = Phases()
            cluster.scheduler.add_plugin(plugin, name="phases")
            out, preview = tmp_path / "o.zarr", tmp_path / "p.png"
            dq.quantize(rgb, out, n_colors=4, seed=0, dither="bayer2", preview=preview)
    assert {"fit", "counts", "writing", "quality", "preview"} <= set(plugin.seen)


def test_progress_lines_off_a_terminal():
    import io

    from daskquant._cli._progress import ProgressDisplay

    out = io.StringIO()
    display = ProgressDisplay(out, max_iter=5, epsilon=1.0)
    display.event(_event(1, 0, 4, "block_histogram"))
    display.event(_event(1, 2, 4))
    assert out.getvalue() == ""  # off a terminal, only finished phases are written
    display.event(_event(1, 4, 4))
    display.iteration(1, 3.5)
    display.event(_event(2, 0, 3, "block_partials"))
    display.event(_event(2, 3, 3))  # an iteration's graph: its line says it already
    display.iteration(2, 0.5)
    display.iteration(1, 2.0)  # a new attempt
    display.event(_event(3, 0, 2, "store-map"))
    display.event(_event(3, 2, 2))
    display.event(_event(9, 1, 2))  # a graph whose start was missed is ignored
    display.close()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("histogram        [########################] 100%  4/4 tasks")
    assert lines[1:4] == [
        "attempt 1  iteration   1/5  max center shift 3.5",
        "attempt 1  iteration   2/5  max center shift 0.5",
        "attempt 2  iteration   1/5  max center shift 2",
    ]
    assert lines[4].startswith("writing          [########################] 100%  2/2 tasks")
    assert len(lines) == 5
    assert [name for name, _, _ in display.phases] == ["histogram", "iteration", "writing"]


def test_progress_on_a_terminal_redraws_one_line():
    import io

    from daskquant._cli._progress import ProgressDisplay

    out = io.StringIO()
    display = ProgressDisplay(out, live=True, max_iter=4, epsilon=1.0)
    display.event(_event(1, 0, 4, "block_histogram"))
    display.event(_event(1, 2, 4))
    assert out.getvalue().endswith(
        "histogram        [############............]  50%  2/4 tasks  0.0 s"
    )
    display.event(_event(1, 4, 4))
    display.iteration(1, 3.0)
    display.iteration(2, 0.5)
    display.event(_event(2, 0, 1, "store-map"))  # the fit is over: its attempt ends as a line
    display.event(_event(2, 1, 1))
    display.close()
    lines = [line.split("\r\x1b[2K")[-1] for line in out.getvalue().split("\n")]
    assert lines[0].startswith("histogram        [########################] 100%")
    assert lines[1] == "attempt 1: 2 iterations, last max center shift 0.5, converged (epsilon 1)"
    assert lines[2].startswith("writing          [########################] 100%")
    assert out.getvalue().endswith("tasks  0.0 s\n")  # no live line is left behind


def test_progress_disabled_writes_nothing():
    import io

    from daskquant._cli._progress import ProgressDisplay

    out = io.StringIO()
    display = ProgressDisplay(out, enabled=False)
    display.line("x")
    display.iteration(1, 1.0)
    display.event(_event(1, 1, 1, "store-map"))
    display.close()
    assert out.getvalue() == ""


def test_quality_target_flags_and_exit_code_3(png, tmp_path, local_cluster, capsys):
    address = local_cluster.scheduler.address
    base = ["quantize", str(png), "-k", "8", "--seed", "2", "--scheduler", address]
    out = tmp_path / "t.zarr"
    assert main([*base[:2], str(out), *base[2:], "--target-psnr", "20"]) == 0
    printed = capsys.readouterr().out
    row = next(line for line in printed.splitlines() if line.startswith("target"))
    k = zarr.open_group(str(out), mode="r").attrs["daskquant"]["n_colors"]
    assert f"PSNR 20 dB reached: K = {k} of at most 8" in row and "on the histogram" in row
    # Even 8 colors miss the minimum: exit code 3, one error line, nothing written.
    missed = tmp_path / "m.zarr"
    code = main([*base[:2], str(missed), *base[2:], "--target-psnr", "80", "--min-psnr", "70"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 3
    assert err[-1].startswith("daskquant: error: the image needs more colors: with --colors 8")
    assert "below --min-psnr 70" in err[-1]
    assert not missed.exists() and not (tmp_path / "m.zarr.claim").exists()


def test_quality_is_a_deprecated_spelling_of_metrics(png, tmp_path, local_cluster, capsys):
    address = local_cluster.scheduler.address
    base = ["quantize", str(png), "--palette", "#000000,#ffffff", "--json"]
    base += ["--scheduler", address]
    for flag, measured in (("--quality", True), ("--no-quality", False)):
        assert main([*base[:2], str(tmp_path / f"{flag}.zarr"), *base[2:], flag]) == 0
        captured = capsys.readouterr()
        replacement = "--metrics" if measured else "--no-metrics"
        said = f"daskquant: warning: {flag} is deprecated: use {replacement}"
        assert said in captured.err.splitlines()
        assert ("quality" in json.loads(captured.out)["extra"]) is measured
    # --metrics itself does not warn; --quiet silences the warning too.
    assert main([*base[:2], str(tmp_path / "m.zarr"), *base[2:], "--metrics"]) == 0
    assert main([*base[:2], str(tmp_path / "q.zarr"), *base[2:], "--quality", "-q"]) == 0
    assert "deprecated" not in capsys.readouterr().err


def test_palette_colorspace_dither_and_metrics_flags(png, tmp_path, local_cluster, capsys):
    out = tmp_path / "fixed.zarr"
    address = local_cluster.scheduler.address
    argv = [
        "quantize",
        str(png),
        str(out),
        "--palette",
        "#000000,#ffffff,#ff0000",
        "--dither",
        "bayer2",
        "--metrics",
        "--json",
        "--scheduler",
        address,
    ]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(c))
    assert summary["method"] == "palette" and summary["compactness"] is None
    assert summary["extra"]["quality"]["psnr"] > 0
    g = zarr.open_group(str(out), mode="r")
    np.testing.assert_array_equal(g["palette"][:], [[0, 0, 0], [255, 255, 255], [255, 0, 0]])
    assert g.attrs["daskquant"]["labels"]["dither"] == "bayer2"
    assert (
        main(
            [
                "quantize",
                str(png),
                str(tmp_path / "lab.zarr"),
                "-k",
                "4",
                "--seed",
                "1",
                "--colorspace",
                "lab",
                "--json",
                "--scheduler",
                address,
            ]
        )
        == 0
    )
    lab = zarr.open_group(str(tmp_path / "lab.zarr"), mode="r")
    assert lab.attrs["daskquant"]["fit"]["colorspace"] == "lab"
    code = main(
        [
            "quantize",
            str(png),
            str(tmp_path / "bad.zarr"),
            "--palette",
            "gray:x",
            "--scheduler",
            address,
        ]
    )
    assert code == 2 and not (tmp_path / "bad.zarr").exists()
