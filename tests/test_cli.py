"""The daskquant command, run in-process against a real scheduler and real files."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import zarr

from daskquant._cli import main
from daskquant._samples import photo as bundled_photo


@pytest.fixture
def png(tmp_path):
    rgb = bundled_photo("motorcycle_left.png")[::2, ::2]
    path = tmp_path / "moto.png"
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def test_quantize_against_a_scheduler_then_info(png, tmp_path, local_cluster, capsys):
    out = tmp_path / "moto.zarr"
    address = local_cluster.scheduler.address
    code = main(
        [
            "quantize",
            str(png),
            str(out),
            "-k",
            "6",
            "--seed",
            "2",
            "--scheduler",
            address,
            "--json",
            "--preview",
            str(tmp_path / "p.png"),
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    g = zarr.open_group(str(out), mode="r")
    assert g.attrs["complete"] is True
    assert summary["n_colors"] == 6 and summary["counts"] == g["counts"][:].tolist()
    assert cv2.imread(str(tmp_path / "p.png")) is not None
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "complete  yes" in text and "labels" in text


def test_usage_errors_exit_2_with_one_line(png, tmp_path, local_cluster, capsys):
    code = main(
        [
            "quantize",
            str(png),
            str(tmp_path / "o.zarr"),
            "-k",
            "0",
            "--scheduler",
            local_cluster.scheduler.address,
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    errors = [line for line in err.splitlines() if "error" in line]
    assert errors == ["daskquant: error: n_colors must be between 1 and 65536, got 0"]
    assert "Traceback" not in err
    assert not (tmp_path / "o.zarr").exists()


def test_runtime_errors_exit_1_without_traceback(tmp_path, local_cluster, capsys):
    code = main(
        [
            "quantize",
            str(tmp_path / "nope.png"),
            str(tmp_path / "o.zarr"),
            "--scheduler",
            local_cluster.scheduler.address,
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "nope.png: no such file" in err and "Traceback" not in err


def test_unreachable_scheduler_fails_fast(png, tmp_path, capsys):
    code = main(
        ["quantize", str(png), str(tmp_path / "o.zarr"), "--scheduler", "tcp://127.0.0.1:9"]
    )
    assert code == 1
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in capsys.readouterr().err


def test_info_says_when_a_store_is_unfinished(png, tmp_path, local_cluster, capsys):
    out = tmp_path / "o.zarr"
    assert (
        main(
            [
                "quantize",
                str(png),
                str(out),
                "-k",
                "3",
                "--seed",
                "0",
                "--scheduler",
                local_cluster.scheduler.address,
                "--json",
            ]
        )
        == 0
    )
    zarr.open_group(str(out), mode="r+").attrs["complete"] = False
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    assert "complete  NO" in capsys.readouterr().out
    assert np.asarray(zarr.open_group(str(out))["labels"]).max() < 3
