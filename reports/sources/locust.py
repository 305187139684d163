"""Locust's CSV files in ``runs/<id>/locust/``: ``*_stats.csv``, ``*_stats_history.csv``,
``*_failures.csv``."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

from reports.model import SourceProblem

PERCENTILES = ("50%", "95%", "99%")


@dataclass(frozen=True)
class HistoryRow:
    ts: float
    users: int
    rps: float
    fps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    total_requests: int
    total_failures: int


@dataclass(frozen=True)
class FailureRow:
    method: str
    name: str
    error: str
    occurrences: int


@dataclass
class LocustData:
    stats_file: Path
    requests: int
    failures: int
    #: percentile ("50%", "95%", "99%") -> milliseconds, from the Aggregated row
    percentiles_ms: dict[str, float]
    per_endpoint: list[dict[str, str]] = field(default_factory=list)
    history: list[HistoryRow] = field(default_factory=list)
    failure_rows: list[FailureRow] = field(default_factory=list)

    @property
    def availability(self) -> float | None:
        return 1.0 - self.failures / self.requests if self.requests else None


def _num(text: str | None) -> float | None:
    if text is None or text.strip() in ("", "N/A"):
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def load_locust(directory: Path) -> LocustData | SourceProblem:
    stats = sorted(p for p in directory.glob("*_stats.csv")) if directory.is_dir() else []
    if not stats:
        return SourceProblem(
            "locust", f"{directory}: no *_stats.csv (no load was generated, or Locust failed)"
        )
    stats_file = stats[0]
    prefix = stats_file.name[: -len("_stats.csv")]
    try:
        rows = _read_rows(stats_file)
        aggregated = next((r for r in rows if r.get("Name") == "Aggregated"), None)
        if aggregated is None:
            return SourceProblem("locust", f"{stats_file}: no Aggregated row")
        percentiles = {p: v for p in PERCENTILES if (v := _num(aggregated.get(p))) is not None}
        data = LocustData(
            stats_file=stats_file,
            requests=int(_num(aggregated.get("Request Count")) or 0),
            failures=int(_num(aggregated.get("Failure Count")) or 0),
            percentiles_ms=percentiles,
            per_endpoint=[r for r in rows if r.get("Name") != "Aggregated"],
        )
        history_file = directory / f"{prefix}_stats_history.csv"
        if history_file.exists():
            for r in _read_rows(history_file):
                if r.get("Name") != "Aggregated":
                    continue
                data.history.append(
                    HistoryRow(
                        ts=_num(r.get("Timestamp")) or 0.0,
                        users=int(_num(r.get("User Count")) or 0),
                        rps=_num(r.get("Requests/s")) or 0.0,
                        fps=_num(r.get("Failures/s")) or 0.0,
                        p50_ms=_num(r.get("50%")),
                        p95_ms=_num(r.get("95%")),
                        p99_ms=_num(r.get("99%")),
                        total_requests=int(_num(r.get("Total Request Count")) or 0),
                        total_failures=int(_num(r.get("Total Failure Count")) or 0),
                    )
                )
        failures_file = directory / f"{prefix}_failures.csv"
        if failures_file.exists():
            for r in _read_rows(failures_file):
                data.failure_rows.append(
                    FailureRow(
                        method=r.get("Method", ""),
                        name=r.get("Name", ""),
                        error=r.get("Error", ""),
                        occurrences=int(_num(r.get("Occurrences")) or 0),
                    )
                )
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        return SourceProblem("locust", f"{stats_file}: unreadable ({exc})")
    return data
