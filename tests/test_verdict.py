"""The one evaluator's rules (chaos.verdict) on journal events and Prometheus series: which exits are
crashes, which alerts fired in the window, what the verdict is when a run was aborted, killed, or could
not be measured."""

from __future__ import annotations

import contextlib
import socket
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from chaos import verdict
from chaos.scenario.model import Expectations
from crashlab.journal import JournalEvent
from crashlab.prometheus import Prometheus, Series
from crashlab.waits import wait_until

START = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
END = START + timedelta(minutes=2)


def ev(type_: str, event: str, at_s: float, **fields: Any) -> JournalEvent:
    return JournalEvent(START + timedelta(seconds=at_s), type_, event, "test", fields)


def exited(at_s: float, service: str, pid: int, reason: str = "panic") -> JournalEvent:
    return ev("process", "exited", at_s, service=service, pid=pid, reason=reason, exit_code=2)


RUN = [ev("run", "started", -5), ev("process", "started", -4, service="game", pid=1), ev("run", "ended", 130)]


def test_only_the_services_unasked_exits_in_the_window_count_once_each() -> None:
    events = [
        exited(10, "game", 1),
        exited(10, "game", 1),  # the same exit journaled twice (drill and stack journals)
        exited(20, "odds", 2, "oom"),
        exited(30, "prometheus", 3, "killed"),
        exited(31, "supervisor", 4, "crash"),
        exited(40, "game", 5, "clean"),
        exited(-1, "game", 6),  # before the window
        exited(121, "game", 7),  # after it
    ]
    found = verdict.count_crashes(events, None, START, END)
    assert (found.count, found.reasons, found.source) == (2, {"panic": 1, "oom": 1}, "journal")
    assert [c.service for c in found.crashes] == ["game", "odds"]


def test_without_process_events_the_supervisors_counters_are_used_for_the_services_only() -> None:
    t0 = START.timestamp()
    game = Series({"service": "game", "reason": "panic"}, [(t0 - 10, 1), (t0 + 5, 2), (t0 + 50, 3)])
    telemetry = verdict.Telemetry("http://127.0.0.1:9", raw={"exits": [game], "restarts": []})
    found = verdict.count_crashes([ev("run", "started", 0)], telemetry, START, END)
    assert (found.count, found.reasons, found.source) == (2, {"panic": 2}, "prometheus")
    assert verdict.SELECTORS["exits"] == 'crashlab_process_exits_total{service=~"odds|game"}'


def test_an_alert_fired_when_its_firing_is_in_the_window_from_either_source() -> None:
    t0 = START.timestamp()
    alerts = [
        Series({"alertname": "Early", "severity": "page"}, [(t0 - 30, 1), (t0 + 1, 1)]),  # firing at start
        Series({"alertname": "Late"}, [(t0 + 200, 1)]),
    ]
    telemetry = verdict.Telemetry("http://127.0.0.1:9", raw={"alerts": alerts})
    events = [
        ev("alert", "firing", 5, alert="FromJournal", severity="ticket"),
        ev("alert", "firing", -60, alert="Old"),
    ]
    fired = verdict.alerts_fired(events, telemetry, START, END)
    assert list(fired) == ["Early", "FromJournal"]
    assert fired["Early"].first == t0 + 1 and fired["Early"].severity == "page"


def test_expectations_are_checked_and_named_as_the_runner_journals_them() -> None:
    t0 = START.timestamp()
    players = [
        Series({"outcome": "ok"}, [(t0 - 1, 100), (t0 + 60, 190)]),
        Series({"outcome": "timeout"}, [(t0 + 60, 10)]),  # born in the window: counts in full
    ]
    telemetry = verdict.Telemetry("u", raw={"players": players, "server": [], "alerts": [], "degraded": []})
    exp = Expectations(crashes=0, availability_min=0.95, alerts_not_fired=["CrashLoop"], degraded_min=1)
    result = verdict.evaluate(exp, RUN, telemetry, START, END)
    checks = {c.key: c for c in result.checks}
    assert checks["crashes"].met is True and checks["alerts_not_fired:CrashLoop"].met is True
    assert checks["availability_min"].measured == 0.9 and checks["availability_min"].met is False
    assert checks["availability_min"].title == "availability (as players saw it) at least"
    assert checks["degraded_min"].measured == 0 and checks["degraded_min"].met is False
    assert result.verdict == "failed"
    assert result.failures == [
        "availability_min (expected 0.95, measured 0.9)",
        "degraded_min (expected 1, measured 0)",
    ]


