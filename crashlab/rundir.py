"""The run directory contract: ``runs/<run-id>/`` holds everything one drill (or stack) produced.

Layout (DESIGN.md)::

    runs/<run-id>/
      manifest.json      scenario, seed, versions, runtime, ports, start/end
      journal.jsonl      one event a line (crashlab.journal)
      locust/            Locust CSV/JSON
      logs/<service>.jsonl
      traces/<service>.jsonl   OTLP JSON lines
      prometheus/        config, rules copy, targets/ (file_sd), data/ (TSDB)
      flags/flags.json   the services' switches (flagd flag definitions; rewritten to flip one)
      report/            index.html, report.md, summary.json
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crashlab.timeutil import utcnow

#: Where runs go unless ``--runs-dir`` or ``CRASHLAB_RUNS_DIR`` says otherwise.
DEFAULT_RUNS_DIR = Path("runs")


def runs_root(explicit: Path | None = None) -> Path:
    if explicit is not None:
        return explicit
    env = os.environ.get("CRASHLAB_RUNS_DIR")
    return Path(env) if env else DEFAULT_RUNS_DIR


def new_run_id(name: str) -> str:
    """``20261129T174001Z-five-crash-3fa2``: sortable by time, readable, unique."""
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in name).strip("-") or "run"
    return f"{stamp}-{safe}-{secrets.token_hex(2)}"


#: a manifest is a few KiB; anything over this is not one
MAX_MANIFEST_BYTES = 16 * 1024 * 1024


class ManifestError(json.JSONDecodeError):
    """manifest.json is not a JSON object; ``str()`` is ``path: why``. A ``JSONDecodeError``, so that every
    reader that already handled a broken manifest handles this one."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(reason, "", 0)
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class RunDir:
    path: Path

    @classmethod
    def create(cls, name: str, root: Path | None = None, run_id: str | None = None) -> RunDir:
        """A new run directory ``<root>/<run_id>`` (default: a new id for ``name``)."""
        base = runs_root(root)
        path = base / (run_id or new_run_id(name))
        run = cls(path)
        for sub in (path, run.locust, run.logs, run.traces, run.prometheus, run.report):
            sub.mkdir(parents=True, exist_ok=True)
        return run

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    @property
    def journal_path(self) -> Path:
        return self.path / "journal.jsonl"

    @property
    def locust(self) -> Path:
        return self.path / "locust"

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    @property
    def traces(self) -> Path:
        return self.path / "traces"

    @property
    def flag_file(self) -> Path:
        """The stack's switches as flagd flag definitions (in a folder of its own: containers mount
        the folder, so an atomic rewrite of the file reaches them)."""
        return self.path / "flags" / "flags.json"

    @property
    def prometheus(self) -> Path:
        return self.path / "prometheus"

    @property
    def report(self) -> Path:
        return self.path / "report"

    def read_manifest(self) -> dict[str, Any]:
        """manifest.json as a mapping (``{}`` when there is none); :class:`ManifestError` when it is not a
        JSON object of at most :data:`MAX_MANIFEST_BYTES`, ``OSError`` when it cannot be read."""
        path = self.manifest_path
        if not path.exists():
            return {}
        if not path.is_file():
            raise ManifestError(path, "not a regular file")
        with path.open("rb") as fh:
            raw = fh.read(MAX_MANIFEST_BYTES + 1)
        if len(raw) > MAX_MANIFEST_BYTES:
            raise ManifestError(path, f"over {MAX_MANIFEST_BYTES} bytes")
        try:
            data = json.loads(raw)
        except RecursionError:
            raise ManifestError(path, "not valid JSON (nested too deeply)") from None
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer too long
            raise ManifestError(path, f"not valid JSON ({str(exc).splitlines()[0][:80]})") from None
        if not isinstance(data, dict):
            raise ManifestError(path, f"not a JSON object (a JSON {type(data).__name__})")
        return data

    def update_manifest(self, **fields: Any) -> dict[str, Any]:
        """Merge ``fields`` into manifest.json (written atomically)."""
        data = self.read_manifest()
        data.update(fields)
        tmp = self.manifest_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=2, default=str, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(self.manifest_path)
        return data
