"""Where the runtimes keep their state files (``stack.local.state``, ``stack.docker.state``) and how
they write them: under ``.crashlab/`` in the current directory or ``$CRASHLAB_STATE_DIR``,
atomically, mode 0600 (they hold the admin token)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel


def os_open_private(path: Path) -> int:
    """Open ``path`` for writing (truncated) with mode 0600, whatever the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    return fd


def state_file(name: str) -> Path:
    """``name`` under ``$CRASHLAB_STATE_DIR``, or under ``.crashlab`` in the current directory."""
    base = os.environ.get("CRASHLAB_STATE_DIR")
    return (Path(base) if base else Path(".crashlab")) / name


def write_private(model: BaseModel, path: Path) -> Path:
    """Atomically (re)write ``path`` with ``model`` as JSON, mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(os_open_private(tmp), "w", encoding="utf-8") as fh:
        fh.write(model.model_dump_json(indent=2))
    tmp.replace(path)
    return path
