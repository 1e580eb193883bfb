"""Quantization quality on real photographs: daskquant beside the usual tools.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/quality.py [--photos astronaut coffee ...] [--colors 16 64 256]
        [--skip cv2-recipe ...]
    .venv/bin/python benchmarks/quality.py --pictures

For every photo (scikit-image's bundled photographs and matplotlib's grace_hopper.jpg) and K,
no dithering: PSNR (RGB), mean CIEDE2000 and wall time of

- daskquant: ``fit_palette`` defaults (k-means++, exact histogram path), labels by
  ``apply_palette``;
- daskquant-lab, daskquant-din99: the same with ``colorspace="lab"`` / ``"din99"``;
- cv2-recipe: the recipe's call, ``cv2.kmeans(data, K, None, (EPS + MAX_ITER, 20, 1.0), 10,
  KMEANS_RANDOM_CENTERS)`` on float32 pixels, labels as returned;
- sklearn-sample: scikit-learn ``KMeans(K, random_state=0)`` fitted on 10,000 random pixels,
  then ``predict`` on all of them (scikit-learn's own color-quantization example);
- pillow-median-cut, pillow-octree: ``Image.quantize(K, method=MEDIANCUT / FASTOCTREE,
  dither=NONE)``;
- libimagequant: the ``imagequant`` package (``dithering_level=0``), where installed.

Every method's output is scored the same way, by ``daskquant.quality`` on its labels and
palette. Writes benchmarks/results/quality.md and quality.json. ``--pictures`` instead draws
the pictures of the README and the documentation into docs/: the first one (``daskquant demo``'s preview, as a JPEG
1200 pixels wide) and the before/after pictures of the perceptual modes and of dithering.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from _meta import run_meta
from numpy.typing import NDArray

import daskquant as dq
from daskquant._cli._samples import photo

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
DOCS = ROOT.parent / "docs"
PHOTOS = {
    "astronaut": "astronaut.png",
    "coffee": "coffee.png",
    "chelsea": "chelsea.png",
    "rocket": "rocket.jpg",
    "motorcycle": "motorcycle_left.png",
    "hubble": "hubble_deep_field.jpg",
    "ihc": "ihc.png",
    "retina": "retina.jpg",
}
DEFAULT_PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "grace_hopper"]
Result = tuple[NDArray, NDArray]  # (labels (H, W), palette (K, 3) uint8)


def load(name: str) -> NDArray[np.uint8]:
    if name == "grace_hopper":
        import matplotlib

        path = os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")
        return np.ascontiguousarray(cv2.imread(path)[..., ::-1])
    return photo(PHOTOS[name])


def run_daskquant(img: NDArray, k: int, colorspace: str) -> Result:
    fit = dq.fit_palette(img, k, seed=0, colorspace=colorspace)  # type: ignore[arg-type]
    labels = dq.apply_palette(img, fit.centers, colorspace=colorspace)  # type: ignore[arg-type]
    return labels.compute(), fit.palette


def run_cv2(img: NDArray, k: int) -> Result:
    cv2.setRNGSeed(0)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0)
    data = img.reshape(-1, 3).astype(np.float32)
    _, labels, centers = cv2.kmeans(data, k, None, criteria, 10, cv2.KMEANS_RANDOM_CENTERS)
    palette = np.clip(np.rint(centers), 0, 255).astype(np.uint8)
    return labels.reshape(img.shape[:2]), palette


def run_sklearn(img: NDArray, k: int) -> Result:
    from sklearn.cluster import KMeans
    from sklearn.utils import shuffle

    data = img.reshape(-1, 3).astype(np.float64)
    sample = shuffle(data, random_state=0, n_samples=10_000)
    km = KMeans(n_clusters=k, random_state=0).fit(sample)
    labels = km.predict(data)
    palette = np.clip(np.rint(km.cluster_centers_), 0, 255).astype(np.uint8)
    return labels.reshape(img.shape[:2]), palette


def _from_pillow(p: object, k: int) -> Result:
    labels = np.asarray(p)
    pal = np.array(p.getpalette()[: 3 * 256], np.uint8).reshape(-1, 3)  # type: ignore[attr-defined]
    return labels, pal


def run_pillow(img: NDArray, k: int, method: str) -> Result:
    from PIL import Image

    m = {"median-cut": Image.Quantize.MEDIANCUT, "octree": Image.Quantize.FASTOCTREE}[method]
    p = Image.fromarray(img).quantize(k, method=m, dither=Image.Dither.NONE)
    return _from_pillow(p, k)


def run_imagequant(img: NDArray, k: int) -> Result:
    import imagequant
    from PIL import Image

    p = imagequant.quantize_pil_image(
        Image.fromarray(img).convert("RGBA"), dithering_level=0.0, max_colors=k
    )
    return _from_pillow(p, k)


METHODS: dict[str, Callable[[NDArray, int], Result]] = {
    "daskquant": lambda img, k: run_daskquant(img, k, "rgb"),
    "daskquant-lab": lambda img, k: run_daskquant(img, k, "lab"),
    "daskquant-din99": lambda img, k: run_daskquant(img, k, "din99"),
    "cv2-recipe": run_cv2,
    "sklearn-sample": run_sklearn,
    "pillow-median-cut": lambda img, k: run_pillow(img, k, "median-cut"),
    "pillow-octree": lambda img, k: run_pillow(img, k, "octree"),
    "libimagequant": run_imagequant,
}


def available(name: str) -> bool:
    if name == "libimagequant":
        try:
            import imagequant  # noqa: F401
        except ImportError:
            return False
    return True


def render(
    meta: dict[str, str], results: dict[str, dict[str, dict[str, dict[str, float]]]]
) -> str:
    methods = [m for m in METHODS if any(m in r for pk in results.values() for r in pk.values())]
    lines = [
        "# Quantization quality on real photographs",
        "",
        f"Measured {meta['date']} on {meta['machine']}"
        + (
            f", code at {meta['commit']}, {meta['load']}."
            if "commit" in meta
            else " (a shared machine: times are indicative)."
        ),
        f"Command: `{meta['command']}`. No dithering. Each cell: PSNR (dB, higher is better) / "
        "mean CIEDE2000 (lower is better) / seconds. **Bold**: the best PSNR and the best "
        "CIEDE2000 of the row.",
        "",
        "| photo | K | " + " | ".join(methods) + " |",
        "|---|---|" + "---|" * len(methods),
    ]
    count = dict.fromkeys(("psnr", "lab", "din99", "either", "lab<rgb", "din99<rgb"), 0)
    rows = 0
    for photo_name, per_k in results.items():
        for k, res in per_k.items():
            rows += 1
            best_p = max(r["psnr"] for r in res.values())
            best_e = min(r["ciede2000"] for r in res.values())
            de = {m: r["ciede2000"] for m, r in res.items()}
            count["psnr"] += res.get("daskquant", {}).get("psnr") == best_p
            count["lab"] += de.get("daskquant-lab") == best_e
            count["din99"] += de.get("daskquant-din99") == best_e
            count["either"] += best_e in (de.get("daskquant-lab"), de.get("daskquant-din99"))
            rgb = de.get("daskquant", np.nan)
            count["lab<rgb"] += de.get("daskquant-lab", np.inf) < rgb
            count["din99<rgb"] += de.get("daskquant-din99", np.inf) < rgb
            cells = []
            for m in methods:
                r = res.get(m)
                if r is None:
                    cells.append("-")
                    continue
                p = f"{r['psnr']:.2f}"
                e = f"{r['ciede2000']:.3f}"
                p = f"**{p}**" if r["psnr"] == best_p else p
                e = f"**{e}**" if r["ciede2000"] == best_e else e
                cells.append(f"{p} / {e} / {r['seconds']:.2f}")
            lines.append(f"| {photo_name} | {k} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"- Highest PSNR: daskquant's default in {count['psnr']} of {rows} rows.",
        f"- Lowest mean CIEDE2000: daskquant-lab in {count['lab']}, daskquant-din99 in "
        f"{count['din99']}, one of the two in {count['either']} of {rows} rows.",
        f"- Against daskquant's RGB mode at the same K, mean CIEDE2000 is lower with Lab in "
        f"{count['lab<rgb']} and with DIN99 in {count['din99<rgb']} of {rows} rows.",
        "",
    ]
    return "\n".join(lines)


DEMO_PICTURE_WIDTH = 1200  # the demo's preview is 1680 pixels wide; the JPEG stays small


def demo_picture(out: Path) -> None:
    """The first picture of the README and the docs: what ``make demo`` writes to
    out/demo_preview.png, as a JPEG (tests/test_docs.py checks it against the demo's fit)."""
    with tempfile.TemporaryDirectory() as tmp:
        demo = [sys.executable, "-m", "daskquant", "demo", "--out", tmp, "--quiet"]
        subprocess.run(demo, check=True, stdout=subprocess.DEVNULL)
        picture = cv2.imread(str(Path(tmp) / "demo_preview.png"))
    height = round(picture.shape[0] * DEMO_PICTURE_WIDTH / picture.shape[1])
    small = cv2.resize(picture, (DEMO_PICTURE_WIDTH, height), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(out / "demo_preview.jpg"), small, [cv2.IMWRITE_JPEG_QUALITY, 85])
    print("wrote", out / "demo_preview.jpg")


def pictures(out: Path) -> None:
    """The pictures in docs/: the demo's preview, a fixed palette, perceptual modes, and
    ordered dithering."""
    out.mkdir(parents=True, exist_ok=True)
    demo_picture(out)
    with tempfile.TemporaryDirectory() as tmp:
        preview = out / "palette_before_after.png"
        dq.quantize(load("coffee"), Path(tmp) / "coffee.zarr", palette="web216", preview=preview)
        print("wrote", preview)
    img = load("astronaut")[30:286, 140:396]
    panels = [(img, "input")]
    for space, title in (("rgb", "RGB, K=8"), ("lab", "Lab, K=8"), ("din99", "DIN99, K=8")):
        fit = dq.fit_palette(img, 8, seed=0, colorspace=space)  # type: ignore[arg-type]
        labels = dq.apply_palette(img, fit.centers, colorspace=space)  # type: ignore[arg-type]
        q = dq.quality(img, labels, fit.palette)
        panels.append((fit.palette[labels.compute()], f"{title}: dE {q['ciede2000']:.2f}"))
    _save(out / "colorspace_before_after.png", panels)
    img = load("coffee")[40:296, 180:436]
    panels = [(img, "input")]
    fit = dq.fit_palette(img, 8, seed=0)
    for name, pal, centers in (
        ("web216", dq.load_palette("web216"), None),
        ("K=8", fit.palette, fit.centers),
    ):
        for dither in ("none", "bayer8"):
            labels = dq.apply_palette(img, pal if centers is None else centers, dither=dither)  # type: ignore[arg-type]
            panels.append((pal[labels.compute()], f"{name}, {dither}"))
    _save(out / "dither_before_after.png", panels)


def _save(path: Path, panels: list[tuple[NDArray, str]]) -> None:
    row = []
    for img, title in panels:
        tile = cv2.resize(img, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
        band = np.full((28, tile.shape[1], 3), 255, np.uint8)
        cv2.putText(band, title, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
        row += [np.concatenate([band, tile]), np.full((tile.shape[0] + 28, 8, 3), 255, np.uint8)]
    cv2.imwrite(str(path), np.concatenate(row[:-1], axis=1)[..., ::-1])
    print("wrote", path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--photos", nargs="+", default=DEFAULT_PHOTOS, choices=[*PHOTOS, "grace_hopper"]
    )
    ap.add_argument("--colors", type=int, nargs="+", default=[16, 64, 256])
    ap.add_argument("--skip", nargs="*", default=[], choices=list(METHODS))
    ap.add_argument(
        "--pictures", action="store_true", help="only draw the documentation's pictures into docs/"
    )
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if args.pictures:
        pictures(DOCS)
        return
    results: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    methods = [m for m in METHODS if m not in args.skip and available(m)]
    for name in args.photos:
        img = load(name)
        for k in args.colors:
            row = results.setdefault(name, {}).setdefault(str(k), {})
            for m in methods:
                t = time.perf_counter()
                labels, pal = METHODS[m](img, k)
                seconds = time.perf_counter() - t
                q = dq.quality(img, labels.astype(np.uint16), pal)
                row[m] = {"psnr": q["psnr"], "ciede2000": q["ciede2000"], "seconds": seconds}
                print(
                    f"{name:12s} K={k:3d} {m:18s} PSNR {q['psnr']:6.2f}  "
                    f"dE2000 {q['ciede2000']:6.3f}  {seconds:7.2f} s",
                    flush=True,
                )
    meta = {
        **run_meta(),
        "command": "python benchmarks/quality.py "
        + " ".join(["--photos", *args.photos, "--colors", *map(str, args.colors)]),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quality.json").write_text(
        json.dumps({"meta": meta, "results": results}, indent=1)
    )
    (args.out / "quality.md").write_text(render(meta, results))
    print(render(meta, results))


if __name__ == "__main__":
    main()
