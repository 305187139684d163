"""``crashlab runs``: every run under the runs directory, and an index page linking every report."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import Markup

from crashlab.rundir import RunDir
from reports.errors import ReportError
from reports.render.html import environment, static


@dataclass(frozen=True)
class RunEntry:
    run_id: str
    path: Path
    scenario: str
    start: str
    runtime: str
    verdict: str
    crashes: Any
    availability: Any
    report: Path | None


def list_runs(root: Path) -> list[RunEntry]:
    if not root.is_dir():
        raise ReportError(f"{root}: no runs directory (set --runs-dir or CRASHLAB_RUNS_DIR)")
    entries = []
    for path in sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()):
        run = RunDir(path)
        if not run.manifest_path.exists() and not run.journal_path.exists():
            continue
        try:
            manifest = run.read_manifest()
        except (OSError, json.JSONDecodeError):
            manifest = {}
        summary: dict[str, Any] = {}
        summary_path = run.report / "summary.json"
        if summary_path.exists():
            try:
                summary = json.loads(summary_path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                summary = {}
        html = run.report / "index.html"
        entries.append(
            RunEntry(
                run_id=run.run_id,
                path=path,
                scenario=str(summary.get("scenario") or manifest.get("scenario") or ""),
                start=str(manifest.get("start") or manifest.get("started_at") or ""),
                runtime=str(manifest.get("runtime") or ""),
                verdict=str(summary.get("verdict") or ("no report" if not html.exists() else "")),
                crashes=summary.get("crashes"),
                availability=summary.get("availability_server"),
                report=html if html.exists() else None,
            )
        )
    return entries


def write_index(root: Path, entries: list[RunEntry]) -> Path:
    out = root / "index.html"
    html = (
        environment()
        .get_template("index.html.j2")
        .render(entries=entries, root=root, css=Markup(static("report.css")))
    )
    try:
        out.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"{out}: cannot write the index ({exc.strerror or exc})") from exc
    return out
