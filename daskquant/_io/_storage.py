"""Where data lives: one place that turns a path into a location and answers for it.

Every other module asks a :class:`Location` (made by :func:`location`, as zarr's
``make_store`` makes a store from a ``StoreLike``) whether something exists, is a Zarr
node, which version of a file it is, what a folder or a Zarr store holds, and for its bytes
or a Zarr store; a location also creates, replaces and removes files and stores. None of
the others calls ``Path.exists``, ``stat``, ``shutil.rmtree`` or ``os.access`` itself.
Two kinds of location answer the same questions, chosen in :func:`location` by the
address's scheme (``_KINDS``): local paths (:class:`LocalLocation`), and URLs of every
filesystem fsspec knows (``s3://``, ``gs://``, ``az://``, ``http(s)://``, ``memory://``,
...; :class:`UrlLocation`). A URL's filesystem reads its credentials where it always does
(``AWS_*`` variables, ``GOOGLE_APPLICATION_CREDENTIALS``, Azure's variables, config files),
plus the ``storage_options`` given to :func:`location` or set for a call with
:func:`storage_context`. Those options travel with the location (to the workers too) but
never into its text: messages, logs and stored requests name the URL only.

Zarr stores answer for their keys through :func:`store_keys` and :func:`delete_keys`, which
work on any Zarr store, so the chunks a resumed job still has to write are found by listing
the store, not by looking for chunk files on disk.
"""

from __future__ import annotations

import contextvars
import glob
import os
import re
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Union, cast

from zarr.abc.store import Store
from zarr.core.sync import sync
from zarr.storage import LocalStore

from daskquant._errors import InputError

__all__ = [
    "LocalLocation",
    "Location",
    "StoreLike",
    "UrlLocation",
    "Version",
    "delete_keys",
    "location",
    "matches",
    "storage_context",
    "store_keys",
]

# The files whose presence makes a folder a Zarr v3 or v2 node (array or group).
_ZARR_MARKERS = ("zarr.json", ".zarray", ".zgroup")


@dataclass(frozen=True)
class Version:
    """Which version of a file: its size, modification and change times (nanoseconds), and
    for an object in storage its tag (ETag, version id or generation; ``""`` for files).

    The change time too: a file rewritten in place with its size and modification time put
    back is another version. An object rewritten with the same size gets a new tag.
    """

    size: int
    mtime_ns: int
    ctime_ns: int
    tag: str = ""


class Location(ABC):
    """A file, folder, object or prefix: where data is, and what can be asked of it.

    ``str()`` gives the path as :class:`pathlib.Path` spells it, or the URL, so messages
    that name a location read as they always did.
    """

    @abstractmethod
    def __fspath__(self) -> str: ...
    @abstractmethod
    def __truediv__(self, name: str) -> Location: ...
    @property
    @abstractmethod
    def name(self) -> str: ...
    @property
    @abstractmethod
    def parent(self) -> Location: ...
    @abstractmethod
    def local(self) -> Path: ...
    @abstractmethod
    def absolute(self) -> Location: ...
    @abstractmethod
    def resolved(self) -> str: ...
    @abstractmethod
    def exists(self) -> bool: ...
    @abstractmethod
    def is_file(self) -> bool: ...
    @abstractmethod
    def is_dir(self) -> bool: ...
    @abstractmethod
    def version(self) -> Version: ...
    @abstractmethod
    def tree_version(self) -> tuple[int, int, int]: ...
    @abstractmethod
    def children(self) -> list[Location]: ...
    @abstractmethod
    def open(self) -> BinaryIO: ...
    @abstractmethod
    def read_bytes(self) -> bytes: ...
    @abstractmethod
    def create(self) -> BinaryIO: ...
    @abstractmethod
    def create_new(self, data: bytes) -> bool: ...
    @abstractmethod
    def remove(self, *, ignore_errors: bool = False) -> None: ...
    @abstractmethod
    def writable_folder(self) -> tuple[Location, bool, bool]: ...
    @abstractmethod
    def writing(self) -> AbstractContextManager[LocalLocation]: ...
    @abstractmethod
    def zarr_store(self, *, read_only: bool = False) -> Store: ...

    def __str__(self) -> str:
        return self.__fspath__()

    @property
    def suffix(self) -> str:
        """The suffix as written (``.TIF``), or ``""``; compare ``suffix.lower()``."""
        return Path(self.name).suffix

    @property
    def stem(self) -> str:
        """The name without its suffix."""
        return Path(self.name).stem

    def is_zarr(self) -> bool:
        """Whether this is a Zarr v2 or v3 array or group."""
        return any((self / name).is_file() for name in _ZARR_MARKERS)

    def read_text(self, encoding: str) -> str:
        """The file's text, newlines as ``\\n`` (universal newlines)."""
        text = self.read_bytes().decode(encoding)
        return text.replace("\r\n", "\n").replace("\r", "\n")

    def sibling(self, name: str) -> Location:
        """Another location in the same folder."""
        return self.parent / name


