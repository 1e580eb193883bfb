"""notebooks/: each notebook runs start to end on a small input, and what it writes is right.

The notebooks are executed by nbclient in a fresh kernel, in a temporary folder, with
``DASKQUANT_NOTEBOOK_SMALL=1`` (tiny images). A cell that raises fails the test. The stores
they write are then read back through the public API, and the notebooks in the repository must
be stripped of outputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import tifffile

import daskquant as dq

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
NAMES = ["quickstart", "cluster"]


def _execute(name: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run notebooks/<name>.ipynb with ``folder`` as its working directory; the executed copy."""
    monkeypatch.setenv("DASKQUANT_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("DASKQUANT_REPO", str(REPO))
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)  # use the local stand-in
    # The "python3" kernel of this environment, not one a user installed elsewhere.
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(folder / ".jupyter"))
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    )
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
    return nb


def _outputs(nb: Any) -> list[Any]:
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]


def _text(nb: Any) -> str:
    return "".join(o.get("text", "") for o in _outputs(nb) if o.output_type == "stream")


def _pngs(nb: Any) -> int:
    return sum("image/png" in o.get("data", {}) for o in _outputs(nb))


def _finished(path: Path, n_colors: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """The labels and palette of a complete single-image store, checked."""
    group = dq.open_store(path)
    assert group.attrs["complete"] is True, path
    palette = np.asarray(group["palette"])
    labels = np.asarray(group["labels"])
    assert palette.shape == (n_colors, 3) and palette.dtype == np.uint8
    assert labels.dtype == np.uint8 and 0 <= labels.min() and labels.max() < n_colors
    counts = np.asarray(group["counts"])
    np.testing.assert_array_equal(counts, np.bincount(labels.ravel(), minlength=n_colors))
    return labels, palette


def _assert_preview(path: Path, store: Path, before: np.ndarray) -> None:
    """``path`` shows ``before`` beside the store's quantized image (``palette[labels]``),
    and below them the palette swatch: every color in a band as wide as its share of the
    pixels, largest share first."""
    group = dq.open_store(store)
    record = group.attrs["daskquant"]["images"][0]
    # An OME-Zarr label image holds palette index + 1 (its record's label_offset).
    labels = np.asarray(group[record["labels"][0]]) - record.get("label_offset", 0)
    palette = np.asarray(group["palette"])
    counts = np.asarray(group["counts"])
    assert len(np.unique(palette, axis=0)) == len(palette)  # so each band's color names one
    picture = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    h, w = labels.shape
    assert picture.shape[0] > h and picture.shape[1] == 2 * w, (path.name, picture.shape)
    np.testing.assert_array_equal(picture[:h, :w], before, err_msg=f"{path.name}: before")
    np.testing.assert_array_equal(picture[:h, w:], palette[labels], err_msg=f"{path.name}: after")
    # The swatch's top row (the shares are written on the bands lower down).
    row = picture[h]
    starts = np.flatnonzero(np.r_[True, np.any(row[1:] != row[:-1], axis=1)])
    widths = np.diff(np.r_[starts, row.shape[0]])
    shown = []
    for start in starts:
        match = np.flatnonzero(np.all(palette == row[start], axis=1))
        assert match.size == 1, f"{path.name}: swatch color {row[start]} is not in the palette"
        shown.append(int(match[0]))
    share = counts / counts.sum() * row.shape[0]  # each color's exact width in pixels
    assert len(set(shown)) == len(shown) and np.all(np.diff(counts[shown]) <= 0), path.name
    np.testing.assert_array_less(np.abs(widths - share[shown]), 1)  # band edges are rounded
    assert set(np.flatnonzero(share >= 1)) <= set(shown), path.name


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_stripped(name: str) -> None:
    """No outputs or execution counts are committed: the tests make them."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
    assert "widgets" not in nb.metadata


@pytest.mark.timeout(600)
def test_quickstart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = _execute("quickstart", tmp_path, monkeypatch)
    out = tmp_path / "quickstart-output"
    text = _text(nb)

    labels, palette = _finished(out / "astronaut.zarr")
    assert labels.shape == (128, 128)
    # Section 8: the same call through a scheduler address, and through the CLI, gives the
    # same labels as the first run.
    for again in ("astronaut-again.zarr", "astronaut-cli.zarr"):
        np.testing.assert_array_equal(_finished(out / again)[0], labels)
    assert "same labels as in section 3: True" in text

    # The recipe comparison printed three scored rows.
    for row in ("cv2.kmeans, the recipe's call", "random centers like the recipe", "k-means++"):
        assert row in text

    # The tiled TIFF went to a complete OME-Zarr store whose labels the TIFF export holds.
    mosaic = dq.open_store(out / "mosaic.zarr")
    assert mosaic.attrs["complete"] is True
    assert mosaic.attrs["daskquant"]["layout"] == "ome-image"
    tiff = cv2.imread(str(out / "mosaic-16colors.tif"), cv2.IMREAD_UNCHANGED)
    assert tiff is not None and tiff.shape[:2] == (512, 512)

    # Lab mode and the reused palette.
    lab = dq.open_store(out / "astronaut-lab.zarr")
    assert lab.attrs["daskquant"]["fit"]["colorspace"] == "lab"
    _, reused = _finished(out / "coffee-astronaut-palette.zarr")
    np.testing.assert_array_equal(reused, palette)

    # Before/after previews with their palette swatches, and pictures shown inline.
    photo = cv2.cvtColor(cv2.imread(str(out / "astronaut.png")), cv2.COLOR_BGR2RGB)
    _assert_preview(out / "astronaut_preview.png", out / "astronaut.zarr", photo)
    _assert_preview(out / "astronaut_lab_preview.png", out / "astronaut-lab.zarr", photo)
    mosaic_input = tifffile.imread(out / "mosaic.tif")
    _assert_preview(out / "mosaic_preview.png", out / "mosaic.zarr", mosaic_input)
    assert _pngs(nb) >= 7


@pytest.mark.slow  # the notebook starts its own cluster (~12 s)
@pytest.mark.timeout(600)
def test_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = _execute("cluster", tmp_path, monkeypatch)
    text = _text(nb)
    # The SLURM worker job script was built from deploy/slurm, and nothing was submitted.
    assert "#SBATCH -J daskquant-worker" in text and "#SBATCH --cpus-per-task=8" in text
    assert "nothing submitted" in text
    # The Kubernetes manifests were read.
    assert "scheduler address inside Kubernetes: tcp://daskquant-scheduler:8786" in text
    # The job ran on the stand-in scheduler's workers.
    labels, _ = _finished(tmp_path / "cluster-output" / "coffee.zarr")
    assert labels.shape == (128, 192)
    assert _pngs(nb) == 1
