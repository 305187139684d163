"""What a report is about: the run directory, its manifest, its scenario (the ``Scenario`` model), its
window and SLO.

Paths the manifest names (the stack's run directory) are resolved against the run directory being
reported, never taken as they were recorded: a copied run reads its own data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from chaos.scenario.messages import convert, format_loc
from chaos.scenario.model import Scenario
from chaos.scenario.yaml_lines import YamlSyntaxError, load_yaml
from crashlab.journal import JournalEvent
from crashlab.rundir import RunDir
from crashlab.timeutil import parse_iso
from reports.errors import ReportError
from reports.model import Slo, SourceProblem, Window


@dataclass
class RunContext:
    run: RunDir
    manifest: dict[str, Any]
    #: the drill file as the model reads it; None when missing or invalid (``problems`` says why)
    scenario: Scenario | None
    scenario_text: str
    window: Window
    slo: Slo
    problems: list[SourceProblem] = field(default_factory=list)
    #: the run directory of the stack the drill used, when it is another run's (a shared stack): its
    #: journal has the supervisor's events, its prometheus/, logs/ and traces/ the telemetry
    stack_path: Path | None = None

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
        if self.scenario is not None:
            return self.scenario.name
        name = self.manifest.get("scenario")
        return name if isinstance(name, str) and name else "unknown"

    @property
    def title(self) -> str:
        """The scenario's ``title``, else ``report.title``, else the manifest's, else its name."""
        sc = self.scenario
        hint = (sc.title or sc.report.title) if sc is not None else None
        recorded = self.manifest.get("title")
        return hint or (recorded if isinstance(recorded, str) and recorded else self.scenario_name)

    @property
    def description(self) -> str:
        return self.scenario.description.strip() if self.scenario is not None else ""

    @property
    def learning_goals(self) -> list[str]:
        return list(self.scenario.learning_goals) if self.scenario is not None else []

    @property
    def expected_signals(self) -> list[str]:
        return list(self.scenario.expected_signals) if self.scenario is not None else []

    @property
    def debrief(self) -> list[str]:
        return list(self.scenario.debrief) if self.scenario is not None else []

    @property
    def blind(self) -> bool:
        """``blind: true``: the page names the faults only in its last section."""
        return self.scenario is not None and self.scenario.blind

    @property
    def runtime(self) -> str:
        value = self.manifest.get("runtime")
        return value if isinstance(value, str) and value else "local"

    def url(self, part: str) -> str | None:
        urls = self.manifest.get("urls") or {}
        value = urls.get(part) if isinstance(urls, dict) else None
        return value.rstrip("/") if isinstance(value, str) and value else None


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


def scenario_slo(scenario: Scenario | None) -> Slo:
    """``report.slo`` of the scenario (the defaults without one)."""
    if scenario is None:
        return Slo()
    slo = scenario.report.slo
    return Slo(slo.availability, slo.latency_ms / 1000.0, slo.latency_target)


def read_scenario(path: Path) -> tuple[Scenario | None, str, str | None]:
    """The drill file as the model reads it, its text, and why it could not be read (``file:line:
    field: message``). Only the model's checks apply: a report of an old run does not depend on today's
    alert rules or profile files."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return None, "", f"{path}: unreadable ({exc.strerror or exc})"
    try:
        data, lines = load_yaml(text)
    except YamlSyntaxError as exc:
        return None, text, f"{path}:{exc.line}: not valid YAML: {exc.message}"
    except (ValueError, RecursionError) as exc:  # pragma: no cover - the loader's own limits
        return None, text, f"{path}: not valid YAML: {exc}"
    if not isinstance(data, dict):
        return None, text, f"{path}: not a drill file (a mapping of drill fields)"
    try:
        return Scenario.model_validate(data), text, None
    except ValidationError as exc:
        errors = [convert(err, data) for err in exc.errors(include_url=False)]
        loc, message = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return None, text, f"{path}:{lines.line(loc)}: {format_loc(loc)}: {message}{more}"


def find_scenario(path: Path, manifest: dict[str, Any]) -> Path:
    """``scenario.yaml`` in the run, else the manifest's ``scenario_file`` (the drill file the runner was
    given: as given, or relative to the directory that holds the runs directory)."""
    copied = path / "scenario.yaml"
    if copied.exists():
        return copied
    named = manifest.get("scenario_file")
    if isinstance(named, str) and named:
        for candidate in (Path(named), path.parent.parent / named, path.parent / named):
            if candidate.is_file():
                return candidate
    return copied


def find_stack(path: Path, manifest: dict[str, Any]) -> tuple[Path | None, SourceProblem | None]:
    """The shared stack's run directory, found next to this run by the name the manifest recorded (a
    copied run never reads the original's directory); None when the drill brought its own stack."""
    named = manifest.get("stack_run_dir")
    if not isinstance(named, str) or not named.strip("/. "):
        return None, None
    name = Path(named).name
    recorded = manifest.get("run_id")
    if name in (path.name, recorded):
        return None, None
    candidate = path.parent / name
    if candidate.is_dir() and candidate.resolve() != path.resolve():
        return candidate, None
    return None, SourceProblem(
        "stack run", f"{candidate}: the shared stack's run directory (manifest stack_run_dir) is not here"
    )


def load_context(path: Path, events: list[JournalEvent]) -> RunContext:
    if not path.is_dir():
        raise ReportError(f"{path}: not a run directory (expected runs/<run-id>/ with manifest.json)")
    run = RunDir(path)
    problems: list[SourceProblem] = []
    manifest: dict[str, Any] = {}
    try:
        loaded: Any = run.read_manifest()
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        problems.append(SourceProblem("manifest", f"{run.manifest_path}: unreadable ({exc})"))
    else:
        if isinstance(loaded, dict):
            manifest = loaded
        else:
            why = f"{run.manifest_path}: not a JSON object (got {type(loaded).__name__}); ignored"
            problems.append(SourceProblem("manifest", why))
    if not run.manifest_path.exists():
        problems.append(SourceProblem("manifest", f"{run.manifest_path}: missing"))
    scenario: Scenario | None = None
    scenario_text = ""
    scenario_path = find_scenario(path, manifest)
    if scenario_path.exists():
        scenario, scenario_text, invalid = read_scenario(scenario_path)
        if invalid is not None:
            problems.append(
                SourceProblem("scenario", f"{invalid}; default SLO used, the runner's expectations shown")
            )
    else:
        problems.append(
            SourceProblem("scenario", f"{scenario_path}: missing; default SLO used, no expectations")
        )
    stack_path, stack_problem = find_stack(path, manifest)
    if stack_problem is not None:
        problems.append(stack_problem)
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
        slo=scenario_slo(scenario),
        problems=problems,
        stack_path=stack_path,
    )
