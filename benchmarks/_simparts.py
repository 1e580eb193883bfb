"""Parts of benchmarks/simulate.py that run on the workers (importable there, not __main__).

- ``synthetic_image``: a lazy (H, W, 3) uint8 dask array whose chunks are mosaics of real
  photographs generated inside each chunk's task (deterministic per chunk), so a job can be
  larger than any disk or memory of this machine.
- ``DiscardFileSystem`` (``discard://``): an fsspec memory filesystem that keeps the small
  metadata objects a job writes (``zarr.json``, the claim, the palette) and drops the bytes
  of every chunk of the labels, counting them. Used only by the benchmark; not part of daskquant.
- ``nothing`` / ``combine``: the tasks of the graph-only runs, which do almost nothing.
"""

from __future__ import annotations

from typing import Any, ClassVar

import dask.array as da
import numpy as np
from fsspec.implementations.memory import MemoryFile, MemoryFileSystem

PROTOCOL = "discard"


def _mosaic_block(side: int, block_info: dict[Any, Any] | None = None) -> np.ndarray:
    from daskquant._cli._samples import photo_mosaic

    assert block_info is not None
    (y0, y1), (x0, x1), _ = block_info[None]["array-location"]
    return photo_mosaic(y1 - y0, x1 - x0, seed=side * 1_000_003 + y0 * 7 + x0)


def synthetic_image(height: int, width: int, chunk: int) -> da.Array:
    """(height, width, 3) uint8 photo mosaic, each (chunk, chunk) block made in its task."""
    rows = (chunk,) * (height // chunk) + ((height % chunk,) if height % chunk else ())
    cols = (chunk,) * (width // chunk) + ((width % chunk,) if width % chunk else ())
    return da.map_blocks(
        _mosaic_block,
        max(height, width),
        chunks=(rows, cols, (3,)),
        dtype=np.uint8,
        meta=np.empty((0, 0, 0), np.uint8),
    )


def _is_chunk(path: str) -> bool:
    # The labels' chunks (Zarr v3 keys labels/c/<i>/<j>, labels/<name>/c/...); the small
    # arrays (palette, counts) are kept.
    return "/labels/" in path and "/c/" in path


class _DiscardedFile(MemoryFile):
    def commit(self) -> None:
        DiscardFileSystem.discarded[0] += 1
        DiscardFileSystem.discarded[1] += len(self.getbuffer())


class DiscardFileSystem(MemoryFileSystem):
    """memory:// for metadata, nothing kept for chunks; ``discarded`` = [chunks, bytes]."""

    protocol = PROTOCOL
    store: ClassVar[dict[str, Any]] = {}
    pseudo_dirs: ClassVar[list[str]] = [""]
    discarded: ClassVar[list[int]] = [0, 0]

    @classmethod
    def _strip_protocol(cls, path: Any) -> str:
        text = str(path).removeprefix(f"{PROTOCOL}://")
        return str(super()._strip_protocol(text))

    def pipe_file(self, path: str, value: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
        if _is_chunk(self._strip_protocol(path)):
            DiscardFileSystem.discarded[0] += 1
            DiscardFileSystem.discarded[1] += len(value)
            return
        super().pipe_file(path, value, mode=mode, **kwargs)

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        path = self._strip_protocol(path)
        if "w" in mode and _is_chunk(path):
            return _DiscardedFile(self, path)
        return super()._open(path, mode, **kwargs)


def register() -> None:
    """Make ``discard://`` known to fsspec in this process (client and every worker)."""
    import fsspec

    fsspec.register_implementation(PROTOCOL, DiscardFileSystem, clobber=True)


def discarded() -> tuple[int, int]:
    """Chunks and bytes this process dropped."""
    return DiscardFileSystem.discarded[0], DiscardFileSystem.discarded[1]


def nothing(*args: Any) -> int:
    """A task that does almost nothing (the graph-only runs)."""
    return 0


def combine(*parts: Any) -> int:
    return 0
