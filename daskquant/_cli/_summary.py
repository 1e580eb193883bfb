"""What the command line prints on stdout: a run's summary, a store's contents, a palette."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["print_info", "print_palette", "print_plan", "print_summary"]


def _swatch(color: Sequence[float], dtype: str) -> str:
    """Two cells in the color (a 24-bit terminal escape), for 8-bit gray or RGB palettes."""
    if dtype != "uint8" or len(color) not in (1, 3):
        return ""
    r, g, b = (int(color[0]),) * 3 if len(color) == 1 else (int(c) for c in color[:3])
    return f"\x1b[48;2;{r};{g};{b}m  \x1b[0m "


def _hex(color: Sequence[float], dtype: str) -> str:
    if dtype != "uint8" or len(color) not in (1, 3):
        return ""
    values = [int(color[0])] * 3 if len(color) == 1 else [int(c) for c in color[:3]]
    return "#" + "".join(f"{v:02x}" for v in values)


def print_palette(
    palette: Sequence[Sequence[float]], counts: Sequence[int], dtype: str, *, tty: bool
) -> None:
    """The palette, most used color first, with each color's share of the pixels."""
    total = max(sum(counts), 1)
    values = ["(" + ", ".join(f"{v:g}" for v in color) + ")" for color in palette]
    width = max(len(v) for v in values)
    print("palette (share of pixels):")
    for k in sorted(range(len(counts)), key=lambda k: (-counts[k], k)):
        share = counts[k] / total
        swatch = _swatch(palette[k], dtype) if tty else ""
        code = _hex(palette[k], dtype)
        code = f"{code}  " if code else ""
        bar = "#" * round(40 * share)
        print(f"  {k:>5}  {swatch}{code}{values[k]:<{width}}  {100 * share:5.1f}%  {bar}")


def _colors(s: Any) -> str:
    """K, and why it is less than asked for where the image had fewer colors."""
    asked = s.extra.get("n_colors_requested")
    if not s.extra.get("kept_exactly") or asked is None:
        return str(s.n_colors)
    return f"{s.n_colors} (the image's own colors, exactly; {asked} asked for, see --strict)"


def _target(t: dict[str, Any]) -> str:
    """The quality target's line: the goals, whether the K chosen reaches them, and the
    quality it reaches as searched."""
    on = "histogram" if t["searched_on"] == "histogram" else "sample of the pixels"
    reached = f"PSNR {float(t['psnr']):.2f} dB"
    if "ciede2000" in t:
        reached += f", mean CIEDE2000 {float(t['ciede2000']):.2f}"
    found = f"K = {t['n_colors']} of at most {t['n_colors_max']}, {reached} on the {on}"
    goals = [f"PSNR {t['target_psnr']:g} dB"] if t.get("target_psnr") is not None else []
    if t.get("target_deltae") is not None:
        goals.append(f"mean CIEDE2000 {t['target_deltae']:g}")
    if not goals:
        return found
    state = "reached" if t["reached"] else "NOT reached (the most colors allowed used)"
    return f"{' and '.join(goals)} {state}: {found}"


def _rows(s: Any, cluster: Any) -> list[tuple[str, Any]]:
    images = s.extra.get("images") or []
    if len(images) > 1:
        picture = f"{len(images)} images, {s.dtype}, one palette"
    else:
        picture = f"{' x '.join(map(str, s.shape))} {s.dtype}"
    rows: list[tuple[str, Any]] = [
        ("output", s.store),
        ("image", picture),
        ("colors (K)", _colors(s)),
        ("method", s.method),
        ("iterations", s.n_iter),
        ("converged", "yes" if s.converged else "no (max_iter reached)"),
        ("compactness", f"{s.compactness:.6g}"),
        ("pixels", f"{s.n_pixels:,}"),
        ("wall time", f"{s.seconds:.2f} s"),
        ("throughput", f"{s.pixels_per_second / 1e6:.1f} Mpixel/s"),
        ("cluster", str(cluster)),
    ]
    if s.extra.get("target"):
        rows.append(("target", _target(s.extra["target"])))
    measured = s.extra.get("quality")
    if measured:
        quality = f"PSNR {measured['psnr']:.2f} dB, mean CIEDE2000 {measured['ciede2000']:.2f}"
        rows.append(("quality", quality))
    if s.extra.get("resumed"):
        resumed = f"yes: the saved palette, {s.extra['chunks_written']} chunks written"
        rows.append(("resumed", resumed))
    if s.preview:
        rows.append(("preview", s.preview))
    return rows


