"""The local stack's state file: which stack is running, so ``status``, ``down`` and the drill runner
can find it. ``.crashlab/stack.json`` under the current directory, or ``$CRASHLAB_STATE_DIR/stack.json``;
mode 0600 (it holds the admin token)."""

from __future__ import annotations

from pathlib import Path

import psutil
from pydantic import BaseModel, ConfigDict

from stack.statefile import state_file, write_private

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


def write_state(state: StackState, path: Path | None = None) -> Path:
    return write_private(state, path or state_path())


def read_state(path: Path | None = None) -> StackState | None:
    path = path or state_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return StackState.model_validate_json(text)
    except ValueError:
        return None


def remove_state(path: Path | None = None) -> None:
    (path or state_path()).unlink(missing_ok=True)
