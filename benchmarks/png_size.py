"""Indexed PNG file sizes: daskquant's writer beside Pillow's optimized PNG and pngquant.

    .venv/bin/python benchmarks/png_size.py            # 6 photos x 4 K (about a minute)
    .venv/bin/python benchmarks/png_size.py --render-only

For every photo and K (2, 4, 16, 256 by default), daskquant quantizes the photo (seed 0) and
the same labels and palette are written four ways by ``daskquant._io._png.write_indexed``:
rows unfiltered or filtered per row by libpng's heuristic (minimum sum of absolute
differences), at zlib level 6 or 9. The first, "none/6", is what ``dq.export`` writes. The
same labels and palette are saved by Pillow with ``optimize=True`` (Pillow picks the bit
depth from the palette size, zlib level 9). pngquant (the binary, ``--nofs --speed 1``, no
dithering as daskquant) quantizes the photo itself, so its pixels differ from ours: its
size is the size a pngquant user gets for that K, next to its PSNR. Every file written by
daskquant is read back by Pillow and compared with the labels. Results go to
benchmarks/results/png_size.json and png_size.md.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from _meta import header, record_options, render_stored, run_meta
from numpy.typing import NDArray
from PIL import Image

import daskquant as dq
from daskquant._cli._samples import photo, photo_mosaic
from daskquant._io._png import write_indexed

RESULTS = Path(__file__).parent / "results"
PHOTOS = ["astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png"]
VARIANTS = [("none", 6), ("none", 9), ("adaptive", 6), ("adaptive", 9)]


def load(name: str) -> NDArray[np.uint8]:
    return photo_mosaic(768, 1024, seed=1) if name == "mosaic" else photo(name)


def ours(labels: NDArray, palette: NDArray, filtering: str, level: int) -> tuple[int, float]:
    f = io.BytesIO()
    t = time.perf_counter()
    strips = (labels[y : y + 256] for y in range(0, labels.shape[0], 256))
    write_indexed(f, labels.shape, palette, strips, filtering=filtering, level=level)
    seconds = time.perf_counter() - t
    with Image.open(io.BytesIO(f.getvalue())) as im:
        if not np.array_equal(np.asarray(im), labels):
            raise AssertionError(f"{filtering}/{level}: Pillow reads other indices")
    return len(f.getvalue()), seconds


def pillow(labels: NDArray, palette: NDArray) -> int:
    im = Image.fromarray(labels.astype(np.uint8), mode="P")
    im.putpalette(palette.tobytes())
    f = io.BytesIO()
    im.save(f, "PNG", optimize=True)
    return len(f.getvalue())


def pngquant(img: NDArray, k: int, tmp: Path) -> dict[str, float] | None:
    if shutil.which("pngquant") is None:
        return None
    src, out = tmp / "in.png", tmp / "out.png"
    Image.fromarray(img).save(src)
    cmd = ["pngquant", str(k), "--nofs", "--speed", "1", "--force", "--output", str(out)]
    subprocess.run([*cmd, str(src)], check=True)
    with Image.open(out) as im:
        labels, pal = np.asarray(im), np.asarray(im.getpalette("RGB"), np.uint8).reshape(-1, 3)
    q = dq.quality(img, labels.astype(np.uint16), pal[: int(labels.max()) + 1])
    return {"bytes": out.stat().st_size, "psnr": q["psnr"]}


def run(names: list[str], colors: list[int]) -> dict[str, dict[str, dict]]:
    results: dict[str, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            img = load(name)
            for k in colors:
                fit = dq.fit_palette(img, k, seed=0)
                labels = np.asarray(dq.apply_palette(img, fit.centers).compute(), np.uint8)
                row: dict = {"pixels": int(labels.size)}
                for filtering, level in VARIANTS:
                    size, seconds = ours(labels, fit.palette, filtering, level)
                    row[f"{filtering}/{level}"] = {"bytes": size, "seconds": seconds}
                row["pillow"] = {"bytes": pillow(labels, fit.palette)}
                row["psnr"] = dq.quality(img, labels.astype(np.uint16), fit.palette)["psnr"]
                row["pngquant"] = pngquant(img, k, Path(tmp))
                results.setdefault(name, {})[str(k)] = row
                print(name, k, {key: v for key, v in row.items() if isinstance(v, dict)})
    return results


def render(meta: dict, results: dict) -> str:
    cols = [f"{f}/{lvl}" for f, lvl in VARIANTS]
    lines = [
        "# Indexed PNG file sizes",
        "",
        header(meta),
        "",
        "KiB per file; daskquant's writer on daskquant's labels four ways (filter/zlib level;",
        "none/6 is what `dq.export` writes), Pillow `optimize=True` on the same labels, and",
        "pngquant on the photo itself (its own pixels: its PSNR beside ours).",
        "",
        "| image | K | " + " | ".join(cols) + " | Pillow | none/6 vs Pillow | "
        "pngquant | PSNR ours / pngquant |",
        "|---|---:|" + "---:|" * (len(cols) + 4),
    ]
    for name, per_k in results.items():
        for k, row in per_k.items():
            sizes = [f"{row[c]['bytes'] / 1024:.1f}" for c in cols]
            ratio = row["none/6"]["bytes"] / row["pillow"]["bytes"]
            pq = row["pngquant"]
            pq_size = f"{pq['bytes'] / 1024:.1f}" if pq else "-"
            pq_psnr = f"{row['psnr']:.2f} / {pq['psnr']:.2f}" if pq else "-"
            lines.append(
                f"| {name} | {k} | "
                + " | ".join(sizes)
                + f" | {row['pillow']['bytes'] / 1024:.1f}"
                f" | {ratio:.2f}x | {pq_size} | {pq_psnr} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", nargs="+", default=[*PHOTOS, "mosaic"])
    ap.add_argument("--colors", type=int, nargs="+", default=[2, 4, 16, 256])
    record_options(ap, "png_size")
    args = ap.parse_args()
    if args.render_only:
        render_stored(RESULTS, "png_size", render)
        return
    meta = {**run_meta(args.note), "command": "python benchmarks/png_size.py"}
    results = run(args.photos, args.colors)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "png_size.json").write_text(
        json.dumps({"meta": meta, "results": results}, indent=1)
    )
    (RESULTS / "png_size.md").write_text(render(meta, results))
    print(render(meta, results))


if __name__ == "__main__":
    main()
