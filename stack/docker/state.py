"""The Docker stack's state file: ``.crashlab/docker-stack.json`` (or under ``$CRASHLAB_STATE_DIR``).

It names the compose project, the compose files, the env the project was brought up with, the
ports, URLs, the run directory and the admin token; mode 0600.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from stack.statefile import state_file, write_private

STATE_FILE = "docker-stack.json"


def state_path() -> Path:
    return state_file(STATE_FILE)


class DockerState(BaseModel):
    model_config = ConfigDict(frozen=True)

    runtime: str = "docker"
    project: str
    compose_files: list[str]
    #: the compose services brought up (CI: observer, odds, game, prometheus, alertmanager)
    parts: list[str]
    host_network: bool
    #: the environment compose ran with (ports, images, dirs); ``down`` reuses it
    compose_env: dict[str, str]
    run_path: str
    ports: dict[str, int]
    urls: dict[str, str]
    admin_token: str
    started_at: str


def write_state(state: DockerState, path: Path | None = None) -> Path:
    return write_private(state, path or state_path())


def read_state(path: Path | None = None) -> DockerState | None:
    path = path or state_path()
    if not path.exists():
        return None
    return DockerState.model_validate_json(path.read_text(encoding="utf-8"))


def remove_state(path: Path | None = None) -> None:
    (path or state_path()).unlink(missing_ok=True)
