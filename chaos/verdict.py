"""The one evaluator of a drill: its expectations, the crash rule, the alert-window rule and the verdict.

The drill runner calls it when the drill ends; the reporter calls it when it writes (or rewrites) the
post-mortem. Both give it the same things: the scenario's expectations, the journal events and the
drill window, and :class:`Telemetry` fetched with :func:`fetch` from the stack's Prometheus (live, or a
replay of the run's TSDB). Same inputs, same verdict.

The rules (docs/contracts.md, "Verdicts"):

- **crash**: a journal ``process exited`` event of a service (``game``, ``odds``; never Prometheus or
  the supervisor) with a reason other than ``clean``, inside the drill window, counted once per
  (time, service, pid). A journal without any ``process`` event falls back to the supervisor's
  ``crashlab_process_exits_total`` of those services.
- **alert window**: an alert fired when the journal has its ``alert firing`` inside the window, or
  ``ALERTS{alertstate="firing"}`` has a sample inside it (an alert already firing at the start counts);
  its first firing is the earliest of those.
- **availability**: of ``/play``, as the players saw it (the load generator's counters; a timeout, a
  connection error or a 5xx is bad) when they were recorded, else as the game counted it (not 5xx);
  exact counter increases from the raw samples.
- **verdict**: ``aborted`` when the journal says the run was aborted; ``incomplete`` when it started and
  never ended (a killed runner); else ``failed`` when an expectation failed, a fault could not be
  injected or an after-probe failed; else ``inconclusive`` when an expectation could not be measured (or,
  for the reporter, the scenario cannot be read and the runner recorded no expectation); else ``passed``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from chaos.scenario.model import CountRange, Expectations
from crashlab.journal import JournalEvent
from crashlab.prometheus import Prometheus, PrometheusError, Series, increases_by, total_increase
from stack.prometheus.generate import CLIENT_BAD_OUTCOMES
from stack.runtime import SERVICES

#: verdict -> exit code of ``crashlab drill``
EXIT_CODES = {"passed": 0, "failed": 1, "inconclusive": 1, "aborted": 2}
#: how far before the window the raw counters are read: their baseline is the last sample before it
PAD_S = 300.0
#: the players' bad outcomes, as the player-availability SLO counts them (4xx are the players' own)
PLAYER_BAD = frozenset(CLIENT_BAD_OUTCOMES.split("|"))
PLAY = 'route="/play"'
#: the raw series the evaluator reads (plain selectors: their raw samples, see Prometheus.raw)
SELECTORS = {
    "players": f"crashlab_client_requests_total{{{PLAY}}}",
    "server": f"rps_http_requests_total{{{PLAY}}}",
    "degraded": "rps_degraded_answers_total",
    "exits": f'crashlab_process_exits_total{{service=~"{"|".join(SERVICES)}"}}',
    "restarts": f'crashlab_process_restarts_total{{service=~"{"|".join(SERVICES)}"}}',
    "alerts": 'ALERTS{alertstate="firing"}',
}


def p99_query(start: datetime, end: datetime) -> str:
    """``max_p99_ms``: the highest 5 s-rate p99 of ``/play`` over the window, at 1 s resolution."""
    w = f"{max(1, math.ceil((end - start).total_seconds()))}s"
    return (
        "max_over_time((histogram_quantile(0.99, sum by (le) "
        f"(rate(rps_http_request_duration_seconds_bucket{{{PLAY}}}[5s]))))[{w}:1s])"
    )


# --- what Prometheus recorded ----------------------------------------------------------------------


@dataclass
class Telemetry:
    """What the evaluator reads from Prometheus for one window (fetched once, used by both callers)."""

    url: str
    #: selector name (SELECTORS) -> raw samples from PAD_S before the window to its end
    raw: dict[str, list[Series]] = field(default_factory=dict)
    p99_s: float | None = None
    #: query name -> why it failed
    errors: dict[str, str] = field(default_factory=dict)

    def has(self, name: str) -> bool:
        return name in self.raw

    def get(self, name: str) -> list[Series]:
        return self.raw.get(name, [])


def fetch(prom: Prometheus, start: datetime, end: datetime) -> Telemetry:
    """Read every series the rules need (blocking: async callers use ``asyncio.to_thread``). Once a
    query fails and Prometheus does not answer ``/-/ready`` either (a remote stack's closed or hung
    port-forward), the rest are not asked: each would wait for its own timeout."""
    out = Telemetry(prom.url)
    since = start.timestamp() - PAD_S
    gone: str | None = None
    for name, selector in SELECTORS.items():
        if gone is not None:
            out.errors[name] = gone
            continue
        try:
            out.raw[name] = prom.raw(selector, since, end)
        except PrometheusError as exc:
            out.errors[name] = str(exc)
            gone = prom.ready()
    if gone is not None:
        out.errors["p99"] = gone
        return out
    try:
        value = prom.scalar(p99_query(start, end), end)
        out.p99_s = None if value is None or math.isinf(value) else value
    except PrometheusError as exc:
        out.errors["p99"] = str(exc)
    return out


# --- the rules -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Crash:
    ts: datetime
    service: str
    pid: Any
    reason: str
    exit_code: Any


def _in(event: JournalEvent, start: datetime, end: datetime) -> bool:
    return start <= event.ts <= end


def crashes(events: Sequence[JournalEvent], start: datetime, end: datetime) -> list[Crash]:
    """The crash rule: the services' exits not asked for, in the window, once per (time, service, pid)."""
    seen: dict[tuple[str, str, str], Crash] = {}
    for e in events:
        if e.type != "process" or e.event != "exited" or not _in(e, start, end):
            continue
        service, reason = str(e.get("service") or ""), str(e.get("reason") or "crash")
        if service not in SERVICES or reason == "clean":
            continue
        key = (e.ts.isoformat(), service, str(e.get("pid")))
        seen.setdefault(key, Crash(e.ts, service, e.get("pid"), reason, e.get("exit_code")))
    return sorted(seen.values(), key=lambda c: c.ts)


