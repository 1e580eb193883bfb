"""Golden stores: a matrix of jobs whose written arrays and attributes must not change.

The digests in ``tests/golden/golden.json`` were written by the code before a reshaping;
``tests/test_golden.py`` runs the same jobs on today's code and compares. Regenerate them
(only in a commit that says which intended change moved them) with::

    .venv/bin/python tests/_golden.py --write
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import skimage.data
import tifffile
import zarr
from numpy.typing import NDArray
from PIL import Image

import daskquant as dq

GOLDEN = Path(__file__).parent / "golden" / "golden.json"


def _photo() -> NDArray[np.uint8]:
    return skimage.data.astronaut()[60:156, 150:246].copy()  # 96 x 96 RGB


def _u16() -> NDArray[np.uint16]:
    img = _photo()
    ramp = (np.arange(img.shape[0]) % 251).astype(np.uint16)[:, None, None]
    return img.astype(np.uint16) * 257 - ramp


def _rgba() -> NDArray[np.uint8]:
    img = _photo()
    alpha = np.full(img.shape[:2], 255, np.uint8)
    alpha[:20, :30] = 0
    alpha[40:60] = 128
    return np.dstack([img, alpha])


def _quantize(image: Any, **options: Any) -> Callable[[Path], Path]:
    def run(tmp: Path) -> Path:
        out = tmp / "out.zarr"
        dq.quantize(image() if callable(image) else image, out, **options)
        return out

    return run


def _collection(tmp: Path) -> Path:
    folder = tmp / "scans"
    folder.mkdir()
    Image.fromarray(_photo()).save(folder / "a.png")
    Image.fromarray(skimage.data.coffee()[100:180, 200:300]).save(folder / "b.png")
    out = tmp / "out.zarr"
    dq.quantize(folder, out, n_colors=8, seed=7, write_image=True)
    return out


def _palette_file(tmp: Path) -> Path:
    path = tmp / "palette.txt"
    path.write_text("#000000\n#ffffff\n#c04020\n#2040c0\n#808080\n#30a050\n")
    out = tmp / "out.zarr"
    dq.quantize(_photo(), out, palette=path)
    return out


def _tiled_tiff(tmp: Path) -> Path:
    path = tmp / "scan.tif"
    tifffile.imwrite(path, _photo(), tile=(32, 32), compression="zlib")
    out = tmp / "out.zarr"
    dq.quantize(path, out, n_colors=8, seed=10, write_image=True)
    return out


def _resumed(tmp: Path) -> Path:
    out = tmp / "out.zarr"
    options: dict[str, Any] = {"n_colors": 8, "seed": 11, "chunks": 32, "write_image": True}
    dq.quantize(_photo(), out, **options)
    group = zarr.open_group(str(out), mode="r+")
    group.attrs["complete"] = False
    for name in ("labels", "image"):
        chunk_files = sorted(p for p in (out / name).rglob("*") if p.is_file())
        for path in chunk_files[::2]:
            path.unlink()
    dq.quantize(_photo(), out, resume=True, **options)
    return out


CASES: dict[str, Callable[[Path], Path]] = {
    "histogram": _quantize(_photo, n_colors=8, seed=1),
    "histogram-random": _quantize(_photo, n_colors=8, seed=1, init="random", attempts=3),
    "histogram-kmeans||": _quantize(_photo, n_colors=8, seed=1, init="k-means||"),
    "given-centers": _quantize(
        _photo, n_colors=3, seed=0, init=np.array([[0, 0, 0], [128, 128, 128], [255, 255, 255.0]])
    ),
    "pixels": _quantize(_photo, n_colors=8, seed=2, method="pixels", chunks=40),
    "pixels-random": _quantize(
        _photo, n_colors=6, seed=2, method="pixels", init="random", attempts=2
    ),
    "pixels-kmeans||": _quantize(_photo, n_colors=6, seed=2, method="pixels", init="k-means||"),
    "uint16": _quantize(_u16, n_colors=6, seed=3, chunks=48, write_image=True),
    "float32": _quantize(lambda: (_photo() / np.float32(255)).astype(np.float32), seed=4),
    "gray": _quantize(lambda: _photo()[..., 1], n_colors=5, seed=5),
    "rgba": _quantize(_rgba, n_colors=6, seed=5, write_image=True),
    "stack": _quantize(lambda: np.stack([_photo(), _photo()[::-1]]), n_colors=6, seed=5),
    "lab": _quantize(_photo, n_colors=8, seed=6, colorspace="lab"),
    "din99": _quantize(_photo, n_colors=8, seed=6, colorspace="din99"),
    "lab-pixels": _quantize(_photo, n_colors=6, seed=6, colorspace="lab", method="pixels"),
    "lab-uint16": _quantize(_u16, n_colors=6, seed=6, colorspace="lab"),
    # The pixel path, by name (before the summary became "auto" for these, their own cases).
    "uint16-pixels": _quantize(
        _u16, n_colors=6, seed=3, chunks=48, write_image=True, method="pixels"
    ),
    "float32-pixels": _quantize(
        lambda: (_photo() / np.float32(255)).astype(np.float32), seed=4, method="pixels"
    ),
    "fixed-palette": _quantize(_photo, palette="#000000,#ffffff,#c04020,#2040c0"),
    "palette-file": _palette_file,
    "dither-bayer4": _quantize(_photo, n_colors=8, seed=8, dither="bayer4"),
    "dither-fs": _quantize(_photo, palette="web216", dither="floyd-steinberg"),
    "collection": _collection,
    "tiled-tiff": _tiled_tiff,
    "ome": _quantize(_photo, n_colors=8, seed=9, ome=True, chunks=48),
    "resumed": _resumed,
}


def _sha(data: NDArray) -> str:
    return hashlib.sha256(np.ascontiguousarray(data).tobytes()).hexdigest()[:20]


SMALL = 4096  # float arrays up to this size are recorded as values, not digests


def _record(data: NDArray) -> str | list[float]:
    """A digest of an array, or the values of a small float array (centers, palettes).

    Float results differ in their last bits between machines (BLAS dot products and NumPy's
    SIMD cbrt, log and power are not correctly rounded), so those are compared to a relative
    tolerance (:func:`same`); integer arrays (labels, images) must match exactly.
    """
    if data.dtype.kind == "f" and data.size <= SMALL:
        return [float(v) for v in np.ravel(data)]
    return _sha(data)


def same(got: Any, want: Any, rel: float = 1e-9) -> bool:
    """Equal, floats to ``rel`` relative tolerance, recursively through lists and dicts."""
    if isinstance(want, float) or isinstance(got, float):
        return bool(np.isclose(got, want, rtol=rel, atol=rel))
    if isinstance(want, dict):
        return (
            isinstance(got, dict)
            and got.keys() == want.keys()
            and all(same(got[k], want[k], rel) for k in want)
        )
    if isinstance(want, list):
        return (
            isinstance(got, list)
            and len(got) == len(want)
            and all(same(g, w, rel) for g, w in zip(got, want, strict=True))
        )
    return bool(got == want)


def _normal(value: Any, tmp: str) -> Any:
    """Attributes without what differs between runs: temporary paths, file times, version."""
    if isinstance(value, dict):
        return {k: _normal(v, tmp) for k, v in value.items() if k != "version"}
    if isinstance(value, list):
        if value and isinstance(value[0], str) and value[0].startswith(tmp):
            return [_normal(value[0], tmp)]  # a path_print: drop size and times
        return [_normal(v, tmp) for v in value]
    if isinstance(value, str) and tmp in value:
        return value.replace(tmp, "<tmp>")
    return value


def store_digest(path: Path, tmp: Path) -> dict[str, Any]:
    group = zarr.open_group(str(path), mode="r")
    arrays = {}
    for name, node in sorted(group.members(max_depth=None)):
        if isinstance(node, zarr.Array):
            data = node[...]
            arrays[name] = [str(data.dtype), list(data.shape), _record(data)]
    real = str(tmp.resolve())
    attrs = _normal(_normal(group.attrs.asdict(), real), str(tmp))
    return {"arrays": arrays, "attrs": attrs}


def tree_digest(path: Path) -> dict[str, str]:
    """A digest of a file, or of every file under a folder (bytes and mtime), by name: a
    failed comparison names the files that changed."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {
        str(f.relative_to(path.parent)): hashlib.sha256(f.read_bytes()).hexdigest()[:16]
        + f" {f.stat().st_mtime_ns}"
        for f in files
    }


