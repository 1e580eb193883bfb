"""The GIS and slide runs of docs/runs.md: what GIS and slide tools read from the exports.

    .venv/bin/python benchmarks/viewers.py                 # 7 commands, minutes on a busy machine
    .venv/bin/python benchmarks/viewers.py --render-only   # docs/runs.md from the results

GeoTIFF to GeoTIFF: a 3-band scene (EPSG:32633, 10 m pixels, nodata 0, band descriptions)
written by rasterio is quantized by the command line straight to a paletted GeoTIFF, and
through a store plus ``daskquant export``; rasterio (GDAL inside) reads both back: CRS,
transform, color table, nodata, tiles, overviews, COG layout. Slide to QuPath: an
Aperio-style SVS (MPP 0.25 in its description) and an OME-TIFF (PhysicalSizeX/Y 0.25 µm),
each quantized and exported as a TIFF pyramid; tifffile and OpenSlide read the levels, the
resolution tags and the microns per pixel. The inputs are mosaics of the photographs
bundled with scikit-image. Results go to benchmarks/results/viewers.json and .md, and the
runs section of docs/runs.md (tests/test_docs.py checks that it is the stored results).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _meta import REPO, header, record_options, run_meta

from daskquant._cli._samples import photo_mosaic

RESULTS = Path(__file__).parent / "results"
PAGE = REPO / "docs" / "runs.md"
BEGIN, END = "<!-- runs: begin (benchmarks/viewers.py) -->", "<!-- runs: end -->"
SCENE = (800, 1200)  # rows, columns
SLIDE = (1536, 2048)
MPP = 0.25


def _command(*args: str, cwd: Path) -> dict[str, Any]:
    """Run ``daskquant ARGS`` in ``cwd``; the command line and its time."""
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-m", "daskquant", *args, "-q"], cwd=cwd, env=env, check=True)
    return {"command": "daskquant " + " ".join(args), "seconds": time.perf_counter() - start}


def _scene(path: Path) -> None:
    import rasterio
    from rasterio.transform import from_origin

    bands = photo_mosaic(*SCENE, seed=3).transpose(2, 0, 1).copy()
    bands[bands == 0] = 1  # 0 is the nodata value: only the corner below holds it
    bands[:, :200, :300] = 0
    profile = {
        "driver": "GTiff",
        "width": SCENE[1],
        "height": SCENE[0],
        "count": 3,
        "dtype": "uint8",
        "crs": "EPSG:32633",
        "transform": from_origin(500000, 5800000, 10, 10),
        "nodata": 0,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(bands)
        for i, name in enumerate(("red", "green", "blue"), 1):
            dst.set_band_description(i, name)


def _rasterio_view(path: Path) -> dict[str, Any]:
    """What rasterio (GDAL) reads of a GeoTIFF: as ``rio info`` and ``gdalinfo`` show it."""
    import rasterio

    with rasterio.open(path) as ds:
        colormap = ds.colormap(1) if ds.count == 1 else {}
        return {
            "driver": ds.driver,
            "size": [ds.width, ds.height],
            "bands": ds.count,
            "dtype": ds.dtypes[0],
            "crs": ds.crs.to_string() if ds.crs else None,
            "transform": [round(v, 6) for v in tuple(ds.transform)[:6]],
            "nodata": ds.nodata,
            "color table": {i: list(colormap[i]) for i in range(min(4, len(colormap)))},
            "color table entries": len(colormap),
            "block": list(ds.block_shapes[0]),
            "overviews": ds.overviews(1),
            "layout": ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT"),
            "compression": ds.compression.value if ds.compression else None,
            "descriptions": list(ds.descriptions),
        }


def gis_run(work: Path) -> dict[str, Any]:
    _scene(work / "scene.tif")
    steps = [
        _command("quantize", "scene.tif", "scene-12.tif", "-k", "12", "--seed", "0", cwd=work),
        _command("quantize", "scene.tif", "scene.zarr", "-k", "12", "--seed", "0", cwd=work),
        _command("export", "scene.zarr", "scene-12-export.tif", cwd=work),
    ]
    import rasterio

    with (
        rasterio.open(work / "scene-12.tif") as a,
        rasterio.open(work / "scene-12-export.tif") as b,
    ):
        same = bool((a.read() == b.read()).all()) and a.profile == b.profile
    return {
        "steps": steps,
        "input": _rasterio_view(work / "scene.tif"),
        "output": _rasterio_view(work / "scene-12.tif"),
        "export equals direct output": same,
    }


def _svs(path: Path, rgb: np.ndarray) -> None:
    import tifffile

    h, w = rgb.shape[:2]
    description = (
        f"Aperio Image Library v12.0.15\r\n{w}x{h} [0,0 {w}x{h}] (256x256) JPEG/RGB Q=90"
        f"|AppMag = 40|MPP = {MPP}"
    )
    tifffile.imwrite(
        path, rgb, tile=(256, 256), description=description, photometric="rgb", compression="jpeg"
    )


def _ome_tiff(path: Path, rgb: np.ndarray) -> None:
    import tifffile

    metadata = {
        "axes": "YXS",
        "PhysicalSizeX": MPP,
        "PhysicalSizeXUnit": "µm",
        "PhysicalSizeY": MPP,
        "PhysicalSizeYUnit": "µm",
    }
    tifffile.imwrite(
        path, rgb, tile=(256, 256), photometric="rgb", compression="zlib", metadata=metadata
    )


def _tifffile_view(path: Path) -> dict[str, Any]:
    import tifffile

    with tifffile.TiffFile(path) as tf:
        pages = [p for p in tf.pages]
        first = pages[0]
        unit = first.tags["ResolutionUnit"].value
        x = first.tags["XResolution"].value
        return {
            "series": [
                {"kind": s.kind, "levels": [list(v.shape) for v in s.levels]} for s in tf.series
            ],
            "pages": len(pages),
            "subfiletype of reduced pages": sorted({int(p.subfiletype) for p in pages[1:]}),
            "tile": [first.tilelength, first.tilewidth],
            "photometric": first.photometric.name,
            "colormap entries": None if first.colormap is None else int(first.colormap.shape[1]),
            "ResolutionUnit": int(unit),
            "XResolution": list(x),
            "micrometers per pixel": 1e4 * x[1] / x[0] if int(unit) == 3 else None,
        }


def _openslide_view(path: Path) -> dict[str, Any]:
    try:
        import openslide
    except ImportError:
        return {"error": "openslide-python is not installed"}
    with openslide.OpenSlide(str(path)) as slide:
        props = slide.properties
        return {
            "vendor": props.get("openslide.vendor"),
            "level count": slide.level_count,
            "level dimensions": [list(d) for d in slide.level_dimensions],
            "level downsamples": [float(d) for d in slide.level_downsamples],
            "mpp-x": props.get("openslide.mpp-x"),
            "mpp-y": props.get("openslide.mpp-y"),
        }


def slide_run(work: Path) -> dict[str, Any]:
    rgb = photo_mosaic(*SLIDE, seed=5)
    _svs(work / "slide.svs", rgb)
    _ome_tiff(work / "slide.ome.tif", rgb)
    out: dict[str, Any] = {}
    for name in ("slide.svs", "slide.ome.tif"):
        stem = name.split(".")[0] + ("-ome" if "ome" in name else "")
        steps = [
            _command(
                "quantize", name, f"{stem}.zarr", "-k", "8", "--seed", "0", "--ome", cwd=work
            ),
            _command("export", f"{stem}.zarr", f"{stem}-8.tif", cwd=work),
        ]
        store = json.loads((work / f"{stem}.zarr" / "zarr.json").read_text())
        multiscale = store["attributes"]["ome"]["multiscales"][0]
        out[name] = {
            "steps": steps,
            "input openslide": _openslide_view(work / name),
            "ome-zarr scale": [
                d["coordinateTransformations"][0]["scale"] for d in multiscale["datasets"]
            ],
            "ome-zarr units": {a["name"]: a.get("unit") for a in multiscale["axes"]},
            "tifffile": _tifffile_view(work / f"{stem}-8.tif"),
            "openslide": _openslide_view(work / f"{stem}-8.tif"),
        }
    return out


def _block(value: dict[str, Any]) -> str:
    """A JSON object, one key per line."""
    items = (f" {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in value.items())
    return "```json\n{\n" + ",\n".join(items) + "\n}\n```"


def render(meta: dict[str, Any], results: dict[str, Any]) -> str:
    """The runs section of docs/runs.md."""
    gis, slides = results["gis"], results["slides"]
    lines = [
        header(meta),
        "",
        "### GeoTIFF to GeoTIFF: the commands",
        "",
        "```bash",
        *(s["command"] for s in gis["steps"]),
        "```",
        "",
        "rasterio (GDAL inside) on the input `scene.tif`:",
        "",
        _block(gis["input"]),
        "",
        "and on the output `scene-12.tif` (`gdalinfo` shows the same: Coordinate System, "
        "Origin and Pixel Size, Color Table, NoData Value, Overviews; `gdalinfo` was not "
        "installed here):",
        "",
        _block(gis["output"]),
        "",
        "The export of the store (`scene-12-export.tif`) is the same file as the direct "
        f"output, pixel for pixel and profile for profile: {gis['export equals direct output']}.",
        "",
    ]
    for name, run in slides.items():
        lines += [
            f"### Slide to QuPath: `{name}`",
            "",
            "```bash",
            *(s["command"] for s in run["steps"]),
            "```",
            "",
            "OpenSlide on the input:",
            "",
            _block(run["input openslide"]),
            "",
            "The OME-Zarr store's scale per level "
            f"{run['ome-zarr scale']} with axis units {run['ome-zarr units']}.",
            "",
            "tifffile on the exported pyramid:",
            "",
            _block(run["tifffile"]),
            "",
            "OpenSlide on the exported pyramid:",
            "",
            _block(run["openslide"]),
            "",
        ]
    seconds = [s["seconds"] for s in gis["steps"]] + [
        s["seconds"] for run in slides.values() for s in run["steps"]
    ]
    lines.append(f"Commands took {min(seconds):.1f} to {max(seconds):.1f} s each (with start-up).")
    return "\n".join(lines) + "\n"


def write_page(text: str) -> None:
    page = PAGE.read_text()
    start, end = page.index(BEGIN) + len(BEGIN), page.index(END)
    PAGE.write_text(page[:start] + "\n" + text + page[end:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    record_options(ap, "viewers")
    args = ap.parse_args()
    stored = RESULTS / "viewers.json"
    if args.render_only:
        data = json.loads(stored.read_text())
    else:
        meta = {**run_meta(args.note), "command": "python benchmarks/viewers.py"}
        work = Path(tempfile.mkdtemp(prefix="dq-viewers-"))
        try:
            data = {"meta": meta, "results": {"gis": gis_run(work), "slides": slide_run(work)}}
        finally:
            shutil.rmtree(work, ignore_errors=True)
        stored.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    text = render(data["meta"], data["results"])
    (RESULTS / "viewers.md").write_text("# GIS and slide runs\n\n" + text)
    write_page(text)
    print(text)


if __name__ == "__main__":
    main()
