"""One job at a time per output: the claim a job holds on what it writes.

Before a job checks or writes anything, it claims its output by creating a small claim
object beside it, ``<output>.claim``, in one step that fails if the object exists: an
exclusive create on a local disk, a conditional put (``If-None-Match: *``) on S3 and
``memory://``. Of two jobs started at the same moment on one output, exactly one creates the
claim; the other is refused with who holds it, before it has touched the output. Where a
filesystem has no exclusive create (see :meth:`Location.create_new`), the claim is a check
then a put, and the job says so in the log.

The claim names its job (host, process id, a job id) and when it was taken and last renewed.
The job renews it every :data:`RENEW_SECONDS` while it runs, and removes it when it ends,
however it ends. A job that died without removing it (killed, or its machine lost) leaves a
stale claim: stale when its process is gone (a claim from this host) or when it has not been
renewed for :data:`STALE_SECONDS` (from another host); the next job takes a stale claim
over, so a killed job can be resumed.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime

from daskquant._errors import InputError, StoreError
from daskquant._io._storage import Location

__all__ = ["RENEW_SECONDS", "STALE_SECONDS", "Claim", "check_unclaimed", "claim_of", "claimed"]

log = logging.getLogger("daskquant")

RENEW_SECONDS = 30.0  # how often a running job renews its claim
STALE_SECONDS = 300.0  # a claim from another host not renewed for this long is stale


@dataclass(frozen=True)
class Claim:
    """Who holds an output, since when, and when the claim was last renewed (seconds since
    the epoch, by the holder's clock)."""

    host: str
    pid: int
    job: str
    started: float
    renewed: float

    @classmethod
    def mine(cls) -> Claim:
        now = time.time()
        return cls(socket.gethostname(), os.getpid(), uuid.uuid4().hex, now, now)

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def parse(cls, data: bytes) -> Claim | None:
        """The claim ``data`` holds; None if it is not one (half-written, or foreign)."""
        try:
            fields = json.loads(data)
            return cls(
                str(fields["host"]),
                int(fields["pid"]),
                str(fields["job"]),
                float(fields["started"]),
                float(fields["renewed"]),
            )
        except (ValueError, KeyError, TypeError):
            return None

    def is_live(self, now: float | None = None) -> bool:
        """Whether the job that holds this claim may still be running."""
        if self.host == socket.gethostname():
            return _process_exists(self.pid)
        return (time.time() if now is None else now) - self.renewed < STALE_SECONDS

    def __str__(self) -> str:
        since = datetime.fromtimestamp(self.started, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"process {self.pid} on {self.host}, since {since}"


def claim_of(out: Location) -> Location:
    """Where the claim on ``out`` lives: beside it, so the store itself can be replaced."""
    return out.sibling(f"{out.name}.claim")


@contextmanager
def claimed(*outputs: Location, renew: float = RENEW_SECONDS) -> Iterator[None]:
    """Hold the claim on every one of ``outputs`` while the block runs (renewed in a
    background thread); refuse with StoreError an output another live job holds.

    Raises
    ------
    StoreError
    """
    with ExitStack() as stack:
        for out in outputs:
            where = claim_of(out)
            with _naming(out, where):
                mine = _take(out, where)
            stack.callback(where.remove, ignore_errors=True)
            stack.enter_context(_renewing(where, mine, renew))
        yield


def check_unclaimed(out: Location) -> None:
    """Refuse an output that a live job holds (checked, not claimed: what a command checks
    before it starts a cluster)."""
    with _naming(out, claim_of(out)):
        held = _held(claim_of(out))
    if held is not None and held.is_live():
        raise _taken(out, held)


@contextmanager
def _naming(out: Location, where: Location) -> Iterator[None]:
    """Storage errors about the claim name the output the user gave."""
    try:
        yield
    except InputError as exc:
        raise InputError(str(exc).replace(str(where), str(out), 1)) from exc


def _take(out: Location, where: Location) -> Claim:
    """Create the claim on ``out``, taking over a stale one."""
    mine = Claim.mine()
    for _ in range(3):
        try:
            if not where.create_new(mine.to_bytes()):
                log.warning(
                    "%s: this storage cannot create a file only if it is absent; the claim "
                    "on the output is a check then a write, so two jobs started at the same "
                    "moment may both run",
                    out,
                )
            return mine
        except FileExistsError:
            held = _held(where)
            if held is not None and held.is_live():
                raise _taken(out, held) from None
            if held is not None:
                log.warning("%s: taking over the claim of a job that ended (%s)", out, held)
            where.remove(ignore_errors=True)
    raise StoreError(f"{out}: another job claims it at the same moment; try again")


def _held(where: Location) -> Claim | None:
    """The claim at ``where``, None if there is none; a claim being written (unreadable
    for a moment) is read again before it counts as foreign."""
    for attempt in range(3):
        try:
            held = Claim.parse(where.read_bytes())
        except (FileNotFoundError, IsADirectoryError):
            return None
        if held is not None:
            return held
        time.sleep(0.1 * (attempt + 1))
    return None


def _taken(out: Location, held: Claim) -> StoreError:
    return StoreError(
        f"{out} is being written by another job ({held}); wait for it to end or choose "
        f"another output. If that job is no longer running, remove {claim_of(out)}"
    )


@contextmanager
def _renewing(where: Location, mine: Claim, every: float) -> Iterator[None]:
    """Renew the claim every ``every`` seconds until the block ends."""
    stop = threading.Event()

    def renew() -> None:
        claim = mine
        while not stop.wait(every):
            claim = replace(claim, renewed=time.time())
            try:
                with where.create() as f:
                    f.write(claim.to_bytes())
            except OSError as exc:  # the next renewal tries again
                log.debug("%s: could not renew the claim (%s)", where, exc)

    thread = threading.Thread(target=renew, name="daskquant-claim", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