def print_summary(s: Any, cluster: Any) -> None:
    """A :class:`daskquant.Summary` as a table, then its palette."""
    rows = _rows(s, cluster)
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print_palette(s.palette, s.counts, s.dtype, tty=sys.stdout.isatty())


# -- info ---------------------------------------------------------------------------------


def _print_input(meta: dict[str, Any]) -> None:
    source: dict[str, Any] = meta.get("input") or {}
    images: list[dict[str, Any]] = meta.get("images") or []
    if len(images) > 1 or not source.get("shape"):
        print(f"input     {len(images)} images, {source.get('dtype', '')}, one palette")
        for image in images:
            shape = " x ".join(map(str, image.get("shape") or []))
            print(f"  {image.get('name', '?'):<16} {shape:<16} from {image.get('source', '?')}")
    elif source:
        shape = " x ".join(map(str, source["shape"]))
        print(f"input     {source.get('source', '?')}: {shape} {source.get('dtype', '')}")


def _print_fit(meta: dict[str, Any]) -> None:
    fit: dict[str, Any] | None = meta.get("fit")
    if fit:
        state = "converged" if fit.get("converged") else "max_iter reached"
        print(
            f"fit       K={meta.get('n_colors')}, {fit.get('method')} path, init "
            f"{fit.get('init')}, seed {fit.get('seed')}, {fit.get('n_iter')} iterations "
            f"({state}), compactness {fit.get('compactness', float('nan')):.6g}"
        )
    elif "n_colors" in meta:
        print(f"palette   K={meta['n_colors']}, given (no fit)")


def print_info(
    store: str,
    meta: dict[str, Any],
    arrays: dict[str, dict[str, Any]],
    *,
    complete: bool,
    chunks: tuple[int, int],
) -> None:
    """What ``info`` prints about a store (its palette is printed by the caller)."""
    done, total = chunks
    print(f"store     {store}")
    state = (
        "yes"
        if complete
        else "NO (incomplete: its job was interrupted or failed; "
        f"{done} of {total} chunks written; finish it with quantize --resume)"
    )
    print(f"complete  {state}")
    _print_input(meta)
    _print_fit(meta)
    print("arrays:")
    for name, a in sorted(arrays.items()):
        shape = " x ".join(map(str, a["shape"]))
        chunk_shape = " x ".join(map(str, a["chunks"]))
        print(f"  {name:<16} {shape:<16} {a['dtype']:<8} chunks {chunk_shape}")


def _size(n: int) -> str:
    """Bytes with a binary unit: ``1.5 GiB``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def print_plan(plan: dict[str, Any]) -> None:
    """A job's plan (see ``daskquant._api._plan.JobPlan``), a line per fact."""
    for item in plan["inputs"]:
        how = "decoded whole in the client" if item["decoded whole"] else "read lazily"
        shape = " x ".join(str(s) for s in item["shape"])
        chunk = " x ".join(str(s) for s in item["chunk"])
        print(f"input {item['source']}: {shape} {item['dtype']} ({how})")
        print(f"  chunks: {item['chunks']:,} of at most {chunk}")
    print(f"pixels: {plan['pixels']:,} ({plan['channels']} channels, {plan['dtype']})")
    print(f"chunks: {plan['chunks']:,}")
    attempts = f", {plan['attempts']} attempts" if plan["attempts"] else ""
    print(f"fit: {plan['fit']}{attempts}")
    print("tasks:")
    for phase, n in plan["tasks"].items():
        print(f"  {phase:<14} {n:,}")
    print(f"read: {_size(plan['bytes_read'])} (at most)")
    print(f"written: {_size(plan['bytes_written'])} (before compression)")
    if plan["runs"] == "threads":
        print(
            "runs: in the command's own process, on dask's threaded scheduler (a small "
            "job), unless --scheduler or --workers is given"
        )
    else:
        print("runs: on a Dask cluster (a local one unless --scheduler is given)")
    print(f"peak memory per worker: {_size(plan['worker_peak'])}")
    print(f"peak memory in the client: {_size(plan['client_peak'])}")
