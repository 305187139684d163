"""A scenario's timeline as an absolute plan: every repeat, group and sequence expanded into a flat list of
steps sorted by start time, each with its offset from the timeline start, duration, fault spec and group
path. ``crashlab drill`` runs it; ``crashlab drill --dry-run`` prints it (:meth:`Plan.lines`).

``speed`` K divides every drill-time duration of the scenario by K (offsets, durations, repeat intervals,
ramps, probe intervals, guardrail ``for``, load duration and stages); wall-clock ones (timeouts, backoff,
think time) and fault magnitudes (ms, rates) stay. Ramps stay fault params: the services ramp themselves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from chaos.scenario.errors import ScenarioError
from chaos.scenario.model import Scenario
from chaos.scenario.timeline import PlanStep, Recurrence, expand, length_s, recurrences, span_s
from crashlab.durations import format_duration

__all__ = ["Plan", "PlanStep", "Recurrence", "expand", "length_s", "plan", "scale", "span_s"]


@dataclass(frozen=True)
class Plan:
    """The expanded timeline of a scenario, already scaled by ``speed``."""

    #: the scenario with every drill-time duration divided by ``speed``
    scenario: Scenario
    steps: tuple[PlanStep, ...]
    speed: float
    #: when the last fault ends (0 without faults)
    timeline_s: float
    #: the drill's length: the longer of the load and the timeline
    total_s: float
    #: the steps that recur until the game day ends or a condition holds (not in ``steps``)
    recurring: tuple[Recurrence, ...] = ()

    def lines(self) -> list[str]:
        """A readable table: offset, duration, label, type, params (for ``--dry-run``)."""
        return [line(step) for step in self.steps]

    def recurring_lines(self) -> list[str]:
        """The first occurrence of each recurring step, and how it recurs."""
        out = []
        for rec in self.recurring:
            until = rec.until if isinstance(rec.until, str) else f"{rec.until.promql} holds"
            out.append(f"{rec.name}: every {format_duration(rec.every_s)} until {until}, first:")
            out.extend(line(step) for step in rec.occurrence(0))
        return out


def line(step: PlanStep) -> str:
    """One step of the plan: offset, duration, label, type, params."""
    params = " ".join(f"{k}={_value(k, v)}" for k, v in step.fault.params().items() if v is not None)
    length = format_duration(step.duration_s) if step.duration_s else "instant"
    start = "+" + format_duration(step.start_s)
    return f"{start:>9} {length:>8}  {step.label:<24} {step.fault.type:<20} {params}".rstrip()


def _value(key: str, value: Any) -> str:
    if key == "ramp" and isinstance(value, float):
        return format_duration(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def scale(scenario: Scenario, speed: float) -> Scenario:
    """A copy of the scenario with every drill-time duration divided by ``speed``."""
    if not (isinstance(speed, int | float) and math.isfinite(speed) and speed > 0):
        raise ScenarioError(f"--speed must be a number > 0 (got {speed!r})")
    if speed == 1:
        return scenario
    data = scenario.model_dump(by_alias=True)
    scaled = Scenario.model_validate(data, context={"speed": float(speed)})
    scaled._source = scenario.source
    return scaled


def plan(scenario: Scenario, speed: float = 1.0) -> Plan:
    """The scenario's timeline as a flat plan, every drill-time duration divided by ``speed``."""
    scaled = scale(scenario, speed)
    steps = expand(scaled.timeline)
    timeline_s = max((s.end_s for s in steps), default=0.0)
    load_s = scaled.load.total_s if scaled.load else 0.0
    return Plan(
        scenario=scaled,
        steps=tuple(steps),
        speed=float(speed),
        timeline_s=round(timeline_s, 6),
        total_s=round(max(timeline_s, load_s), 6),
        recurring=tuple(recurrences(scaled.timeline)),
    )