@dataclass(frozen=True)
class LocalLocation(Location):
    """A file or folder on the local file system."""

    path: Path

    def __str__(self) -> str:
        return str(self.path)

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def __truediv__(self, name: str) -> LocalLocation:
        return LocalLocation(self.path / name)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def parent(self) -> LocalLocation:
        return LocalLocation(self.path.parent)

    def local(self) -> Path:
        """The absolute path, for libraries that read local files only (tifffile, OpenCV):
        tasks on workers whose working folder is another one open the same file."""
        return self.path.absolute()

    def absolute(self) -> LocalLocation:
        return LocalLocation(self.local())

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
        return [LocalLocation(p) for p in self.path.iterdir()]

    def open(self) -> BinaryIO:
        """The file's bytes, for reading."""
        return self.path.open("rb")

    def read_bytes(self) -> bytes:
        return self.path.read_bytes()

    def read_text(self, encoding: str) -> str:
        return self.path.read_text(encoding=encoding)

    def create(self) -> BinaryIO:
        """A new file (an existing one is emptied), for writing its bytes."""
        return self.path.open("wb")

    def create_new(self, data: bytes) -> bool:
        """Create this file holding ``data`` only if it does not exist, in one step (an
        exclusive create): FileExistsError if it does. True: the create was atomic."""
        self.make_parents()
        with self.path.open("xb") as f:
            f.write(data)
        return True

    def remove(self, *, ignore_errors: bool = False) -> None:
        """Delete a whole store (a folder and everything in it), or a file. With
        ``ignore_errors``, what cannot be deleted (or is not there) is left without an
        error: clearing up after a failure must not hide the failure."""
        if self.path.is_file() or self.path.is_symlink():
            try:
                self.path.unlink()
            except OSError:
                if not ignore_errors:
                    raise
            return
        shutil.rmtree(self.path, ignore_errors=ignore_errors)

    def writable_folder(self) -> tuple[Location, bool, bool]:
        """The nearest folder above this location that exists, whether it is a folder, and
        whether this process may create entries in it: what creating this location needs."""
        parent = self.path.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        is_dir = parent.is_dir()
        return LocalLocation(parent), is_dir, is_dir and os.access(parent, os.W_OK | os.X_OK)

    def make_parents(self) -> None:
        """Create the folders above this location that are missing."""
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def replace(self, target: LocalLocation) -> None:
        """Move this file onto ``target`` in one step (a rename): readers see the old file
        or the new one, never half of it."""
        os.replace(self.path, target.path)

    def unlink(self) -> None:
        """Delete this file if it exists."""
        self.path.unlink(missing_ok=True)

    @contextmanager
    def writing(self) -> Iterator[LocalLocation]:
        """A temporary local file to write this file through: renamed into place when the
        block ends, deleted if it fails (readers never see a part of the file)."""
        self.make_parents()
        # The suffix kept: writers such as OpenCV choose the format by it.
        tmp = self.sibling(f".{self.stem}.{os.getpid()}.tmp{self.suffix}")
        assert isinstance(tmp, LocalLocation)
        try:
            yield tmp
            tmp.replace(self)
        finally:
            tmp.unlink()

    def zarr_store(self, *, read_only: bool = False) -> Store:
        """A Zarr store of this location, to pass to ``zarr.open_group``/``zarr.open``."""
        # Absolute, as local(): the store travels to workers with other working folders.
        return LocalStore(self.path.absolute(), read_only=read_only)


