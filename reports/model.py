"""Plain data shared by sources, analysis and render."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crashlab.prometheus import Series

__all__ = ["Marker", "Series", "Slo", "SourceProblem", "SourceStatus", "Span", "Window"]


@dataclass(frozen=True)
class SourceProblem:
    """A source that could not be read; the page lists it in the "Missing data" box."""

    name: str
    why: str


@dataclass(frozen=True)
class SourceStatus:
    name: str
    ok: bool
    why: str = ""
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "why": self.why, "detail": self.detail}


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @property
    def start_s(self) -> float:
        return self.start.timestamp()

    @property
    def end_s(self) -> float:
        return self.end.timestamp()

    @property
    def duration_s(self) -> float:
        return max(0.0, self.end_s - self.start_s)


@dataclass(frozen=True)
class Slo:
    """The drill's SLO (``report.slo`` in the scenario)."""

    availability: float = 0.99
    latency_threshold_s: float = 0.5
    latency_target: float = 0.95

    def to_json(self) -> dict[str, float]:
        return {
            "availability": self.availability,
            "latency_threshold_s": self.latency_threshold_s,
            "latency_target": self.latency_target,
        }


@dataclass(frozen=True)
class Marker:
    """A point on the shared time axis: an alert, a crash, a restart."""

    ts: float
    kind: str
    label: str


@dataclass(frozen=True)
class Span:
    """A fault window or an SLO breach on the shared time axis."""

    start: float
    end: float
    label: str
