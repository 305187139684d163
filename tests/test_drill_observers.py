"""The runner's observers: a failing observer never stops the others; the metrics exporter serves
the active faults by name and the phase; the live progress shows what the drill is doing."""

from __future__ import annotations

import io
import logging
import re
import urllib.request

import pytest
from rich.console import Console

from chaos.runner import events as ev
from chaos.runner.events import EventBus
from chaos.runner.metrics import RunnerMetrics
from chaos.runner.progress import Progress


class Broken:
    def on_event(self, event: ev.Event) -> None:
        raise RuntimeError("observer bug")


class Recorder:
    def __init__(self) -> None:
        self.seen: list[ev.Event] = []

    def on_event(self, event: ev.Event) -> None:
        self.seen.append(event)


def test_an_observer_that_raises_is_logged_and_the_others_still_get_the_event(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus, recorder = EventBus(), Recorder()
    bus.subscribe(Broken())
    bus.subscribe(recorder)
    with caplog.at_level(logging.ERROR, logger="crashlab.drill"):
        bus.emit(ev.PhaseStarted("timeline"))
    assert recorder.seen == [ev.PhaseStarted("timeline")]
    assert "observer Broken failed on PhaseStarted" in caplog.text


def scrape(url: str) -> str:
    with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
        return str(resp.read().decode())


def test_metrics_exporter_serves_fault_windows_and_phase() -> None:
    metrics = RunnerMetrics("demo", "run-1")
    try:
        assert metrics.url.startswith("http://127.0.0.1:")
        metrics.on_event(ev.PhaseStarted("timeline"))
        metrics.on_event(ev.FaultInjected("stall#1", "dependency.stall", "odds", {}, 12.0, {}))
        text = scrape(metrics.url)
        assert 'crashlab_fault_active{fault="stall#1",target="odds",type="dependency.stall"} 1.0' in text
        assert 'crashlab_drill_phase{drill="demo",phase="timeline"} 1.0' in text
        assert 'crashlab_drill_info{drill="demo",run_id="run-1"} 1.0' in text
        metrics.on_event(ev.FaultReverted("stall#1", "dependency.stall", "odds", {}, "reverted"))
        metrics.on_event(ev.PhaseStarted("teardown"))
        text = scrape(metrics.url)
        assert 'crashlab_fault_active{fault="stall#1",target="odds",type="dependency.stall"} 0.0' in text
        assert 'crashlab_drill_phase{drill="demo",phase="timeline"} 0.0' in text
        assert 'crashlab_drill_phase{drill="demo",phase="teardown"} 1.0' in text
    finally:
        metrics.close()


def test_live_progress_shows_elapsed_phase_faults_rps_errors_p99_and_crashes() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=140, color_system=None)
    progress = Progress(console)
    progress.on_event(ev.DrillStarted("demo", "run-1", 60.0, 1.0))
    progress.on_event(ev.Tick(12.5, 60.0, "timeline", ("stall#1",), 41.0, 0.25, 830.0, 2))
    progress._live.refresh()  # type: ignore[union-attr]
    progress.on_event(ev.DrillEnded("demo", "run-1", "failed", "crashes (expected 5, measured 2)"))
    text = out.getvalue()
    for part in (
        "12.5s / 60.0s",
        "phase timeline",
        "stall#1",
        "rps 41.0",
        "errors 25.0%",
        "p99 830ms",
        "crashes 2",
    ):
        assert part in text, part
    assert "verdict failed: crashes (expected 5, measured 2)" in text


def test_quiet_progress_prints_event_lines_only() -> None:
    out = io.StringIO()
    progress = Progress(Console(file=out, force_terminal=True, width=140, color_system=None), quiet=True)
    progress.on_event(ev.DrillStarted("demo", "run-1", 60.0, 1.0))
    progress.on_event(ev.Tick(1.0, 60.0, "timeline", (), 1.0, 0.0, 10.0, 0))
    progress.on_event(
        ev.GuardrailTripped("memory", 3e9, "sum(process_resident_memory_bytes) = 3e+09 > 2e+09")
    )
    text = out.getvalue()
    assert "rps" not in text
    assert "guardrail tripped memory: sum(process_resident_memory_bytes) = 3e+09 > 2e+09" in text


def test_a_revert_the_service_did_not_answer_says_when_the_fault_ends_by_itself() -> None:
    """A remote stack whose port-forward closed mid-drill: the fault may still run there, so the line
    says who did not answer and when its TTL ends it (not a bare "gone")."""
    out = io.StringIO()
    progress = Progress(Console(file=out, force_terminal=True, width=200, color_system=None), quiet=True)
    handle = {"kind": "admin", "service": "odds", "url": "http://127.0.0.1:18081", "id": "f1"}
    progress.on_event(ev.FaultInjected("slow-odds", "dependency.latency", "odds", {"ms": 50}, 22.0, handle))
    progress.on_event(ev.FaultReverted("slow-odds", "dependency.latency", "odds", handle, "gone"))
    text = out.getvalue()
    assert "revert slow-odds dependency.latency: gone: odds at http://127.0.0.1:18081 did not answer" in text
    assert re.search(r"if it still runs, the fault ends by itself at its TTL, \d\d:\d\d:\d\d UTC", text), text
