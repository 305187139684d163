"""Write a report's three files into ``runs/<id>/report/`` (or another directory)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from reports.build import Report, build_report, summary
from reports.errors import ReportError
from reports.render.html import render_html
from reports.render.markdown import render_markdown


@dataclass(frozen=True)
class Written:
    html: Path
    markdown: Path
    summary: Path
    report: Report


def write_report(report: Report, out_dir: Path) -> Written:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        html = out_dir / "index.html"
        md = out_dir / "report.md"
        js = out_dir / "summary.json"
        html.write_text(render_html(report), encoding="utf-8")
        md.write_text(render_markdown(report), encoding="utf-8")
        js.write_text(json.dumps(summary(report), indent=2, default=str) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"{out_dir}: cannot write the report ({exc.strerror or exc})") from exc
    return Written(html, md, js, report)


def report_run(
    run_path: Path,
    out_dir: Path | None = None,
    *,
    prometheus_url: str | None = None,
    replay: bool | None = None,
    ending: bool = False,
) -> Written:
    """Write the post-mortem of ``run_path``; ``ending=True`` when the drill runner calls it before its
    teardown (while the stack's telemetry still answers; its ``run ended`` is not written yet)."""
    report = build_report(run_path, prometheus_url=prometheus_url, replay=replay, ending=ending)
    return write_report(report, out_dir or run_path / "report")