def restarts(events: Sequence[JournalEvent], start: datetime, end: datetime) -> list[JournalEvent]:
    """The services' restarts by the supervisor in the window (same services as the crash rule)."""
    return [
        e
        for e in events
        if e.type == "process"
        and e.event == "restarted"
        and str(e.get("service") or "") in SERVICES
        and _in(e, start, end)
    ]


@dataclass(frozen=True)
class CrashCount:
    count: int
    reasons: dict[str, int]
    restarts: int
    #: where the figures come from: ``journal`` or ``prometheus``; None when neither had them
    source: str | None
    crashes: list[Crash] = field(default_factory=list)


def count_crashes(
    events: Sequence[JournalEvent], telemetry: Telemetry | None, start: datetime, end: datetime
) -> CrashCount:
    if any(e.type == "process" for e in events):
        found = crashes(events, start, end)
        counted = Counter(c.reason for c in found)
        return CrashCount(len(found), dict(counted), len(restarts(events, start, end)), "journal", found)
    if telemetry is not None and telemetry.has("exits"):
        since = start.timestamp()
        by_reason = increases_by(telemetry.get("exits"), "reason", since)
        reasons = {r: round(n) for r, n in by_reason.items() if r != "clean" and round(n) > 0}
        total = round(total_increase(telemetry.get("restarts"), since))
        return CrashCount(sum(reasons.values()), reasons, total, "prometheus")
    return CrashCount(0, {}, 0, None)


@dataclass(frozen=True)
class FiredAlert:
    name: str
    #: first firing inside the window (unix seconds)
    first: float
    severity: str = ""


def alerts_fired(
    events: Sequence[JournalEvent], telemetry: Telemetry | None, start: datetime, end: datetime
) -> dict[str, FiredAlert]:
    """The alert-window rule; by first firing."""
    lo, hi = start.timestamp(), end.timestamp()
    found: dict[str, FiredAlert] = {}

    def add(name: str, ts: float, severity: str) -> None:
        old = found.get(name)
        if old is None or ts < old.first:
            found[name] = FiredAlert(name, ts, severity or (old.severity if old else ""))

    for e in events:
        if e.type == "alert" and e.event == "firing" and _in(e, start, end) and e.get("alert"):
            labels = e.get("labels") if isinstance(e.get("labels"), dict) else {}
            add(str(e.get("alert")), e.ts.timestamp(), str(e.get("severity") or labels.get("severity") or ""))
    for s in telemetry.get("alerts") if telemetry else []:
        name = s.labels.get("alertname", "")
        firing = [t for t, v in s.points if lo <= t <= hi and v > 0]
        if name and firing:
            add(name, min(firing), s.labels.get("severity", ""))
    return dict(sorted(found.items(), key=lambda kv: kv[1].first))


@dataclass(frozen=True)
class Availability:
    """Requests and failures of ``/play`` in the window, from one point of view."""

    source: Literal["players", "server"]
    requests: int
    failed: int
    #: outcome (players) or status (server) -> count
    by: dict[str, int] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        return 1.0 - self.failed / self.requests if self.requests > 0 else None