def test_the_verdict_of_aborted_killed_unmeasured_and_failed_runs() -> None:
    exp = Expectations(crashes=0, max_p99_ms=500)
    no_prom = verdict.evaluate(exp, RUN, None, START, END)
    assert no_prom.verdict == "inconclusive" and no_prom.exit_code == 1
    assert no_prom.failures == ["max_p99_ms could not be measured (expected 500.0)"]
    killed = [ev("run", "started", -5)]
    assert verdict.evaluate(exp, killed, None, START, END).verdict == "incomplete"
    assert verdict.evaluate(Expectations(), killed, None, START, END, ending=True).verdict == "passed"
    aborted = [*killed, ev("run", "aborted", 60, reason="guardrail memory tripped")]
    result = verdict.evaluate(exp, aborted, None, START, END)
    assert (result.verdict, result.reason) == ("aborted", "guardrail memory tripped")
    failed = [
        *RUN,
        ev("fault", "inject_failed", 3, fault="stall", error="HTTP 400"),
        ev("probe", "failed", 125, probe="healthy", when="after"),
        ev("probe", "failed", 50, probe="during-only", when="during"),
    ]
    result = verdict.evaluate(Expectations(), failed, None, START, END)
    assert result.verdict == "failed"
    assert result.failures == ["fault stall could not be injected: HTTP 400", "steady state after: healthy"]


def test_without_a_scenario_the_runners_journaled_checks_decide() -> None:
    events = [
        *RUN,
        ev("expectation", "met", 125, expectation="crashes", expected=5, measured=5),
        ev("expectation", "failed", 125, expectation="degraded_min", expected=1, measured=0),
    ]
    result = verdict.evaluate(None, events, None, START, END)
    assert [(c.key, c.met) for c in result.checks] == [("crashes", True), ("degraded_min", False)]
    assert result.verdict == "failed"


def test_without_a_scenario_or_recorded_checks_there_is_nothing_to_judge_by() -> None:
    result = verdict.evaluate(None, RUN, None, START, END)
    assert result.verdict == "inconclusive" and "nothing to judge by" in result.reason
    assert verdict.evaluate(Expectations(), RUN, None, START, END).verdict == "passed"


def test_a_prometheus_that_stopped_answering_is_asked_once_not_once_a_series() -> None:
    """A remote stack's port-forward that hangs (accepts, never answers): the verdict's telemetry gives
    up after the first query that fails and a /-/ready that does not answer, instead of timing out on
    each of its queries in turn (95 s with the default timeouts)."""
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(64)
    accepted: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                accepted.append(hung.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    try:
        end = datetime.now(UTC)
        telemetry = verdict.fetch(
            Prometheus(f"http://{hung.getsockname()[0]}:{hung.getsockname()[1]}", timeout_s=0.3),
            end - timedelta(minutes=1),
            end,
        )
        wait_until(lambda: len(accepted) >= 2, 5, "the query and the readiness check")
    finally:
        hung.close()
        for conn in accepted:
            conn.close()
    assert set(telemetry.errors) == {*verdict.SELECTORS, "p99"}
    assert len(accepted) == 2, "one query, one /-/ready, then no more"
    assert all(
        "does not answer" in e
        for name, e in telemetry.errors.items()
        if name != next(iter(verdict.SELECTORS))
    )
