"""Live progress in the terminal (rich): elapsed/total, phase, active faults, rps, error rate, p99,
crashes so far; notable events as lines above it. ``quiet``: the lines only, no live panel (CI)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from rich.console import Console
from rich.live import Live
from rich.table import Table

from chaos.runner import events as ev
from crashlab.timeutil import utcnow


def _fmt(value: float | None, spec: str, unit: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{unit}"


class Progress:
    def __init__(self, console: Console, quiet: bool = False) -> None:
        self.console = console
        self.quiet = quiet
        self._live: Live | None = None
        self._last: ev.Tick | None = None
        #: when each injected fault's TTL ends it (for a revert its service did not answer)
        self._ends: dict[str, datetime] = {}

    def _line(self, text: str) -> None:
        self.console.print(text, highlight=False)

    def on_event(self, event: ev.Event) -> None:
        match event:
            case ev.DrillStarted():
                self._line(
                    f"drill {event.drill} ({event.run_id}): {event.total_s:.1f}s at speed {event.speed:g}"
                )
                if not self.quiet and self.console.is_terminal:
                    self._live = Live(console=self.console, refresh_per_second=4, transient=True)
                    self._live.start()
            case ev.PhaseStarted():
                self._line(f"[bold]phase[/] {event.phase}")
                if self._live is not None and self._last is not None:
                    self._last = dataclasses.replace(self._last, phase=event.phase)
                    self._live.update(self._panel(self._last))
            case ev.FaultInjected():
                self._ends[event.name] = utcnow() + timedelta(seconds=event.ttl_s)
                self._line(
                    f"[yellow]inject[/] {event.name} {event.fault_type} -> {event.target} "
                    f"(ttl {event.ttl_s:g}s, lag {event.lag_ms:.0f}ms)"
                )
            case ev.FaultReverted() if event.outcome == "gone":
                self._line(f"[yellow]revert[/] {event.name} {event.fault_type}: gone: {self._gone(event)}")
            case ev.FaultReverted():
                self._line(f"[green]revert[/] {event.name} {event.fault_type}: {event.outcome}")
            case ev.FaultFailed():
                self._line(f"[red]{event.stage} failed[/] {event.name} {event.fault_type}: {event.error}")
            case ev.ProbeChecked() if not event.passed:
                self._line(f"[red]probe failed[/] {event.probe} ({event.when}): {event.value} {event.detail}")
            case ev.GuardrailTripped():
                self._line(f"[red bold]guardrail tripped[/] {event.guardrail}: {event.detail or event.value}")
            case ev.ExpectationChecked():
                mark = {True: "[green]met[/]", False: "[red]FAILED[/]", None: "[yellow]NOT MEASURED[/]"}[
                    event.met
                ]
                self._line(
                    f"expectation {event.expectation}: {mark} "
                    f"(expected {event.expected}, measured {event.measured})"
                )
            case ev.Tick() if self._live is not None:
                self._last = event
                self._live.update(self._panel(event))
            case ev.DrillEnded():
                self.close()
                colour = {"passed": "green", "failed": "red"}.get(event.verdict, "red bold")
                why = f": {event.reason}" if event.reason else ""
                self._line(f"[{colour}]verdict {event.verdict}[/]{why}")
            case _:
                pass

    def _gone(self, event: ev.FaultReverted) -> str:
        """Who did not answer the revert, and when the fault ends by itself if it still runs (a remote
        stack behind a closed port-forward keeps its faults until their TTL)."""
        url = event.handle.get("url")
        who = f"{event.target} at {url}" if isinstance(url, str) else event.target
        end = self._ends.get(event.name)
        when = f", {end:%H:%M:%S} UTC" if end is not None else ""
        return f"{who} did not answer; if it still runs, the fault ends by itself at its TTL{when}"

    def _panel(self, tick: ev.Tick) -> Table:
        table = Table.grid(padding=(0, 2))
        table.add_row(
            f"[bold]{tick.elapsed_s:6.1f}s / {tick.total_s:.1f}s[/]",
            f"phase [cyan]{tick.phase}[/]",
            f"rps {_fmt(tick.rps, '.1f')}",
            f"errors {_fmt(None if tick.error_rate is None else tick.error_rate * 100, '.1f', '%')}",
            f"p99 {_fmt(tick.p99_ms, '.0f', 'ms')}",
            f"crashes [red]{tick.crashes}[/]",
        )
        table.add_row("active faults:", ", ".join(tick.active_faults) or "none")
        return table

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