def players_view(telemetry: Telemetry, start: datetime) -> Availability | None:
    if not telemetry.get("players"):
        return None
    by = increases_by(telemetry.get("players"), "outcome", start.timestamp())
    total = sum(by.values())
    if total <= 0:
        return None
    failed = sum(v for k, v in by.items() if k in PLAYER_BAD)
    counts = {k: round(v) for k, v in sorted(by.items()) if round(v) > 0}
    return Availability("players", round(total), round(failed), counts)


def server_view(telemetry: Telemetry, start: datetime) -> Availability | None:
    if not telemetry.has("server"):
        return None
    by = increases_by(telemetry.get("server"), "status", start.timestamp())
    failed = sum(v for k, v in by.items() if k.startswith("5"))
    counts = {k: round(v) for k, v in sorted(by.items()) if round(v) > 0}
    return Availability("server", round(sum(by.values())), round(failed), counts)


def availability(telemetry: Telemetry | None, start: datetime) -> Availability | None:
    """The availability SLI: the players' view when recorded, else the server's."""
    if telemetry is None:
        return None
    players = players_view(telemetry, start)
    if players is not None:
        return players
    server = server_view(telemetry, start)
    return server if server is not None and server.requests > 0 else None


# --- expectations ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One expectation, met or not (``None``: it could not be measured)."""

    #: the machine name (the journal's ``expectation``): ``crashes``, ``alerts_fired:X``, ...
    key: str
    #: for people: ``crashes``, ``alert X fires``, ``availability (server) at least``, ...
    title: str
    expected: Any
    measured: Any
    met: bool | None
    expected_text: str = ""
    measured_text: str = ""

    @property
    def line(self) -> str:
        """How the runner prints it when it did not hold."""
        return f"{self.key} (expected {self.expected}, measured {self.measured})"


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v * 100:.2f}%"


def _crash_check(exp: int | CountRange, found: CrashCount) -> Check:
    n = found.count if found.source is not None else None
    shown = "n/a" if n is None else str(n)
    if isinstance(exp, CountRange):
        lo, hi = exp.min, exp.max
        met = None if n is None else (lo is None or n >= lo) and (hi is None or n <= hi)
        bounds = [f">= {lo}"] if lo is not None else []
        bounds += [f"<= {hi}"] if hi is not None else []
        expected = exp.model_dump(exclude_none=True)
        return Check("crashes", "crashes", expected, n, met, " and ".join(bounds), shown)
    return Check("crashes", "crashes", exp, n, None if n is None else n == exp, f"= {exp}", shown)


def check_expectations(
    exp: Expectations,
    events: Sequence[JournalEvent],
    telemetry: Telemetry | None,
    start: datetime,
    end: datetime,
) -> list[Check]:
    out: list[Check] = []
    t0 = start.timestamp()

    def add(
        key: str, title: str, expected: Any, measured: Any, met: bool | None, texts: tuple[str, str]
    ) -> None:
        out.append(Check(key, title, expected, measured, met, *texts))

    if exp.crashes is not None:
        out.append(_crash_check(exp.crashes, count_crashes(events, telemetry, start, end)))
    if exp.alerts_fired or exp.alerts_not_fired:
        fired = alerts_fired(events, telemetry, start, end)
        # without Prometheus, an alert missing from the journal may still have fired
        known = telemetry is not None and telemetry.has("alerts")
        names = sorted(fired)

        def seen(name: str) -> str:
            return f"fired at +{fired[name].first - t0:.0f}s" if name in fired else "not fired"

        for name in exp.alerts_fired:
            met = True if name in fired else (False if known else None)
            add(f"alerts_fired:{name}", f"alert {name} fires", "fired", names, met, ("fires", seen(name)))
        for name in exp.alerts_not_fired:
            met = False if name in fired else (True if known else None)
            texts = ("not fired", seen(name))
            add(f"alerts_not_fired:{name}", f"alert {name} stays silent", "not fired", names, met, texts)
    if exp.availability_min is not None or exp.availability_max is not None:
        sli = availability(telemetry, start)
        ratio = sli.ratio if sli is not None else None
        view = "as players saw it" if sli is not None and sli.source == "players" else "server"
        measured = None if ratio is None else round(ratio, 5)
        if (lo := exp.availability_min) is not None:
            met = None if ratio is None else ratio >= lo
            texts = (f">= {_pct(lo)}", _pct(ratio))
            add("availability_min", f"availability ({view}) at least", lo, measured, met, texts)
        if (hi := exp.availability_max) is not None:
            met = None if ratio is None else ratio <= hi
            texts = (f"<= {_pct(hi)}", _pct(ratio))
            add("availability_max", f"availability ({view}) at most", hi, measured, met, texts)
    if (limit := exp.max_p99_ms) is not None:
        p99 = telemetry.p99_s if telemetry is not None else None
        ms = None if p99 is None else round(p99 * 1000, 1)
        met = None if ms is None else ms <= limit
        texts = (f"<= {limit:g} ms", "n/a" if ms is None else f"{ms:.0f} ms")
        add("max_p99_ms", "highest p99 latency (server, 5 s windows)", limit, ms, met, texts)
    if (least := exp.degraded_min) is not None:
        degraded = (
            round(total_increase(telemetry.get("degraded"), t0))
            if telemetry is not None and telemetry.has("degraded")
            else None
        )
        met = None if degraded is None else degraded >= least
        texts = (f">= {least}", "n/a" if degraded is None else str(degraded))
        add("degraded_min", "degraded answers", least, degraded, met, texts)
    return out


