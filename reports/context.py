"""What a report is about: the run directory, its manifest, its scenario, its window and SLO."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from crashlab.journal import JournalEvent
from crashlab.rundir import RunDir
from crashlab.timeutil import parse_iso
from reports.errors import ReportError
from reports.model import Slo, SourceProblem, Window


@dataclass
class RunContext:
    run: RunDir
    manifest: dict[str, Any]
    scenario: dict[str, Any]
    scenario_text: str
    window: Window
    slo: Slo
    problems: list[SourceProblem] = field(default_factory=list)

    @property
    def stack_path(self) -> Path | None:
        """The run directory of the stack the drill used, when it is another run's (a shared stack):
        its journal has the supervisor's events, its prometheus/, logs/ and traces/ the telemetry."""
        named = self.manifest.get("stack_run_dir")
        if not isinstance(named, str) or not named:
            return None
        path = Path(named)
        if not path.is_dir() or path.resolve() == self.run.path.resolve():
            return None
        return path

    def telemetry_dir(self, name: str) -> Path:
        """``prometheus/data``, ``logs`` or ``traces`` of this run, else of the stack's run."""
        own = self.run.path / name
        stack = self.stack_path
        if stack is not None and not (own.is_dir() and any(own.iterdir())):
            return stack / name
        return own

    @property
    def run_id(self) -> str:
        return str(self.manifest.get("run_id") or self.run.run_id)

    @property
    def scenario_name(self) -> str:
        name = self.scenario.get("name") or self.manifest.get("scenario") or "unknown"
        if isinstance(name, dict):
            name = name.get("name", "unknown")
        return str(name)

    @property
    def title(self) -> str:
        """The scenario's ``title``, else ``report.title``, else its name."""
        report = self.scenario.get("report")
        hint = report.get("title") if isinstance(report, dict) else None
        return str(self.scenario.get("title") or hint or self.manifest.get("title") or self.scenario_name)

    @property
    def description(self) -> str:
        value = self.scenario.get("description")
        return str(value).strip() if value else ""

    def _texts(self, key: str) -> list[str]:
        value = self.scenario.get(key)
        if isinstance(value, str):
            return [value]
        return [str(v) for v in value if v is not None] if isinstance(value, list) else []

    @property
    def learning_goals(self) -> list[str]:
        return self._texts("learning_goals")

    @property
    def expected_signals(self) -> list[str]:
        return self._texts("expected_signals")

    @property
    def debrief(self) -> list[str]:
        return self._texts("debrief")

    @property
    def blind(self) -> bool:
        """``blind: true``: the page names the faults only in its last section."""
        return self.scenario.get("blind") is True

    @property
    def runtime(self) -> str:
        return str(self.manifest.get("runtime") or "local")

    def url(self, part: str) -> str | None:
        urls = self.manifest.get("urls") or {}
        value = urls.get(part) if isinstance(urls, dict) else None
        return str(value).rstrip("/") if value else None


def _as_time(value: Any) -> datetime | None:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    if isinstance(value, str) and value:
        try:
            return parse_iso(value)
        except ValueError:
            return None
    return None


def _first(manifest: dict[str, Any], *keys: str) -> datetime | None:
    for key in keys:
        ts = _as_time(manifest.get(key))
        if ts is not None:
            return ts
    return None


def find_window(manifest: dict[str, Any], events: list[JournalEvent]) -> Window | None:
    """The drill window: manifest ``window`` {start, end} (the runner's load-to-teardown window), else
    manifest start/end (``started_at``/``ended_at``), else the journal's run started/ended, else its span."""
    raw = manifest.get("window")
    window: dict[str, Any] = raw if isinstance(raw, dict) else {}
    start = _first(window, "start") or _first(manifest, "start", "started_at", "start_time")
    end = _first(window, "end") or _first(manifest, "end", "ended_at", "end_time")
    runs = [e for e in events if e.type == "run"]
    if start is None:
        starts = [e.ts for e in runs if e.event == "started"]
        start = starts[0] if starts else (events[0].ts if events else None)
    if end is None:
        ends = [e.ts for e in runs if e.event in ("ended", "aborted")]
        end = ends[-1] if ends else (events[-1].ts if events else None)
    if start is None or end is None or end <= start:
        return None
    return Window(start, end)


def parse_slo(scenario: dict[str, Any]) -> Slo:
    """``report.slo``: ``availability`` (0..1 or percent), ``latency_ms``/``latency_threshold_s``,
    ``latency_target``."""
    report = scenario.get("report") or {}
    raw = (report.get("slo") if isinstance(report, dict) else None) or scenario.get("slo") or {}
    if not isinstance(raw, dict):
        return Slo()
    default = Slo()
    availability = float(raw.get("availability") or raw.get("availability_target") or default.availability)
    if availability > 1:
        availability /= 100.0
    if "latency_ms" in raw or "latency_threshold_ms" in raw:
        threshold = float(raw.get("latency_ms") or raw.get("latency_threshold_ms") or 500) / 1000.0
    else:
        threshold = float(
            raw.get("latency_threshold_s") or raw.get("latency_s") or default.latency_threshold_s
        )
    target = float(raw.get("latency_target") or default.latency_target)
    if target > 1:
        target /= 100.0
    return Slo(availability=availability, latency_threshold_s=threshold, latency_target=target)


def find_scenario(path: Path, manifest: dict[str, Any]) -> Path:
    """``scenario.yaml`` in the run, else the manifest's ``scenario_file`` (as given, or relative to the
    directory that holds the runs directory)."""
    copied = path / "scenario.yaml"
    if copied.exists():
        return copied
    named = manifest.get("scenario_file")
    if isinstance(named, str) and named:
        for candidate in (Path(named), path.parent.parent / named, path.parent / named):
            if candidate.is_file():
                return candidate
    return copied


def load_context(path: Path, events: list[JournalEvent]) -> RunContext:
    if not path.is_dir():
        raise ReportError(f"{path}: not a run directory (expected runs/<run-id>/ with manifest.json)")
    run = RunDir(path)
    problems: list[SourceProblem] = []
    try:
        manifest = run.read_manifest()
    except (OSError, json.JSONDecodeError) as exc:
        problems.append(SourceProblem("manifest", f"{run.manifest_path}: unreadable ({exc})"))
        manifest = {}
    if not run.manifest_path.exists():
        problems.append(SourceProblem("manifest", f"{run.manifest_path}: missing"))
    scenario: dict[str, Any] = {}
    scenario_text = ""
    scenario_path = find_scenario(path, manifest)
    if scenario_path.exists():
        scenario_text = scenario_path.read_text(encoding="utf-8", errors="replace")
        try:
            loaded = yaml.safe_load(scenario_text)
        except yaml.YAMLError as exc:
            problems.append(
                SourceProblem("scenario", f"{scenario_path}: not valid YAML ({exc})".splitlines()[0])
            )
            loaded = None
        if isinstance(loaded, dict):
            scenario = loaded
    else:
        problems.append(
            SourceProblem("scenario", f"{scenario_path}: missing; default SLO used, no expectations")
        )
    window = find_window(manifest, events)
    if window is None:
        raise ReportError(
            f"{path}: no drill window: manifest.json has no start/end and journal.jsonl no run events"
        )
    return RunContext(
        run=run,
        manifest=manifest,
        scenario=scenario,
        scenario_text=scenario_text,
        window=window,
        slo=parse_slo(scenario),
        problems=problems,
    )