# Which package serves each scheme, and the extra of daskquant that installs it.
_EXTRAS = {
    "s3": ("s3fs", "s3"),
    "s3a": ("s3fs", "s3"),
    "gs": ("gcsfs", "gcs"),
    "gcs": ("gcsfs", "gcs"),
    "az": ("adlfs", "azure"),
    "abfs": ("adlfs", "azure"),
    "abfss": ("adlfs", "azure"),
    "http": ("aiohttp", "http"),
    "https": ("aiohttp", "http"),
}
# Bytes read ahead of each read from a URL's file (see UrlLocation.open).
READ_BLOCK = 2**16
# Schemes whose fsspec filesystem creates an object only if it is absent, in one request.
_EXCLUSIVE_CREATE = ("s3", "s3a", "memory")
# Object tags, by the names filesystems give them in ``info()``.
_TAGS = ("VersionId", "version_id", "ETag", "etag", "generation", "md5Hash", "Last-Modified")
_MTIMES = ("LastModified", "last_modified", "mtime", "updated", "created")


@dataclass(frozen=True)
class UrlLocation(Location):
    """An object, or a prefix of objects (a "folder"), on a filesystem fsspec knows.

    ``options`` are the filesystem's storage options (credentials, endpoint): they are
    pickled with the location to the workers, but are not part of its text or repr.
    """

    url: str
    options: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __fspath__(self) -> str:
        return self.url

    def __truediv__(self, name: str) -> UrlLocation:
        return UrlLocation(f"{self.url.rstrip('/')}/{name}", self.options)

    @property
    def scheme(self) -> str:
        return self.url.split("://", 1)[0].lower()

    @property
    def name(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    @property
    def parent(self) -> UrlLocation:
        head, rest = self.url.split("://", 1)
        up = rest.rstrip("/").rsplit("/", 1)[0] if "/" in rest.rstrip("/") else rest
        return UrlLocation(f"{head}://{up}", self.options)

    def fs(self) -> tuple[Any, str]:
        """The fsspec filesystem and the path on it; an InputError naming the package (and
        daskquant's extra) to install when the scheme's filesystem is missing."""
        import fsspec

        try:
            return cast(tuple[Any, str], fsspec.core.url_to_fs(self.url, **self.options))
        except ImportError as exc:
            package, extra = _EXTRAS.get(self.scheme, (self.scheme, ""))
            hint = f"pip install 'daskquant[{extra}]'" if extra else f"install {package}"
            raise InputError(
                f"{self}: reading and writing {self.scheme}:// needs {package}, which is "
                f"not installed; {hint}"
            ) from exc

    def local(self) -> Path:
        raise InputError(f"{self}: this step needs a local file, not a URL")

    def absolute(self) -> UrlLocation:
        return self

    def resolved(self) -> str:
        fs, path = self.fs()
        return str(fs.unstrip_protocol(path))

    @contextmanager
    def _asked(self) -> Iterator[None]:
        """Failures to reach the storage (no such server, refused credentials) as one
        InputError naming the URL; a missing object stays a FileNotFoundError, an
        existing one (to :meth:`create_new`) a FileExistsError."""
        try:
            yield
        except (InputError, FileNotFoundError, FileExistsError):
            raise
        except PermissionError as exc:  # HTTP 403: wrong credentials, or not allowed
            raise InputError(
                f"{self}: the storage refused access ({exc}); check the credentials and "
                "what they are allowed to read and write"
            ) from exc
        except Exception as exc:
            raise InputError(
                f"{self}: the storage did not answer ({type(exc).__name__}: {exc}); check "
                "the URL, the endpoint and the credentials"
            ) from exc

    def _info(self) -> Mapping[str, Any] | None:
        """What the filesystem says of the object (a HEAD request, where one is enough:
        fsspec's ``exists`` and ``isfile`` of an http(s) URL GET the whole file), or None
        if there is none."""
        fs, path = self.fs()
        with self._asked():
            try:
                return cast(Mapping[str, Any], fs.info(path))
            except FileNotFoundError:
                return None

    def exists(self) -> bool:
        return self._info() is not None or self.is_zarr()

    def is_file(self) -> bool:
        info = self._info()
        return info is not None and info.get("type") == "file"

    def is_dir(self) -> bool:
        if self.is_zarr():
            return True
        if self.scheme in ("http", "https"):  # pages are not folders
            return self.url.endswith("/")
        fs, path = self.fs()
        return bool(fs.isdir(path))

    def is_zarr(self) -> bool:
        fs, path = self.fs()
        with self._asked():
            return any(fs.isfile(f"{path.rstrip('/')}/{m}") for m in _ZARR_MARKERS)

    def version(self) -> Version:
        fs, path = self.fs()
        with self._asked():
            return _version(fs.info(path))

    def tree_version(self) -> tuple[int, int, int]:
        """Object count, total size and latest modification (ns) below this prefix."""
        fs, path = self.fs()
        found = fs.find(path, detail=True).values()
        versions = [_version(info) for info in found]
        latest = max((v.mtime_ns for v in versions), default=0)
        return len(versions), sum(v.size for v in versions), latest

    def children(self) -> list[Location]:
        fs, path = self.fs()
        entries = [e for e in fs.ls(path, detail=False) if e.rstrip("/") != path.rstrip("/")]
        return [UrlLocation(str(fs.unstrip_protocol(e)), self.options) for e in entries]

    def open(self) -> BinaryIO:
        """The object's bytes, read by range requests as they are asked for: a window of
        :data:`READ_BLOCK` bytes at a time beyond each read (a TIFF's header entries and
        its consecutive tiles come in few requests), not the filesystem's default block
        (50 MiB for s3fs), which would fetch much of a file to read its header."""
        fs, path = self.fs()
        file = fs.open(path, "rb", block_size=READ_BLOCK, cache_type="readahead")
        return cast(BinaryIO, file)

    def read_bytes(self) -> bytes:
        fs, path = self.fs()
        with self._asked():
            return bytes(fs.cat_file(path))

    def create(self) -> BinaryIO:
        fs, path = self.fs()
        return cast(BinaryIO, fs.open(path, "wb"))

    def create_new(self, data: bytes) -> bool:
        """Create this object holding ``data`` only if it does not exist, FileExistsError
        if it does: a conditional put (``If-None-Match: *``) on S3 and S3-compatible
        servers that support it, the filesystem's exclusive create for ``memory://``.
        Elsewhere a check, then a put, and False: another writer may slip in between."""
        fs, path = self.fs()
        atomic = self.scheme in _EXCLUSIVE_CREATE
        with self._asked():
            if not atomic and fs.exists(path):
                raise FileExistsError(self.url)
            fs.pipe_file(path, data, mode="create" if atomic else "overwrite")
        return atomic

    def remove(self, *, ignore_errors: bool = False) -> None:
        fs, path = self.fs()
        try:
            fs.rm(path, recursive=True)
        except (OSError, FileNotFoundError):
            if not ignore_errors:
                raise

    def writable_folder(self) -> tuple[Location, bool, bool]:
        """The bucket (or container) this location is in, and whether it exists: object
        storage says whether a write is allowed only when one is tried."""
        fs, path = self.fs()
        root = path.split("/", 1)[0]
        found = self.scheme == "memory" or bool(fs.exists(root))
        return UrlLocation(str(fs.unstrip_protocol(root)), self.options), found, found

    @contextmanager
    def writing(self) -> Iterator[LocalLocation]:
        """A temporary local file to write, uploaded whole when the block ends (one put:
        readers see the old object or the new one); nothing is uploaded if it fails."""
        with tempfile.TemporaryDirectory(prefix="daskquant-") as folder:
            tmp = LocalLocation(Path(folder) / self.name)
            yield tmp
            fs, path = self.fs()
            fs.put_file(os.fspath(tmp.path), path)

    def zarr_store(self, *, read_only: bool = False) -> Store:
        from zarr.storage import FsspecStore

        self.fs()  # the clear error for a missing filesystem
        options = dict(self.options)
        return FsspecStore.from_url(self.url, storage_options=options, read_only=read_only)


def _version(info: Mapping[str, Any]) -> Version:
    """An object's version from what its filesystem's ``info()`` says."""
    tag = next((str(info[k]) for k in _TAGS if info.get(k)), "")
    stamp = next((info[k] for k in _MTIMES if info.get(k)), 0)
    if isinstance(stamp, datetime):
        stamp = stamp.timestamp()
    elif isinstance(stamp, str):
        try:
            stamp = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        except ValueError:
            stamp = 0
    return Version(int(info.get("size") or 0), int(float(stamp) * 1e9), 0, tag)


StoreLike = Union[str, "os.PathLike[str]", Location]

# The storage options of the current call (see storage_context()).
_OPTIONS: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "daskquant_storage_options", default=None
)