def _kmeans_cases() -> dict[str, Callable[[], tuple[float, Any, Any]]]:
    px = _photo().reshape(-1, 3)
    f32 = px.astype(np.float32)
    crit = (dq.TERM_CRITERIA_EPS + dq.TERM_CRITERIA_MAX_ITER, 20, 1.0)
    labels0 = (np.arange(px.shape[0]) % 8).astype(np.int32).reshape(-1, 1)
    flags_pp, flags_rand = dq.KMEANS_PP_CENTERS, dq.KMEANS_RANDOM_CENTERS
    return {
        "kmeans-random-f32": lambda: dq.kmeans(f32, 8, None, crit, 3, flags_rand, seed=1),
        "kmeans-pp-u8": lambda: dq.kmeans(px, 8, None, crit, 3, flags_pp, seed=2),
        "kmeans-pp-f32": lambda: dq.kmeans(f32, 8, None, crit, 2, flags_pp, seed=3),
        "kmeans-labels": lambda: dq.kmeans(
            f32, 8, labels0, crit, 2, flags_pp | dq.KMEANS_USE_INITIAL_LABELS, seed=4
        ),
    }


def kmeans_digest(result: tuple[float, Any, Any]) -> dict[str, Any]:
    score, labels, centers = result
    return {
        "compactness": float(score),
        "labels": _sha(np.asarray(labels)),
        "centers": _record(np.asarray(centers)),
    }


def run_case(name: str) -> dict[str, Any]:
    if name in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            return store_digest(CASES[name](Path(tmp)), Path(tmp))
    return kmeans_digest(_kmeans_cases()[name]())


def case_names() -> list[str]:
    return [*CASES, *_kmeans_cases()]


def main(argv: list[str]) -> int:
    if argv != ["--write"]:
        print(__doc__)
        return 2
    golden = {name: run_case(name) for name in case_names()}
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(golden)} cases to {GOLDEN}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
