"""The local stack's state file: which stack is running, so ``status``, ``down`` and the drill runner
can find it. ``.crashlab/stack.json`` under the current directory, or ``$CRASHLAB_STATE_DIR/stack.json``;
mode 0600 (it holds the admin token).

No stack ever runs without a state file naming it. ``up`` first *claims* the file (an exclusive create
of a :class:`PendingState` naming the launcher and the run); the supervisor, as its first act after
detaching, replaces the claim with its :class:`StackState`, and exits at once when the claim is gone
(the launcher gave up). A launcher killed at any point therefore leaves either nothing running or a
stack that ``status`` and ``down`` see. The claim and its replacement happen under an ``flock`` of
``stack.json.lock``, so a launcher giving up and a supervisor starting never cross.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import psutil
from pydantic import BaseModel, ConfigDict, ValidationError

from crashlab.timeutil import iso, utcnow
from stack.local.spec import SupervisorSpec
from stack.runtime import StackError
from stack.statefile import os_open_private, state_file, write_private

STATE_FILE = "stack.json"


def state_path() -> Path:
    return state_file(STATE_FILE)


class StackState(BaseModel):
    model_config = ConfigDict(frozen=True)

    runtime: str = "local"
    supervisor_pid: int
    #: psutil create time of the supervisor, so a reused PID is never mistaken for it
    supervisor_create_time: float
    #: process group of the supervisor and its children (the last resort of ``down``)
    pgid: int
    run_id: str
    run_path: str
    ports: dict[str, int]
    urls: dict[str, str]
    health_urls: dict[str, str]
    admin_token: str
    started_at: str

    def supervisor_alive(self) -> bool:
        return process_alive(self.supervisor_pid, self.supervisor_create_time)


def process_alive(pid: int, create_time: float | None = None) -> bool:
    """True while ``pid`` runs (a zombie counts as gone) and, if given, was created at ``create_time``."""
    try:
        proc = psutil.Process(pid)
        if create_time is not None and abs(proc.create_time() - create_time) > 0.01:
            return False
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class PendingState(BaseModel):
    """A claim on the state file by a launcher whose supervisor has not started yet."""

    model_config = ConfigDict(frozen=True)

    pending: Literal[True] = True
    launcher_pid: int
    launcher_create_time: float
    run_path: str
    started_at: str

    def launcher_alive(self) -> bool:
        return process_alive(self.launcher_pid, self.launcher_create_time)


@contextlib.contextmanager
def state_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` of ``<state file>.lock`` for reading and replacing the state file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def read_any(path: Path | None = None) -> StackState | PendingState | None:
    """The state file's record: a running (or dead) stack's state, a launcher's claim, or None."""
    path = path or state_path()
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    for model in (StackState, PendingState):
        with contextlib.suppress(ValidationError, ValueError):
            return model.model_validate_json(text)
    return None


def claim_state(path: Path, run_path: str) -> PendingState:
    """Claim the state file for a stack about to start in ``run_path``; a :class:`StackError` when a
    live stack (or a live launcher) holds it. A record whose supervisor or launcher is gone is stale and
    replaced."""
    me = psutil.Process()
    claim = PendingState(
        launcher_pid=me.pid,
        launcher_create_time=me.create_time(),
        run_path=run_path,
        started_at=iso(utcnow()),
    )
    with state_lock(path):
        existing = read_any(path)
        if isinstance(existing, StackState) and existing.supervisor_alive():
            raise StackError(
                f"stack: a local stack is already running (supervisor pid {existing.supervisor_pid}, "
                f"run {existing.run_id}, state {path}); run `crashlab down` first"
            )
        if isinstance(existing, PendingState) and existing.launcher_alive():
            raise StackError(
                f"stack: a local stack is being started by pid {existing.launcher_pid} (run "
                f"{Path(existing.run_path).name}, state {path}); wait for it, or stop that process"
            )
        path.unlink(missing_ok=True)
        with open(os_open_private(path), "w", encoding="utf-8") as fh:
            fh.write(claim.model_dump_json(indent=2))
    return claim


def take_over_claim(state: StackState, path: Path) -> bool:
    """The supervisor's first act: replace its launcher's claim with its state. False (write nothing)
    when the claim is gone or names another run: the launcher gave up, so the supervisor must not run."""
    with state_lock(path):
        existing = read_any(path)
        if not isinstance(existing, PendingState) or existing.run_path != state.run_path:
            return False
        write_state(state, path)
        return True


def give_up_claim(path: Path, run_path: str) -> StackState | None:
    """The launcher failed or was interrupted: remove its claim, so a supervisor that has not taken it
    over yet exits at once. Returns the state its supervisor wrote, if it got that far (the caller
    stops that stack and then removes the file)."""
    with state_lock(path):
        existing = read_any(path)
        if isinstance(existing, PendingState) and existing.run_path == run_path:
            path.unlink(missing_ok=True)
            return None
        return existing if isinstance(existing, StackState) and existing.run_path == run_path else None


def state_of(spec: SupervisorSpec, pid: int, create_time: float, pgid: int) -> StackState:
    """What the state file records about a supervisor running ``spec``."""
    supervisor = f"http://{spec.host}:{spec.port}"
    return StackState(
        supervisor_pid=pid,
        supervisor_create_time=create_time,
        pgid=pgid,
        run_id=spec.run_id,
        run_path=spec.run_path,
        ports=spec.ports,
        urls=spec.urls | {"supervisor": supervisor},
        health_urls={p.name: p.health_url for p in spec.parts} | {"supervisor": supervisor + "/healthz"},
        admin_token=spec.admin_token,
        started_at=spec.started_at or iso(utcnow()),
    )


def write_state(state: StackState, path: Path | None = None) -> Path:
    return write_private(state, path or state_path())


def read_state(path: Path | None = None) -> StackState | None:
    """The state of the stack the file names (alive or not); None without one (no file, or a claim)."""
    record = read_any(path)
    return record if isinstance(record, StackState) else None


def remove_state(path: Path | None = None) -> None:
    (path or state_path()).unlink(missing_ok=True)
