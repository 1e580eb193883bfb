"""Where data lives: one place that turns a path into a location and answers for it.

Every other module asks a :class:`Location` (made by :func:`location`, as zarr's
``make_store`` makes a store from a ``StoreLike``) whether something exists, is a Zarr
node, which version of a file it is, what a folder or a Zarr store holds, and for its bytes
or a Zarr store; a location also creates, replaces and removes files and stores. None of
the others calls ``Path.exists``, ``stat``, ``shutil.rmtree`` or ``os.access`` itself.
Local paths only for now: a location for URLs (``s3://``, ...) is a second kind of
location, chosen in :func:`location` by the URL's scheme (``_KINDS``), with the same
methods; no caller changes.

Zarr stores answer for their keys through :func:`store_keys` and :func:`delete_keys`, which
work on any Zarr store, so the chunks a resumed job still has to write are found by listing
the store, not by looking for chunk files on disk.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Union

from zarr.abc.store import Store
from zarr.core.sync import sync
from zarr.storage import LocalStore

__all__ = [
    "Location",
    "StoreLike",
    "Version",
    "delete_keys",
    "location",
    "matches",
    "store_keys",
]

# The files whose presence makes a folder a Zarr v3 or v2 node (array or group).
_ZARR_MARKERS = ("zarr.json", ".zarray", ".zgroup")


@dataclass(frozen=True)
class Version:
    """Which version of a file: its size, modification and change times (nanoseconds).

    The change time too: a file rewritten in place with its size and modification time put
    back is another version.
    """

    size: int
    mtime_ns: int
    ctime_ns: int


@dataclass(frozen=True)
class Location:
    """A file or folder on the local file system.

    ``str()`` gives the path as :class:`pathlib.Path` spells it, so messages that name a
    location read as they always did.
    """

    path: Path

    def __str__(self) -> str:
        return str(self.path)

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def __truediv__(self, name: str) -> Location:
        return Location(self.path / name)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def suffix(self) -> str:
        """The suffix as written (``.TIF``), or ``""``; compare ``suffix.lower()``."""
        return self.path.suffix

    @property
    def parent(self) -> Location:
        return Location(self.path.parent)

    def local(self) -> Path:
        """The absolute path, for libraries that read local files only (tifffile, OpenCV):
        tasks on workers whose working folder is another one open the same file."""
        return self.path.absolute()

    def resolved(self) -> str:
        """The absolute path, links resolved: the same text for every way of naming it."""
        return os.fspath(self.path.resolve())

    def exists(self) -> bool:
        return self.path.exists()

    def is_file(self) -> bool:
        return self.path.is_file()

    def is_dir(self) -> bool:
        return self.path.is_dir()

    def is_zarr(self) -> bool:
        """Whether this is a Zarr v2 or v3 array or group."""
        return any((self.path / name).is_file() for name in _ZARR_MARKERS)

    def version(self) -> Version:
        st = self.path.stat()
        return Version(st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def tree_version(self) -> tuple[int, int, int]:
        """A folder's file count, total size and latest modification time (ns), over every
        file below it: a rewritten chunk of a Zarr store changes it."""
        files = size = latest = 0
        for root, _, names in os.walk(self.path):
            for name in names:
                st = os.stat(os.path.join(root, name))
                files, size, latest = files + 1, size + st.st_size, max(latest, st.st_mtime_ns)
        return files, size, latest

    def children(self) -> list[Location]:
        """What a folder holds, in the file system's order."""
        return [Location(p) for p in self.path.iterdir()]

    def open(self) -> BinaryIO:
        """The file's bytes, for reading."""
        return self.path.open("rb")

    def read_bytes(self) -> bytes:
        return self.path.read_bytes()

    def read_text(self, encoding: str) -> str:
        """The file's text, newlines as ``\\n`` (universal newlines)."""
        return self.path.read_text(encoding=encoding)

    def create(self) -> BinaryIO:
        """A new file (an existing one is emptied), for writing its bytes."""
        return self.path.open("wb")

    def remove(self, *, ignore_errors: bool = False) -> None:
        """Delete a whole store (a folder and everything in it). With ``ignore_errors``,
        what cannot be deleted (or is not there) is left without an error: clearing up
        after a failure must not hide the failure."""
        shutil.rmtree(self.path, ignore_errors=ignore_errors)

    def writable_folder(self) -> tuple[Location, bool, bool]:
        """The nearest folder above this location that exists, whether it is a folder, and
        whether this process may create entries in it: what creating this location needs."""
        parent = self.path.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        is_dir = parent.is_dir()
        return Location(parent), is_dir, is_dir and os.access(parent, os.W_OK | os.X_OK)

    def make_parents(self) -> None:
        """Create the folders above this location that are missing."""
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def sibling(self, name: str) -> Location:
        """Another location in the same folder, e.g. a temporary file to rename into place."""
        return Location(self.path.with_name(name))

    def replace(self, target: Location) -> None:
        """Move this file onto ``target`` in one step (a rename): readers see the old file
        or the new one, never half of it."""
        os.replace(self.path, target.path)

    def unlink(self) -> None:
        """Delete this file if it exists."""
        self.path.unlink(missing_ok=True)

    def zarr_store(self, *, read_only: bool = False) -> Store:
        """A Zarr store of this location, to pass to ``zarr.open_group``/``zarr.open``."""
        # Absolute, as local(): the store travels to workers with other working folders.
        return LocalStore(self.path.absolute(), read_only=read_only)


StoreLike = Union[str, "os.PathLike[str]", Location]


def _local(text: str) -> Location:
    return Location(Path(text))


# How each kind of address becomes a location; URLs get their own entries (by scheme).
_KINDS: dict[str, Callable[[str], Location]] = {"file": _local}
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]+)://")


def _scheme(text: str) -> str:
    m = _SCHEME.match(text)
    return m.group(1).lower() if m and m.group(1).lower() in _KINDS else "file"


def location(where: StoreLike) -> Location:
    """The location of a path (str or PathLike) or of a location (itself).

    Examples
    --------
    >>> str(location("images//scan.tif")), location("images/scan.TIF").suffix
    ('images/scan.tif', '.TIF')
    """
    if isinstance(where, Location):
        return where
    text = os.fspath(where)
    return _KINDS[_scheme(text)](text)


def matches(pattern: str) -> list[Location]:
    """The locations a glob pattern (``**`` allowed) matches, in no particular order."""
    return [_local(m) for m in glob.glob(pattern, recursive=True)]


def store_keys(store: Store, prefix: str) -> list[str]:
    """The keys of a Zarr store below ``prefix`` (a node's path, ``"labels/c"``), in no
    particular order; a store that cannot list its keys gives a ``TypeError``."""
    if not store.supports_listing:
        raise TypeError(f"{store} cannot list its keys")

    async def collect() -> list[str]:
        return [key async for key in store.list_prefix(prefix)]

    keys: list[str] = sync(collect())
    return keys


def delete_keys(store: Store, keys: Iterable[str]) -> None:
    """Delete keys of a Zarr store (missing ones are no error)."""

    async def delete_all() -> None:
        for key in keys:
            await store.delete(key)

    sync(delete_all())
