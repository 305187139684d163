"""What ``crashlab up`` hands the supervisor: one JSON file describing every part to run.

The launcher (:mod:`stack.local.launch`) writes it to ``runs/<id>/supervisor.json`` (mode 0600: it
holds the admin token); the supervisor (:mod:`stack.local.supervisor`) reads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from stack.runtime import RestartPolicyName
from stack.statefile import os_open_private


class RestartSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: RestartPolicyName = "on-failure"
    max_retries: int = 10
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 10.0
    #: a run at least this long resets the backoff and the retry count (like Docker's 10 s)
    reset_after_s: float = 10.0


class PartSpec(BaseModel):
    """One supervised child process."""

    model_config = ConfigDict(frozen=True)

    name: str
    kind: Literal["service", "prometheus", "alertmanager"] = "service"
    argv: list[str]
    env: dict[str, str] = {}
    cwd: str | None = None
    url: str
    health_url: str
    #: stdout and stderr of every run of the process, appended across restarts
    output_path: str
    restart: RestartSpec = RestartSpec()
    memory_limit_bytes: int | None = None


class SupervisorSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    run_id: str
    run_path: str
    host: str = "127.0.0.1"
    port: int
    parts: list[PartSpec]
    #: the stack's admin token: the control endpoints (restart, memory limit) need it
    admin_token: str = ""
    #: the state file the launcher claimed: the supervisor replaces the claim with its state (or exits
    #: when the claim is gone); None: no state file (tests of the supervisor alone)
    state_file: str | None = None
    #: every part's port and URL (the state file records them), and when the start began
    ports: dict[str, int] = {}
    urls: dict[str, str] = {}
    started_at: str = ""
    #: Prometheus base URL whose alerts the supervisor journals (``alert firing|resolved``); None: none
    alerts_url: str | None = None
    #: seconds between SIGTERM and SIGKILL when stopping a child
    stop_grace_s: float = 5.0
    memory_poll_s: float = 0.15
    health_poll_s: float = 0.5

    @property
    def journal_path(self) -> Path:
        return Path(self.run_path) / "journal.jsonl"

    def part(self, name: str) -> PartSpec:
        for part in self.parts:
            if part.name == name:
                return part
        raise KeyError(name)


def write_spec(spec: SupervisorSpec, path: Path) -> None:
    """Write ``spec`` readable by its owner only (it carries the admin token)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os_open_private(path)
    with open(fd, "w", encoding="utf-8") as fh:
        fh.write(spec.model_dump_json(indent=2))


def read_spec(path: Path) -> SupervisorSpec:
    return SupervisorSpec.model_validate_json(path.read_text(encoding="utf-8"))
