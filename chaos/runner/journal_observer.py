"""Writes the drill's events into the run journal (docs/contracts.md, "Run directory and journal")."""

from __future__ import annotations

from chaos.runner import events as ev
from crashlab.journal import Journal


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
                j.write(
                    "fault",
                    "expired" if event.outcome != "reverted" else "reverted",
                    fault=event.name,
                    fault_type=event.fault_type,
                    target=event.target,
                    handle=event.handle,
                    outcome=event.outcome,
                    lag_ms=round(event.lag_ms, 2),
                )
            case ev.FaultFailed():
                j.write(
                    "fault",
                    "revert_failed" if event.stage == "revert" else "inject_failed",
                    fault=event.name,
                    fault_type=event.fault_type,
                    target=event.target,
                    handle=event.handle,
                    error=event.error,
                )
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
                    "met" if event.met else "failed",
                    expectation=event.expectation,
                    expected=event.expected,
                    measured=event.measured,
                )
            case _:
                pass
