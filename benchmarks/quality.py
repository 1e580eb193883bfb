"""Quantization quality on real photographs: daskquant beside the usual tools.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/quality.py [--photos astronaut mosaic-a ...] [--colors 16 64 256]
        [--skip cv2-recipe ...] [--max-pixels 200000] [--render-only]
    .venv/bin/python benchmarks/quality.py --pictures

The images: every color photograph bundled with scikit-image (astronaut, coffee, chelsea,
rocket, hubble, retina, ihc, both motorcycle views), matplotlib's grace_hopper.jpg, and three
mosaics of crops of those photos at varied scales (``photo_mosaic``, seeds 1-3). ``TUNED``
are the five photos the defaults were chosen on (attempts, perceptual epsilon: the earlier
runs of this script); the others are held out. Images larger than ``--max-pixels`` are
shrunk (INTER_AREA) so that the whole run, cv2's 10 attempts included, takes minutes.

For every image and K, no dithering: PSNR (RGB), mean CIEDE2000 and wall time of

- daskquant: ``fit_palette`` defaults (k-means++, exact histogram path), labels by
  ``apply_palette``;
- daskquant-lab, daskquant-din99, daskquant-perceptual: the same with ``colorspace="lab"``
  / ``"din99"`` / ``"perceptual"`` (DIN99 k-means, labels by CIEDE2000);
- cv2-recipe: the recipe's call, ``cv2.kmeans(data, K, None, (EPS + MAX_ITER, 20, 1.0), 10,
  KMEANS_RANDOM_CENTERS)`` on float32 pixels, labels as returned;
- sklearn-sample: scikit-learn ``KMeans(K, random_state=0)`` fitted on 10,000 random pixels,
  then ``predict`` on all of them (scikit-learn's own color-quantization example);
- sklearn-minibatch: scikit-learn ``MiniBatchKMeans(K, random_state=0)`` on the same sample,
  then ``predict``;
- pillow-median-cut, pillow-octree: ``Image.quantize(K, method=MEDIANCUT / FASTOCTREE,
  dither=NONE)``;
- libimagequant: the ``imagequant`` package (``dithering_level=0``), where installed.

Every method's output is scored the same way, by ``daskquant.quality`` on its labels and
palette. The summary gives, per K, the worst case over the images: the smallest margin of
daskquant's default PSNR over the best peer's (the methods not named daskquant), and of the
perceptual mode's (``PERCEPTUAL``) mean CIEDE2000 under the best of all other methods (and
the same for DIN99 and Lab alone). Writes
benchmarks/results/quality.md and quality.json (after every image, so a stopped run keeps
what it measured). ``--pictures`` instead draws
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
from _meta import record_options, render_stored, run_meta
from numpy.typing import NDArray

import daskquant as dq
from daskquant._cli._samples import photo, photo_mosaic

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
DOCS = ROOT.parent / "docs"
PHOTOS = {
    "astronaut": "astronaut.png",
    "coffee": "coffee.png",
    "chelsea": "chelsea.png",
    "rocket": "rocket.jpg",
    "hubble": "hubble_deep_field.jpg",
    "retina": "retina.jpg",
    "ihc": "ihc.png",
    "motorcycle-left": "motorcycle_left.png",
    "motorcycle-right": "motorcycle_right.png",
}
MOSAICS = {"mosaic-a": (1024, 1536, 1), "mosaic-b": (1280, 1280, 2), "mosaic-c": (960, 1600, 3)}
IMAGES = [*PHOTOS, "grace_hopper", *MOSAICS]
TUNED = ("astronaut", "coffee", "chelsea", "rocket", "grace_hopper")  # the defaults' own
PEERS = ("cv2-recipe", "sklearn-sample", "sklearn-minibatch", "pillow-median-cut")
PEERS += ("pillow-octree", "libimagequant")
PERCEPTUAL = "daskquant-perceptual"  # the named perceptual mode (colorspace="perceptual")
Result = tuple[NDArray, NDArray]  # (labels (H, W), palette (K, 3) uint8)


def load(name: str, max_pixels: int | None = None) -> NDArray[np.uint8]:
    """An image of the benchmark, shrunk to at most ``max_pixels`` pixels."""
    if name == "grace_hopper":
        import matplotlib

        path = os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")
        img = np.ascontiguousarray(cv2.imread(path)[..., ::-1])
    elif name in MOSAICS:
        img = photo_mosaic(*MOSAICS[name][:2], seed=MOSAICS[name][2])
    else:
        img = photo(PHOTOS[name])
    h, w = img.shape[:2]
    if max_pixels is None or h * w <= max_pixels:
        return img
    scale = (max_pixels / (h * w)) ** 0.5
    size = (int(w * scale), int(h * scale))
    return np.ascontiguousarray(cv2.resize(img, size, interpolation=cv2.INTER_AREA))


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


def run_minibatch(img: NDArray, k: int) -> Result:
    from sklearn.cluster import MiniBatchKMeans
    from sklearn.utils import shuffle

    data = img.reshape(-1, 3).astype(np.float64)
    sample = shuffle(data, random_state=0, n_samples=10_000)
    km = MiniBatchKMeans(n_clusters=k, random_state=0).fit(sample)
    palette = np.clip(np.rint(km.cluster_centers_), 0, 255).astype(np.uint8)
    return km.predict(data).reshape(img.shape[:2]), palette


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
    "daskquant-perceptual": lambda img, k: run_daskquant(img, k, "perceptual"),
    "cv2-recipe": run_cv2,
    "sklearn-sample": run_sklearn,
    "sklearn-minibatch": run_minibatch,
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


Results = dict[str, dict[str, dict[str, dict[str, float]]]]  # image -> K -> method -> figures


def psnr_margin(res: dict[str, dict[str, float]]) -> float:
    """daskquant's default PSNR minus the best peer's (dB; >= 0: the default wins)."""
    return res["daskquant"]["psnr"] - max(res[m]["psnr"] for m in PEERS if m in res)


def ciede_margin(res: dict[str, dict[str, float]], method: str) -> float:
    """The best other method's mean CIEDE2000 minus ``method``'s (>= 0: ``method`` wins)."""
    others = [r["ciede2000"] for m, r in res.items() if m != method]
    return min(others) - res[method]["ciede2000"]


def worst_cases(results: Results) -> list[str]:
    """Per K and group of images, the worst margins (with their image) and the wins."""
    lines = [
        "| K | images | default PSNR - best peer's: worst (image) | default best | "
        f"{PERCEPTUAL} CIEDE2000 under the best other: worst (image) | {PERCEPTUAL} best | "
        "daskquant-din99, the same: worst (image) | daskquant-lab, the same: worst (image) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    ks = sorted({int(k) for per_k in results.values() for k in per_k})
    groups = (("all", lambda n: True), ("held out", lambda n: n not in TUNED))
    for k in ks:
        for group, keep in groups:
            rows = {
                n: per_k[str(k)] for n, per_k in results.items() if keep(n) and str(k) in per_k
            }
            if not rows:
                continue
            cells = [f"{k}", f"{group} ({len(rows)})"]
            for margin, name in (
                (psnr_margin, "daskquant"),
                (lambda r: ciede_margin(r, PERCEPTUAL), PERCEPTUAL),
                (lambda r: ciede_margin(r, "daskquant-din99"), "daskquant-din99"),
                (lambda r: ciede_margin(r, "daskquant-lab"), "daskquant-lab"),
            ):
                counted = name in ("daskquant", PERCEPTUAL)  # with a count of the wins
                have = {n: margin(r) for n, r in rows.items() if name in r}
                if not have:
                    cells += ["-", "-"] if counted else ["-"]
                    continue
                worst = min(have, key=have.__getitem__)
                unit = " dB" if name == "daskquant" else ""
                cells.append(f"{have[worst]:+.3f}{unit} ({worst})")
                if counted:
                    cells.append(f"{sum(v >= 0 for v in have.values())} of {len(have)}")
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def render(meta: dict[str, str], results: Results) -> str:
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
        f"CIEDE2000 of the row. Tuned: the images the defaults were chosen on "
        f"({', '.join(TUNED)}); the others are held out.",
        "",
        "Worst cases over the images (a margin >= 0 means daskquant's method is at least as "
        "good as every other; peers: " + ", ".join(PEERS) + "):",
        "",
        *worst_cases(results),
        "",
        "| image | K | " + " | ".join(methods) + " |",
        "|---|---|" + "---|" * len(methods),
    ]
    for name, per_k in results.items():
        for k, res in per_k.items():
            best_p = max(r["psnr"] for r in res.values())
            best_e = min(r["ciede2000"] for r in res.values())
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
            tag = " (tuned)" if name in TUNED else ""
            lines.append(f"| {name}{tag} | {k} | " + " | ".join(cells) + " |")
    lines.append("")
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
    ap.add_argument("--photos", nargs="+", default=IMAGES, choices=IMAGES)
    ap.add_argument("--colors", type=int, nargs="+", default=[16, 64, 256])
    ap.add_argument("--skip", nargs="*", default=[], choices=list(METHODS))
    ap.add_argument(
        "--max-pixels",
        type=int,
        default=200_000,
        help="shrink larger images to this many pixels (default 200000)",
    )
    ap.add_argument(
        "--pictures", action="store_true", help="only draw the documentation's pictures into docs/"
    )
    ap.add_argument("--out", type=Path, default=RESULTS)
    record_options(ap, "quality")
    args = ap.parse_args()
    if args.pictures:
        pictures(DOCS)
        return
    if args.render_only:
        render_stored(args.out, "quality", render)
        print((args.out / "quality.md").read_text())
        return
    meta = {
        **run_meta(args.note),
        "command": "python benchmarks/quality.py "
        + " ".join(["--photos", *args.photos, "--colors", *map(str, args.colors)])
        + f" --max-pixels {args.max_pixels}",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    results: Results = {}
    methods = [m for m in METHODS if m not in args.skip and available(m)]
    for space in (
        "rgb",
        "lab",
        "din99",
        "perceptual",
    ):  # compile numba's kernels before any timing
        run_daskquant(load("astronaut")[:64, :64], 4, space)
    for name in args.photos:
        img = load(name, args.max_pixels)
        for k in args.colors:
            row = results.setdefault(name, {}).setdefault(str(k), {})
            for m in methods:
                t = time.perf_counter()
                labels, pal = METHODS[m](img, k)
                seconds = time.perf_counter() - t
                q = dq.quality(img, labels.astype(np.uint16), pal)
                row[m] = {"psnr": q["psnr"], "ciede2000": q["ciede2000"], "seconds": seconds}
                print(
                    f"{name:16s} K={k:3d} {m:18s} PSNR {q['psnr']:6.2f}  "
                    f"dE2000 {q['ciede2000']:6.3f}  {seconds:7.2f} s",
                    flush=True,
                )
            (args.out / "quality.json").write_text(
                json.dumps({"meta": meta, "results": results}, indent=1)
            )
            (args.out / "quality.md").write_text(render(meta, results))
    print(render(meta, results))


if __name__ == "__main__":
    main()