@contextmanager
def storage_context(options: Mapping[str, Any] | None) -> Iterator[None]:
    """Use ``options`` for every URL made into a location in this block (the API's
    ``storage_options=``); None keeps those already set."""
    if options is None:
        yield
        return
    if not isinstance(options, Mapping):
        raise InputError(
            f"storage_options must be a dict of the filesystem's options, got a "
            f"{type(options).__name__}"
        )
    token = _OPTIONS.set(dict(options))
    try:
        yield
    finally:
        _OPTIONS.reset(token)


def _local(text: str, options: Mapping[str, Any] | None) -> Location:
    return LocalLocation(Path(text))


def _url(text: str, options: Mapping[str, Any] | None) -> Location:
    return UrlLocation(text, dict(options or {}))


def _url_schemes() -> dict[str, Callable[[str, Mapping[str, Any] | None], Location]]:
    """Every scheme fsspec has a filesystem for (installed or not) but local files."""
    from fsspec.registry import known_implementations

    schemes = set(known_implementations) | set(_EXTRAS)
    return {s: _url for s in sorted(schemes - {"file", "local"})}


# How each kind of address becomes a location: local paths, and URLs by scheme.
_KINDS: dict[str, Callable[[str, Mapping[str, Any] | None], Location]] = {
    "file": _local,
    **_url_schemes(),
}
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]+)://")


