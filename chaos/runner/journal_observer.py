"""Writes the drill's events into the run journal (docs/contracts.md, "Run directory and journal")."""

from __future__ import annotations

from typing import Any

from chaos.runner import events as ev
from crashlab.journal import Journal


def write_fault_reverted(j: Journal, event: ev.FaultReverted, **extra: Any) -> None:
    """``fault reverted`` (or ``expired``: it had ended by itself or its target is gone)."""
    j.write(
        "fault",
        "expired" if event.outcome != "reverted" else "reverted",
        fault=event.name,
        fault_type=event.fault_type,
        target=event.target,
        handle=event.handle,
        outcome=event.outcome,
        **extra,
    )


def write_fault_failed(j: Journal, event: ev.FaultFailed) -> None:
    """``fault inject_failed`` or ``revert_failed``, with the error."""
    j.write(
        "fault",
        "revert_failed" if event.stage == "revert" else "inject_failed",
        fault=event.name,
        fault_type=event.fault_type,
        target=event.target,
        handle=event.handle,
        error=event.error,
    )


class JournalObserver:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def on_event(self, event: ev.Event) -> None:
        j = self.journal
        match event:
            case ev.DrillStarted():
                j.write(
                    "run",
                    "started",
                    scenario=event.drill,
                    run_id=event.run_id,
                    speed=event.speed,
                    total_s=event.total_s,
                    pid=event.pid,
                )
            case ev.DrillEnded():
                j.write(
                    "run",
                    "aborted" if event.verdict == "aborted" else "ended",
                    scenario=event.drill,
                    run_id=event.run_id,
                    verdict=event.verdict,
                    reason=event.reason,
                    failures=list(event.failures),
                )
            case ev.PhaseStarted():
                j.write("phase", "started", phase=event.phase)
            case ev.PhaseEnded():
                j.write("phase", "ended", phase=event.phase)
            case ev.FaultInjected():
                j.write(
                    "fault",
                    "injected",
                    fault=event.name,
                    fault_type=event.fault_type,
                    target=event.target,
                    params=event.params,
                    ttl_s=event.ttl_s,
                    handle=event.handle,
                    lag_ms=round(event.lag_ms, 2),
                    planned_at_s=event.planned_at_s,
                    duration_s=event.duration_s,
                    baseline=event.baseline,
                )
            case ev.FaultReverted():
                write_fault_reverted(j, event, lag_ms=round(event.lag_ms, 2))
            case ev.FaultFailed():
                write_fault_failed(j, event)
            case ev.ProbeChecked():
                j.write(
                    "probe",
                    "passed" if event.passed else "failed",
                    probe=event.probe,
                    value=event.value,
                    tolerance=event.tolerance,
                    when=event.when,
                    detail=event.detail,
                )
            case ev.GuardrailTripped():
                j.write(
                    "guardrail", "tripped", guardrail=event.guardrail, value=event.value, detail=event.detail
                )
            case ev.LoadStarted():
                j.write("load", "started", users=event.users, spawn_rate=event.spawn_rate, pid=event.pid)
            case ev.LoadStopped():
                j.write("load", "stopped", exit_code=event.exit_code)
            case ev.ExpectationChecked():
                j.write(
                    "expectation",
                    {True: "met", False: "failed", None: "unmeasured"}[event.met],
                    expectation=event.expectation,
                    expected=event.expected,
                    measured=event.measured,
                )
            case _:
                pass
