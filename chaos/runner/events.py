"""Typed drill events and the bus that hands them to observers.

The journal writer, the runner's metrics exporter and the live progress are observers. An observer
that raises is logged and skipped, never fatal to the drill.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger("crashlab.drill")


@dataclass(frozen=True)
class DrillStarted:
    drill: str
    run_id: str
    total_s: float
    speed: float
    #: the runner's PID (the run's owner)
    pid: int | None = None


@dataclass(frozen=True)
class DrillEnded:
    drill: str
    run_id: str
    verdict: str  # passed | failed | aborted
    reason: str = ""
    failures: tuple[str, ...] = ()


@dataclass(frozen=True)
class PhaseStarted:
    phase: str


@dataclass(frozen=True)
class PhaseEnded:
    phase: str


@dataclass(frozen=True)
class FaultInjected:
    name: str
    fault_type: str
    target: str
    params: dict[str, Any]
    ttl_s: float
    handle: dict[str, Any]
    lag_ms: float = 0.0
    planned_at_s: float = 0.0
    duration_s: float | None = None
    #: part of the normal world, not an incident fault (the scenario step's ``baseline``)
    baseline: bool = False


@dataclass(frozen=True)
class FaultReverted:
    name: str
    fault_type: str
    target: str
    handle: dict[str, Any]
    outcome: str  # reverted | expired | gone
    lag_ms: float = 0.0


@dataclass(frozen=True)
class FaultFailed:
    """Injecting or reverting failed (``stage``: inject | revert)."""

    name: str
    fault_type: str
    target: str
    stage: str
    error: str
    handle: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProbeChecked:
    probe: str
    passed: bool
    value: Any
    tolerance: Any
    when: str  # before | during | after
    detail: str = ""


@dataclass(frozen=True)
class GuardrailTripped:
    guardrail: str
    value: Any
    detail: str = ""


@dataclass(frozen=True)
class LoadStarted:
    users: int
    spawn_rate: float
    pid: int | None


@dataclass(frozen=True)
class LoadStopped:
    exit_code: int | None


@dataclass(frozen=True)
class ExpectationChecked:
    expectation: str
    met: bool | None  # None: could not be measured
    expected: Any
    measured: Any


@dataclass(frozen=True)
class Tick:
    """Once a second while the timeline runs: what the live progress shows."""

    elapsed_s: float
    total_s: float
    phase: str
    active_faults: tuple[str, ...]
    rps: float | None = None
    error_rate: float | None = None
    p99_ms: float | None = None
    crashes: int = 0


Event = (
    DrillStarted
    | DrillEnded
    | PhaseStarted
    | PhaseEnded
    | FaultInjected
    | FaultReverted
    | FaultFailed
    | ProbeChecked
    | GuardrailTripped
    | LoadStarted
    | LoadStopped
    | ExpectationChecked
    | Tick
)


class Observer(Protocol):
    def on_event(self, event: Event) -> None: ...


class EventBus:
    def __init__(self) -> None:
        self._observers: list[Observer] = []

    def subscribe(self, observer: Observer) -> None:
        self._observers.append(observer)

    def emit(self, event: Event) -> None:
        for observer in list(self._observers):
            try:
                observer.on_event(event)
            except Exception:
                log.exception(
                    "observer %s failed on %s (ignored)", type(observer).__name__, type(event).__name__
                )