def _scheme(text: str) -> str:
    m = _SCHEME.match(text)
    return m.group(1).lower() if m and m.group(1).lower() in _KINDS else "file"


def location(where: StoreLike, *, options: Mapping[str, Any] | None = None) -> Location:
    """The location of a path or URL (str or PathLike), or of a location (itself).

    ``options`` are a URL's storage options; by default those set by
    :func:`storage_context` (none outside it).

    Examples
    --------
    >>> str(location("images//scan.tif")), location("images/scan.TIF").suffix
    ('images/scan.tif', '.TIF')
    >>> location("s3://bucket/scans/a.tif").parent
    UrlLocation(url='s3://bucket/scans')
    """
    if isinstance(where, Location):
        return where
    text = os.fspath(where)
    if text.startswith("file://"):
        text = text.removeprefix("file://")
    return _KINDS[_scheme(text)](text, options if options is not None else _OPTIONS.get())


def matches(pattern: str) -> list[Location]:
    """The locations a glob pattern (``**`` allowed) matches, in no particular order."""
    where = location(pattern)
    if isinstance(where, UrlLocation):
        fs, path = where.fs()
        found = fs.glob(path)
        return [UrlLocation(str(fs.unstrip_protocol(p)), where.options) for p in found]
    return [LocalLocation(Path(m)) for m in glob.glob(pattern, recursive=True)]


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
