"""``quantize``: open, fit (or take a palette), label, write the store, draw the preview."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
from numpy.typing import ArrayLike, NDArray

from daskquant._errors import StoreError
from daskquant._fit import (
    Init,
    Method,
    fit_palette,
    label_image,
    palette_centers,
    to_palette,
)
from daskquant._layout import Layout, as_image
from daskquant._preview import preview_image, write_preview
from daskquant._readers import decoded_in_memory, open_image
from daskquant._sources import persist_in_memory
from daskquant._store import create_store, mark_complete, write_arrays

__all__ = ["Summary", "quantize"]


@dataclass(frozen=True)
class Summary:
    """What a :func:`quantize` run did. ``as_dict()`` is JSON-ready."""

    store: str
    shape: tuple[int, ...]
    dtype: str
    n_colors: int
    n_pixels: int
    n_iter: int
    converged: bool
    compactness: float
    method: str
    seconds: float
    palette: list[list[float]]
    counts: list[int]
    preview: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pixels_per_second(self) -> float:
        return self.n_pixels / self.seconds if self.seconds > 0 else float("inf")

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["pixels_per_second"] = self.pixels_per_second
        return d


def _block_quantize(
    block: NDArray, labels: NDArray, palette: NDArray, *, layout: Layout
) -> NDArray:
    out = block.copy()
    out[..., : layout.channels] = palette[labels[..., 0]]
    return out


def quantize(
    image: ArrayLike | da.Array | str | Path,
    store: str | Path,
    *,
    n_colors: int = 16,
    max_iter: int = 20,
    epsilon: float = 1.0,
    attempts: int | None = None,
    init: Init | ArrayLike = "k-means++",
    seed: int | np.random.Generator | None = None,
    method: Method = "auto",
    chunks: tuple[int, ...] | int | None = None,
    palette: ArrayLike | None = None,
    write_image: bool = False,
    overwrite: bool = False,
    preview: str | Path | None = None,
    on_iteration: Callable[[int, float], None] | None = None,
) -> Summary:
    """Quantize an image to ``n_colors`` colors and write the result to a Zarr store.

    Parameters
    ----------
    image : array, dask array, or path
        (H, W), (H, W, C) or (N, H, W, C); a path to a Zarr array or an image file.
    store : path
        Output Zarr v3 store (see ``daskquant._store`` for its layout).
    palette : (K, C) array, optional
        A fixed palette: skip the fit, map every pixel to its nearest palette color.
    write_image : bool
        Also write the quantized image (the input's shape and dtype, alpha carried over).
    preview : path, optional
        Write a before/after PNG with the palette swatch there.
    Other parameters are those of :func:`fit_palette`.

    Returns
    -------
    Summary
    """
    t0 = time.perf_counter()
    out = Path(store)
    if out.exists() and not overwrite:
        raise StoreError(
            f"{out} already exists; choose another output path or pass overwrite=True "
            "(--overwrite) to replace it"
        )
    arr, layout = as_image(open_image(image), chunks=chunks)
    if decoded_in_memory(image):
        arr = persist_in_memory(arr)
    fit = None
    if palette is None:
        fit = fit_palette(
            arr,
            n_colors,
            max_iter=max_iter,
            epsilon=epsilon,
            attempts=attempts,
            init=init,
            seed=seed,
            method=method,
            on_iteration=on_iteration,
        )
        centers = fit.centers
    else:
        centers = palette_centers(palette, layout)
    labels = label_image(arr, layout, centers, fit.color_labels if fit else None)
    pal = to_palette(centers, arr.dtype) if fit is None else fit.palette
    if fit is None:
        (counts,) = dask.compute(da.bincount(labels.ravel(), minlength=len(centers)))
        n_pixels = int(labels.size)
    else:
        counts, n_pixels = fit.counts, fit.n_pixels
    attrs = _attributes(arr, layout, fit, centers, image)
    large = {"labels": labels}
    if write_image:
        fn = partial(_block_quantize, layout=layout)
        large["image"] = da.map_blocks(
            fn, arr, labels[..., None], dask.delayed(pal, pure=True), dtype=arr.dtype
        )
        if layout.squeeze:
            large["image"] = large["image"][..., 0]
    group = create_store(out, attrs, overwrite=overwrite)
    write_arrays(group, {"palette": pal, "centers": centers, "counts": counts}, large)
    mark_complete(group)
    preview_path = None
    if preview is not None:
        picture = preview_image(arr, labels, pal, counts, channels=layout.channels)
        preview_path = str(write_preview(preview, picture))
    return Summary(
        store=str(out),
        shape=tuple(int(s) for s in arr.shape),
        dtype=str(arr.dtype),
        n_colors=len(centers),
        n_pixels=n_pixels,
        n_iter=fit.n_iter if fit else 0,
        converged=fit.converged if fit else True,
        compactness=fit.compactness if fit else float("nan"),
        method=fit.method if fit else "palette",
        seconds=time.perf_counter() - t0,
        palette=np.asarray(pal, np.float64).tolist(),
        counts=[int(c) for c in counts],
        preview=preview_path,
    )


def _attributes(
    arr: da.Array, layout: Layout, fit: Any, centers: NDArray, source: Any
) -> dict[str, Any]:
    from daskquant import __version__

    attrs: dict[str, Any] = {
        "version": __version__,
        "n_colors": len(centers),
        "input": {
            "source": str(source) if isinstance(source, (str, Path)) else type(source).__name__,
            "shape": list(arr.shape),
            "dtype": str(arr.dtype),
            "chunks": [int(c[0]) for c in arr.chunks],
            "channels": layout.channels,
            "alpha": layout.alpha,
        },
    }
    if fit is None:
        attrs["fit"] = None
        return attrs
    attrs["fit"] = {
        "max_iter": fit.max_iter,
        "epsilon": fit.epsilon,
        "attempts": fit.attempts,
        "init": fit.init,
        "seed": fit.seed,
        "method": fit.method,
        "compactness": fit.compactness,
        "n_iter": fit.n_iter,
        "converged": fit.converged,
        "n_pixels": fit.n_pixels,
        "n_distinct": fit.n_distinct,
    }
    return attrs