def journaled_checks(events: Sequence[JournalEvent]) -> list[Check]:
    """The runner's ``expectation`` events (when the scenario itself cannot be read)."""
    out = []
    for e in events:
        if e.type != "expectation":
            continue
        met = True if e.event == "met" else (False if e.event == "failed" else None)
        name = str(e.get("expectation") or "?")
        expected, measured = e.get("expected"), e.get("measured")
        out.append(Check(name, name, expected, measured, met, str(expected), str(measured)))
    return out


# --- the verdict -----------------------------------------------------------------------------------


def run_state(events: Sequence[JournalEvent]) -> tuple[str, str]:
    """``(state, reason)`` from the journal's ``run`` events: ``aborted``, ``ended``, ``incomplete``
    (started, never ended: a killed runner) or ``unknown`` (no drill ran)."""
    runs = [e for e in events if e.type == "run"]
    aborted = [e for e in runs if e.event == "aborted"]
    if aborted:
        return "aborted", str(aborted[-1].get("reason") or "")
    if any(e.event == "ended" for e in runs):
        return "ended", ""
    if any(e.event == "started" for e in runs):
        return "incomplete", "the journal has no 'run ended': the runner was killed or is still running"
    return "unknown", ""


def inject_failures(events: Sequence[JournalEvent]) -> list[str]:
    return [
        f"fault {e.get('fault')} could not be injected: {e.get('error')}"
        for e in events
        if e.type == "fault" and e.event == "inject_failed"
    ]


def after_failures(events: Sequence[JournalEvent]) -> list[str]:
    return [
        f"steady state after: {e.get('probe')}"
        for e in events
        if e.type == "probe" and e.event == "failed" and e.get("when") == "after"
    ]


@dataclass
class Evaluation:
    checks: list[Check]
    verdict: str
    #: why it did not pass, one line each: failed expectations, injections and after-probes (or, for
    #: ``inconclusive``, what could not be measured)
    failures: list[str]
    #: why the verdict is ``aborted``, ``incomplete`` or ``inconclusive``
    reason: str = ""

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.verdict, 1)


def evaluate(
    expectations: Expectations | None,
    events: Sequence[JournalEvent],
    telemetry: Telemetry | None,
    start: datetime,
    end: datetime,
    *,
    run_events: Sequence[JournalEvent] | None = None,
    ending: bool = False,
) -> Evaluation:
    """The verdict of one drill.

    ``events``: every journal event that may matter (the drill's and, for a shared stack, the stack's);
    ``run_events``: the drill's own journal (its run, fault and probe events; default ``events``);
    ``expectations``: the scenario's, or ``None`` when it cannot be read (the runner's ``expectation``
    events are used instead); ``ending``: the runner itself is finishing the run (no ``run ended`` yet).
    """
    own = events if run_events is None else run_events
    checks = (
        check_expectations(expectations, events, telemetry, start, end)
        if expectations is not None
        else journaled_checks(own)
    )
    failures = [c.line for c in checks if c.met is False]
    failures += inject_failures(own) + after_failures(own)
    state, why = run_state(own)
    if state == "aborted":
        return Evaluation(checks, "aborted", failures, why)
    if state == "incomplete" and not ending:
        return Evaluation(checks, "incomplete", failures, why)
    if failures:
        return Evaluation(checks, "failed", failures, "; ".join(failures))
    if expectations is None and not checks:
        why = "no readable scenario and no expectation the runner recorded: nothing to judge by"
        return Evaluation(checks, "inconclusive", [why], why)
    unmeasured = [f"{c.key} could not be measured (expected {c.expected})" for c in checks if c.met is None]
    if unmeasured:
        return Evaluation(checks, "inconclusive", unmeasured, "; ".join(unmeasured))
    return Evaluation(checks, "passed", [])
