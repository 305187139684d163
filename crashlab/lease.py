"""Leases: who owns a run, a stack, and so the faults injected into it.

A lease is an exclusive ``flock`` on a small file that names its holder (:class:`Owner`: PID, the
process's start time, run id, what it is). The kernel drops the lock when the holder exits, however
it exits (SIGKILL included), so a lease never outlives its owner and needs no expiry of its own; the
PID and start time say who it was, and make a reused PID impossible to mistake for the owner.

- A drill holds ``runs/<id>/owner.lock`` (:data:`RUN_LOCK`) for its whole life: leftover cleanup
  (``crashlab chaos revert --all``, the start of every drill) reverts only faults of runs whose owner
  is gone, and a run whose owner is gone without ``run ended`` is ``incomplete``.
- A drill holds its runtime's stack lease (``.crashlab/<runtime>.lease``) while it uses the stack: a
  second drill on the same stack is refused, naming the holder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from crashlab.errors import CrashlabError

#: the lease a drill holds on its own run directory
RUN_LOCK = "owner.lock"


@dataclass(frozen=True)
class Owner:
    pid: int
    #: the process's start time (psutil ``create_time``), so a reused PID is not the owner
    started: float
    run_id: str
    #: what holds it, for messages: ``drill five-crash``
    what: str

    @classmethod
    def me(cls, run_id: str, what: str) -> Owner:
        return cls(os.getpid(), psutil.Process().create_time(), run_id, what)

    @classmethod
    def from_json(cls, data: Any) -> Owner | None:
        if not isinstance(data, dict):
            return None
        try:
            return cls(int(data["pid"]), float(data["started"]), str(data["run_id"]), str(data["what"]))
        except (KeyError, TypeError, ValueError):
            return None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def alive(self) -> bool:
        """The owning process still runs (the same process: same PID and start time)."""
        try:
            proc = psutil.Process(self.pid)
            return abs(proc.create_time() - self.started) < 0.01 and proc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def __str__(self) -> str:
        return f"{self.what} (pid {self.pid}, run {self.run_id})"


class LeaseBusy(CrashlabError):
    """Someone else holds the lease; ``holder`` says who (None when the file names nobody readable)."""

    def __init__(self, message: str, holder: Owner | None) -> None:
        super().__init__(message)
        self.holder = holder


def _read_owner(fd: int) -> Owner | None:
    try:
        raw = os.pread(fd, 4096, 0)
        return Owner.from_json(json.loads(raw or b"null"))
    except (OSError, ValueError):
        return None


class Lease:
    """An exclusive lease on ``path``, held until :meth:`release` or the holder's exit."""

    def __init__(self, path: Path, owner: Owner, fd: int) -> None:
        self.path = path
        self.owner = owner
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, path: Path, owner: Owner, what: str = "") -> Lease:
        """Take the lease for ``owner``; :class:`LeaseBusy` naming the holder when it is taken."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_owner(fd)
            os.close(fd)
            who = str(holder) if holder is not None else "another process"
            raise LeaseBusy(f"{what or path} is in use by {who}", holder) from None
        except OSError:
            os.close(fd)
            raise
        body = json.dumps(owner.to_json()).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, body, 0)
        return cls(path, owner, fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Give the lease up (the file stays: removing it would race with the next holder)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the last descriptor drops the flock

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def holder(path: Path) -> Owner | None:
    """Who holds the lease on ``path`` now; None when nobody does (whatever the file still names)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            found = _read_owner(fd)
            return found or Owner(0, 0.0, "?", "an unknown process")
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def run_owner(run_path: Path) -> Owner | None:
    """The live owner of a run directory: the holder of its ``owner.lock``, else (a run written
    before leases, or on a filesystem without locks) the manifest's ``owner`` if that process still
    runs; None when the run has no live owner."""
    lock = run_path / RUN_LOCK
    if lock.exists():
        return holder(lock)
    try:
        manifest = json.loads((run_path / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    owner = Owner.from_json(manifest.get("owner")) if isinstance(manifest, dict) else None
    return owner if owner is not None and owner.alive() else None
