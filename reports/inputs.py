"""Everything the analysis reads, gathered once per report."""

from __future__ import annotations

from dataclasses import dataclass, field

from chaos import verdict
from crashlab.journal import JournalEvent
from reports.context import RunContext
from reports.model import SourceStatus
from reports.sources.locust import LocustData
from reports.sources.logs import LogData
from reports.sources.prometheus import PromData
from reports.sources.traces import TraceData


@dataclass
class Inputs:
    ctx: RunContext
    #: the drill's journal and, for a shared stack, the stack's events in the window (time order)
    journal: list[JournalEvent] = field(default_factory=list)
    #: the drill's own journal (its run, fault, probe and expectation events)
    run_events: list[JournalEvent] = field(default_factory=list)
    #: the drill runner is still finishing this run (it reports before its teardown)
    ending: bool = False
    prom: PromData | None = None
    locust: LocustData | None = None
    logs: LogData | None = None
    traces: TraceData | None = None
    sources: list[SourceStatus] = field(default_factory=list)

    @property
    def t0(self) -> float:
        return self.ctx.window.start_s

    @property
    def t1(self) -> float:
        return self.ctx.window.end_s

    @property
    def step(self) -> float:
        return self.prom.step_s if self.prom else 1.0

    @property
    def telemetry(self) -> verdict.Telemetry | None:
        """What the evaluator reads from Prometheus (None without Prometheus)."""
        return self.prom.telemetry if self.prom else None
