"""A synthetic run directory with known figures, for the reporter's tests and bench/report.py.

The telemetry goes into a real Prometheus TSDB (``promtool tsdb create-blocks-from openmetrics``); the
journal is written with crashlab.journal; logs, traces and Locust CSV files use the formats of the
contracts. :class:`Truth` holds the figures the report must find.
"""

from __future__ import annotations

import csv
import json
import random
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from crashlab import binaries
from crashlab.journal import Journal
from crashlab.rundir import RunDir
from crashlab.timeutil import iso

BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ALERT = "ErrorBudgetBurnPage"
SCRIPT_LINE = '<script>alert("pwned")</script> upstream said so'


@dataclass
class Truth:
    run: RunDir
    start: datetime
    end: datetime
    fault_start: datetime
    fault_end: datetime
    alert_at: datetime
    requests_total: int = 0
    requests_failed: int = 0
    client_requests: int = 0
    client_failures: int = 0
    #: the load generator's own counters (``crashlab_client_requests_total``), when written
    players_requests: int = 0
    players_failed: int = 0
    crashes: int = 0
    restarts: int = 0
    degraded: int = 0
    crash_times: list[datetime] = field(default_factory=list)
    log_errors_by_code: dict[str, int] = field(default_factory=dict)
    trace_ids: list[str] = field(default_factory=list)


#: the percentile columns of Locust's stats and history CSVs
LOCUST_PERCENTILES = ["50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%"]


def _fmt(v: float) -> str:
    return f"{v:.6g}" if not float(v).is_integer() else str(int(v))


def synthesize(
    root: Path,
    *,
    minutes: float = 3.0,
    scrape_s: float = 1.0,
    rps: int = 20,
    crashes: int = 2,
    seed: int = 7,
    end: datetime | None = None,
    with_prometheus: bool = True,
    baseline: bool = False,
    players: bool = False,
    gameday: GameDayPlan | None = None,
) -> Truth:
    """Write ``root/<run-id>/`` for a drill of ``minutes``: steady, then a dependency stall with a retry
    storm, failing requests and ``crashes`` panics, then recovery.

    ``baseline``: also a fault ``odds-baseline`` for the whole drill that moves nothing (like five-crash's
    baseline latency). ``players``: also the load generator's ``crashlab_client_requests_total``: players
    time out on 40% of the requests during the stall (which the server still counts as answered) and get
    connection errors while the process is down.

    ``gameday``: a game day instead (a :class:`GameDayPlan` such as :data:`GAMEDAY`, minutes >= 4 at 1 s
    scrapes): the stall recurs in
    episodes, each crashes the game until the team flips the circuit breaker, after which the episodes
    are absorbed (degraded answers, no failure, no crash); the team's records are in the journal
    (:func:`write_team`) and ``truth.team`` says what the report must find."""
    rng = random.Random(seed)
    run = RunDir.create("synthetic-five-crash", root)
    end = (end or datetime.now(UTC) - timedelta(minutes=2)).replace(microsecond=0)
    duration = minutes * 60
    start = end - timedelta(seconds=duration)
    fault_start = start + timedelta(seconds=duration * 0.25)
    fault_end = start + timedelta(seconds=duration * 0.7)
    alert_at = fault_start + timedelta(seconds=12)
    truth = Truth(run, start, end, fault_start, fault_end, alert_at)
    ticks = int(duration / scrape_s)
    fault_ticks = range(int(duration * 0.25 / scrape_s), int(duration * 0.7 / scrape_s))
    crash_ticks = [fault_ticks.start + (k + 1) * len(fault_ticks) // (crashes + 1) for k in range(crashes)]
    episodes = [fault_ticks]
    absorbed_from: int | None = None
    if gameday is not None:
        plan = gameday
        episodes = [
            range(int(at / scrape_s), int((at + plan.episode_s) / scrape_s))
            for at in plan.episode_starts(duration)
        ]
        absorbed_from = int(plan.flip_at / scrape_s) + 1
        crash_ticks = [
            ep.start + int(plan.crash_after_s / scrape_s) for ep in episodes if ep.start < absorbed_from
        ]
        truth.fault_start, truth.fault_end = (
            start + timedelta(seconds=episodes[0].start * scrape_s),
            start + timedelta(seconds=episodes[0].stop * scrape_s),
        )
        fault_start = truth.fault_start
        alert_at = truth.alert_at = fault_start + timedelta(seconds=plan.alert_after_s)
    in_episode = {k: ep for ep in episodes for k in ep}
    down_ticks = {t + d for t in crash_ticks for d in (1, 2)}
    journal = Journal(run.journal_path, "runner")
    journal.write("run", "started", ts=start, scenario="synthetic-five-crash", run_id=run.run_id)
    journal.write("phase", "started", ts=start, phase="timeline")
    journal.write("load", "started", ts=start + timedelta(seconds=1), users=rps, spawn_rate=rps)
    if baseline:
        journal.write(
            "fault",
            "injected",
            ts=start + timedelta(seconds=0.5),
            fault="odds-baseline",
            fault_type="dependency.latency",
            target="odds",
            params={"ms": 120},
            ttl_s=duration,
            handle={"id": "f0"},
        )
    if gameday is not None:
        for n, ep in enumerate(episodes, 1):
            name = f"{gameday.fault}#{n}"
            at, until = start.timestamp() + ep.start * scrape_s, start.timestamp() + ep.stop * scrape_s
            fields = {
                "fault": name,
                "fault_type": "dependency.stall",
                "target": "odds",
                "handle": {"id": name},
            }
            journal.write(
                "fault", "injected", ts=_utc(at), params={"ms": 8000}, ttl_s=ep.stop - ep.start, **fields
            )
            journal.write("fault", "expired", ts=_utc(until), **fields)
    else:
        journal.write(
            "fault",
            "injected",
            ts=fault_start,
            fault="odds-stall",
            fault_type="stall",
            target="odds",
            params={"ms": 8000},
            ttl_s=duration,
            handle={"id": "f1"},
        )

    # counters per process life (reset at each crash)
    ok = err = dep = retries = degraded = panics = 0
    rounds = {"win": 0, "lose": 0, "draw": 0}
    hist = [0] * (len(BUCKETS) + 1)
    hist_sum = 0.0
    samples: dict[str, list[tuple[str, float, float]]] = {}

    def put(family: str, series: str, t: float, v: float) -> None:
        samples.setdefault(family, []).append((series, t, v))

    client_hist: list[tuple[float, int, int]] = []
    outcomes = dict.fromkeys(("ok", "timeout", "connection", "http_5xx"), 0)
    memory = 60e6
    crash_iter = iter(crash_ticks)
    next_crash = next(crash_iter, None)
    for k in range(ticks + 1):
        t = start.timestamp() + k * scrape_s
        episode = in_episode.get(k)
        # the breaker is on: the stall is absorbed (degraded answers, no failure, no pile-up, no crash)
        absorbed = episode is not None and absorbed_from is not None and k >= absorbed_from
        in_fault = episode is not None and not absorbed
        n = round(rps * scrape_s) if k > 0 else 0
        down = k in down_ticks
        client_fail = n if down else 0
        if not down:
            bad = round(n * 0.3) if in_fault else 0
            good = n - bad
            ok += good
            err += bad
            truth.requests_total += n
            truth.requests_failed += bad
            client_fail = bad
            calls = n * (5 if in_fault else 0 if absorbed else 1)
            dep += calls
            retries += calls - n
            for _ in range(n):
                latency = rng.uniform(2.0, 9.0) if in_fault else rng.uniform(0.02, 0.15 + 0.2 * absorbed)
                idx = next((i for i, b in enumerate(BUCKETS) if latency <= b), len(BUCKETS))
                for j in range(idx, len(BUCKETS) + 1):
                    hist[j] += 1
                hist_sum += latency
            for _ in range(good):
                rounds[rng.choice(("win", "lose", "draw"))] += 1
            if (in_fault and episode is not None and k > episode.start + 20) or absorbed:
                d = n if absorbed else round(n * 0.2)
                degraded += d
                truth.degraded += d
            memory += 4e6 * scrape_s if in_fault else 0
            put(
                "rps_http_requests",
                'rps_http_requests_total{route="/play",method="POST",status="200",code=""}',
                t,
                ok,
            )
            put(
                "rps_http_requests",
                'rps_http_requests_total{route="/play",method="POST",status="503",code="ERR_DEPENDENCY"}',
                t,
                err,
            )
            for i, b in enumerate(BUCKETS):
                put(
                    "rps_http_request_duration_seconds",
                    f'rps_http_request_duration_seconds_bucket{{route="/play",method="POST",le="{b}"}}',
                    t,
                    hist[i],
                )
            put(
                "rps_http_request_duration_seconds",
                'rps_http_request_duration_seconds_bucket{route="/play",method="POST",le="+Inf"}',
                t,
                hist[-1],
            )
            put(
                "rps_http_request_duration_seconds",
                'rps_http_request_duration_seconds_count{route="/play",method="POST"}',
                t,
                hist[-1],
            )
            put(
                "rps_http_request_duration_seconds",
                'rps_http_request_duration_seconds_sum{route="/play",method="POST"}',
                t,
                hist_sum,
            )
            put(
                "rps_dependency_requests",
                'rps_dependency_requests_total{dependency="odds",operation="get_odds",outcome="ok"}',
                t,
                dep,
            )
            put(
                "rps_dependency_retries",
                'rps_dependency_retries_total{dependency="odds",operation="get_odds"}',
                t,
                retries,
            )
            inflight = (40 + (k - episode.start)) if in_fault and episode is not None else rng.randint(0, 3)
            put("rps_http_requests_in_flight", "rps_http_requests_in_flight", t, inflight)
            put("rps_dependency_in_flight", 'rps_dependency_in_flight{dependency="odds"}', t, inflight * 2)
            put("rps_degraded_answers", 'rps_degraded_answers_total{reason="fallback"}', t, degraded)
            put("rps_panics", 'rps_panics_total{where="background"}', t, panics)
            for res, cnt in rounds.items():
                put("rps_rounds", f'rps_rounds_total{{result="{res}"}}', t, cnt)
            put("process_resident_memory_bytes", 'process_resident_memory_bytes{job="game"}', t, memory)
            put("process_open_fds", 'process_open_fds{job="game"}', t, 30 + (inflight * 2 if in_fault else 0))
        if gameday is None:
            put(
                "crashlab_fault_active",
                'crashlab_fault_active{fault="odds-stall",type="stall",target="odds"}',
                t,
                1 if in_fault else 0,
            )
        if start.timestamp() + k * scrape_s >= alert_at.timestamp() and in_fault:
            put("ALERTS", f'ALERTS{{alertname="{ALERT}",alertstate="firing",severity="page"}}', t, 1)
        if players:
            if down:
                outcomes["connection"] += n
            else:
                late = round(n * 0.4) if in_fault else 0
                outcomes["http_5xx"] += bad
                outcomes["timeout"] += late
                outcomes["ok"] += n - bad - late
            for outcome, count in outcomes.items():
                put(
                    "crashlab_client_requests",
                    f'crashlab_client_requests_total{{route="/play",outcome="{outcome}"}}',
                    t,
                    count,
                )
        truth.client_requests += n
        truth.client_failures += client_fail
        client_hist.append((t, n, client_fail))
        if next_crash is not None and k == next_crash:
            ts = datetime.fromtimestamp(t + 0.5, UTC)
            journal.write(
                "process", "exited", ts=ts, service="game", pid=1000 + k, exit_code=2, reason="panic"
            )
            journal.write(
                "process",
                "restarted",
                ts=ts + timedelta(seconds=2 * scrape_s),
                service="game",
                pid=2000 + k,
                restarts=len(truth.crash_times) + 1,
            )
            truth.crash_times.append(ts)
            truth.crashes += 1
            truth.restarts += 1
            ok = err = dep = retries = degraded = panics = 0
            rounds = dict.fromkeys(rounds, 0)
            hist = [0] * (len(BUCKETS) + 1)
            hist_sum = 0.0
            memory = 60e6
            next_crash = next(crash_iter, None)
    journal.write("alert", "firing", ts=alert_at, alert=ALERT, severity="page", labels={})
    if gameday is not None:
        write_team(journal, start, end, truth, gameday)
    else:
        journal.write(
            "fault",
            "reverted",
            ts=fault_end,
            fault="odds-stall",
            fault_type="stall",
            target="odds",
            handle={"id": "f1"},
        )
    if baseline:
        journal.write(
            "fault",
            "reverted",
            ts=end - timedelta(seconds=0.5),
            fault="odds-baseline",
            fault_type="dependency.latency",
            target="odds",
            handle={"id": "f0"},
        )
    truth.players_requests = sum(outcomes.values())
    truth.players_failed = truth.players_requests - outcomes["ok"]
    journal.write("phase", "ended", ts=end, phase="timeline")
    journal.write("run", "ended", ts=end, scenario="synthetic-five-crash", run_id=run.run_id)

    run.update_manifest(
        run_id=run.run_id,
        scenario="synthetic-five-crash",
        runtime="local",
        start=iso(start),
        end=iso(end),
        urls={"prometheus": "http://127.0.0.1:9"},
        scrape_interval_s=scrape_s,
    )
    (run.path / "scenario.yaml").write_text(
        GAMEDAY_SCENARIO
        if gameday is not None
        else "name: synthetic-five-crash\n"
        "description: a dependency stall with a retry storm and panics (synthetic telemetry)\n"
        "report:\n  slo:\n    availability: 0.99\n    latency_ms: 500\n    latency_target: 0.95\n"
        f"expectations:\n  crashes: {{max: {crashes}}}\n  alerts_fired: [{ALERT}]\n"
        "  alerts_not_fired: [CrashLoop]\n  availability_min: 0.99\n",
        encoding="utf-8",
    )
    _write_traces(run, truth, rng, start, duration, rps)
    _write_logs(run, truth, rng, set(in_episode), start, scrape_s, ticks, rps)
    _write_locust(run, truth, client_hist)
    if with_prometheus:
        _write_tsdb(run, samples)
    return truth


@dataclass(frozen=True)
class GameDayPlan:
    """The synthetic game day (seconds since the start): a stall recurring in episodes, a page, a team."""

    fault: str = "handshake-stall"
    first_at: float = 20.0
    every: float = 40.0
    episode_s: float = 15.0
    #: each episode before the flip crashes the game this long after it starts
    crash_after_s: float = 10.0
    #: the page alert fires this long after the first episode starts
    alert_after_s: float = 8.0
    #: Alertmanager's startsAt -> the pager (group wait)
    delivery_s: float = 2.0
    #: the on-call acks the first page this long after it arrived (the scripted delay)
    ack_after_s: float = 5.0
    declare_at: float = 45.0
    hint_at: float = 70.0
    wish_at: float = 80.0
    #: a flip that changes nothing (rate limiting does not help a stalled dependency)
    no_effect_at: float = 85.0
    silence_at: float = 96.0
    #: a page of an alert without a runbook, acked by the scribe
    no_runbook_at: float = 100.0
    #: the circuit breaker: every later episode is absorbed
    flip_at: float = 122.0
    #: seconds before the end: a flip too late to judge
    late_before_end: float = 4.0

    def episode_starts(self, duration: float) -> list[float]:
        starts, at = [], self.first_at
        while at + self.episode_s <= duration - 5:
            starts.append(at)
            at += self.every
        return starts


GAMEDAY = GameDayPlan()
#: typed into a hypothesis: must come out escaped on the page and in report.md
NOTE_MARKUP = "odds <b>slow</b> & <script>alert('team')</script>"
NO_RUNBOOK_ALERT = "OddsSlowAnswers"
GAMEDAY_SCENARIO = f"""\
name: synthetic-gameday
description: a game day on the stalling odds gateway (synthetic telemetry, a team's records)
report:
  slo: {{availability: 0.99, latency_ms: 500, latency_target: 0.95}}
expectations:
  alerts_fired: [{ALERT}]
gameday:
  max_duration: 4m
  targets: {{ack: 10s, declare: 2m, mitigate: 1m, crashes_after_first_page: 1}}
  expected_mitigations:
    - {{action: flag, params: {{circuit_breaker: true}}, why: "fail fast instead of piling up"}}
    - {{action: deploy, params: {{profile: hardened}}, why: "every fix at once"}}
"""


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def write_team(journal: Journal, start: datetime, end: datetime, truth: Truth, plan: GameDayPlan) -> None:
    """The team's records of the synthetic game day (GAMEDAY.md's ``team`` and ``gameday`` events)."""
    t0 = start.timestamp()

    def team(event: str, at: float, **fields: object) -> None:
        journal.write("team", event, ts=_utc(t0 + at), **fields)

    def page(at: float, page_id: str, alert: str, fired: float, **annotations: str) -> None:
        team(
            "page",
            at,
            page_id=page_id,
            alert=alert,
            severity="page",
            status="firing",
            labels={"alertname": alert, "severity": "page"},
            annotations=annotations,
            starts_at=iso(_utc(t0 + fired)),
            receiver="pager",
            group_key=f"{{}}:{{alertname={alert}}}",
        )

    def act(
        at: float, actor: str, action_id: str, action: str, params: dict[str, object], **more: object
    ) -> None:
        result = "not_available" if action == "unavailable" else "ok"
        team(
            "action",
            at,
            actor=actor,
            action_id=action_id,
            action=action,
            params=params,
            result=result,
            **more,
        )

    journal.write("gameday", "started", ts=start, max_duration_s=(end - start).total_seconds())
    for n, (name, role) in enumerate((("ana", "incident_commander"), ("bo", "on_call"), ("cy", "scribe"))):
        team("joined", 1.0 + n, actor=name, role=role)
    fired = truth.alert_at.timestamp() - t0
    first = f"fp-1@{iso(truth.alert_at)}"
    links = {"runbook_url": f"docs/runbooks/{ALERT}.md", "graph_url": "http://127.0.0.1:9/graph"}
    for again in (0.0, 30.0):  # Alertmanager repeats the notification: one page
        page(fired + plan.delivery_s + again, first, ALERT, fired, **links)
    team("ack", fired + plan.delivery_s + plan.ack_after_s, actor="bo", page_id=first, alert=ALERT)
    team("declare", plan.declare_at, actor="ana", severity="SEV2", ic="ana")
    team("note", plan.declare_at + 5, actor="ana", note_id="n1", kind="hypothesis", text=NOTE_MARKUP)
    team(
        "note", plan.declare_at + 10, actor="bo", note_id="n2", kind="hypothesis", text="memory leak in game"
    )
    crash_loop_at = truth.crash_times[1].timestamp() - t0 + 3.0
    page(crash_loop_at, "fp-2", "CrashLoop", crash_loop_at - 1.0, runbook_url="docs/runbooks/CrashLoop.md")
    team("hint", plan.hint_at, actor="facilitator", text="What does the odds latency panel say?")
    act(plan.wish_at, "bo", "a1", "unavailable", {"wanted": "shed load at the edge"})
    team(
        "note",
        plan.wish_at + 8,
        actor="bo",
        note_id="n3",
        kind="drop",
        ref="n2",
        text="memory drops at restart",
    )
    act(plan.no_effect_at, "bo", "a2", "flag", {"rate_limit": True}, before={"rate_limit": False})
    act(plan.silence_at, "bo", "a3", "silence", {"alert": "CrashLoop", "duration": "30m", "comment": "known"})
    page(plan.no_runbook_at, "fp-3", NO_RUNBOOK_ALERT, plan.no_runbook_at - 1.0)
    team("ack", plan.no_runbook_at + 4, actor="cy", page_id="fp-3", alert=NO_RUNBOOK_ALERT)
    team("note", plan.flip_at - 2, actor="ana", note_id="n4", kind="decision", text="breaker on")
    act(plan.flip_at, "ana", "a4", "flag", {"circuit_breaker": True}, before={"circuit_breaker": False})
    duration = (end - start).total_seconds()
    act(duration - plan.late_before_end, "ana", "a5", "flag", {"fallback": True})
    team("resolve", duration - 2, actor="ana", summary="breaker on; the stalls are absorbed")
    journal.write("gameday", "ended", ts=end, reason="end_condition")


def _write_tsdb(run: RunDir, samples: dict[str, list[tuple[str, float, float]]]) -> None:
    types = {"ALERTS": "gauge", "rps_http_request_duration_seconds": "histogram"}
    lines = []
    for family, rows in samples.items():
        kind = types.get(family) or (
            "counter"
            if family.startswith(
                ("rps_http_requests", "rps_dep", "rps_deg", "rps_pan", "rps_rou", "crashlab_client_requests")
            )
            and "in_flight" not in family
            else "gauge"
        )
        lines.append(f"# TYPE {family} {kind}")
        by_series: dict[str, list[tuple[float, float]]] = {}
        for series, t, v in rows:
            by_series.setdefault(series, []).append((t, v))
        for series, points in by_series.items():
            lines += [f"{series} {_fmt(v)} {t:.3f}" for t, v in points]
    lines.append("# EOF")
    om = run.prometheus / "synthetic.om"
    om.write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = run.prometheus / "data"
    data.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [binaries.find("promtool"), "tsdb", "create-blocks-from", "openmetrics", str(om), str(data)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"promtool failed: {proc.stderr.strip()[-500:]}")
    om.unlink()
    (run.prometheus / "prometheus.yml").write_text("global:\n  scrape_interval: 1s\n", encoding="utf-8")


def _write_logs(
    run: RunDir,
    truth: Truth,
    rng: random.Random,
    fault_ticks: set[int],
    start: datetime,
    scrape_s: float,
    ticks: int,
    rps: int,
) -> None:
    lines = []
    for k in range(ticks):
        t = start + timedelta(seconds=k * scrape_s)
        lines += [
            {
                "ts": iso(t),
                "level": "info",
                "service": "game",
                "msg": "round played",
                "route": "/play",
                "status": 200,
            }
            for _ in range(round(rps * scrape_s))
        ]
        if k in fault_ticks:
            # the request's trace (one trace per request, rps a second)
            n = min(int(k * scrape_s * rps), len(truth.trace_ids) - 1)
            tid = truth.trace_ids[n] if truth.trace_ids else f"{rng.getrandbits(128):032x}"
            lines.append(
                {
                    "ts": iso(t),
                    "level": "error",
                    "service": "game",
                    "msg": "odds call failed: timeout after retries",
                    "code": "ERR_DEPENDENCY",
                    "kind": "third_party",
                    "trace_id": tid,
                    "status": 503,
                }
            )
            truth.log_errors_by_code["ERR_DEPENDENCY"] = truth.log_errors_by_code.get("ERR_DEPENDENCY", 0) + 1
    for ts in truth.crash_times:
        lines.append(
            {
                "ts": iso(ts),
                "level": "error",
                "service": "game",
                "msg": "panic: " + SCRIPT_LINE,
                "code": "PANIC",
            }
        )
        truth.log_errors_by_code["PANIC"] = truth.log_errors_by_code.get("PANIC", 0) + 1
    lines.sort(key=lambda x: str(x["ts"]))
    (run.logs / "game.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")


def _span(
    trace_id: str, span_id: str, parent: str, name: str, start_ns: int, dur_ns: int, error: bool
) -> dict[str, object]:
    return {
        "traceId": trace_id,
        "spanId": span_id,
        "parentSpanId": parent,
        "name": name,
        "kind": 2,
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(start_ns + dur_ns),
        "attributes": [{"key": "http.route", "value": {"stringValue": "/play"}}],
        "status": {"code": 2, "message": "dependency failed"} if error else {},
    }


def _write_traces(
    run: RunDir, truth: Truth, rng: random.Random, start: datetime, duration: float, rps: int
) -> None:
    """One trace per request (rps a second), as a traced service exports them."""
    out = []
    for n in range(int(duration * rps)):
        t = start.timestamp() + n / rps + 0.01
        in_fault = truth.fault_start.timestamp() <= t < truth.fault_end.timestamp()
        tid = f"{rng.getrandbits(128):032x}"
        root, child = f"{rng.getrandbits(64):016x}", f"{rng.getrandbits(64):016x}"
        dur = rng.uniform(2.0, 9.0) if in_fault else rng.uniform(0.02, 0.15)
        error = in_fault and n % 3 == 0
        spans = [
            _span(tid, root, "", "POST /play", int(t * 1e9), int(dur * 1e9), error),
            _span(tid, child, root, "GET odds", int((t + 0.001) * 1e9), int((dur - 0.002) * 1e9), error),
        ]
        out.append(
            {
                "resourceSpans": [
                    {
                        "resource": {
                            "attributes": [{"key": "service.name", "value": {"stringValue": "game"}}]
                        },
                        "scopeSpans": [{"scope": {"name": "crashlab"}, "spans": spans}],
                    }
                ]
            }
        )
        truth.trace_ids.append(tid)
    (run.traces / "game.jsonl").write_text("".join(json.dumps(x) + "\n" for x in out), encoding="utf-8")


def _write_locust(run: RunDir, truth: Truth, history: list[tuple[float, int, int]]) -> None:
    header = [
        "Type",
        "Name",
        "Request Count",
        "Failure Count",
        "Median Response Time",
        "Average Response Time",
        "Min Response Time",
        "Max Response Time",
        "Average Content Size",
        "Requests/s",
        "Failures/s",
        *LOCUST_PERCENTILES,
    ]
    duration = (truth.end - truth.start).total_seconds()
    row = [
        "POST",
        "/play",
        truth.client_requests,
        truth.client_failures,
        90,
        900,
        10,
        9500,
        120,
        truth.client_requests / duration,
        truth.client_failures / duration,
        90,
        110,
        130,
        150,
        3000,
        6000,
        8000,
        9000,
        9400,
        9500,
        9500,
    ]
    with (run.locust / "drill_stats.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerow(row)
        w.writerow(["", "Aggregated", *row[2:]])
    hist_header = [
        "Timestamp",
        "User Count",
        "Type",
        "Name",
        "Requests/s",
        "Failures/s",
        *LOCUST_PERCENTILES,
        "Total Request Count",
        "Total Failure Count",
        "Total Median Response Time",
        "Total Average Response Time",
        "Total Min Response Time",
        "Total Max Response Time",
        "Total Average Content Size",
    ]
    total_req = total_fail = 0
    with (run.locust / "drill_stats_history.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(hist_header)
        for t, n, f in history:
            total_req += n
            total_fail += f
            p = 6000 if f else 100
            w.writerow(
                [
                    int(t),
                    20,
                    "",
                    "Aggregated",
                    n,
                    f,
                    90,
                    100,
                    110,
                    120,
                    130,
                    p,
                    p,
                    p,
                    p,
                    p,
                    p,
                    total_req,
                    total_fail,
                    90,
                    100,
                    10,
                    9500,
                    120,
                ]
            )
    with (run.locust / "drill_failures.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["Method", "Name", "Error", "Occurrences"])
        w.writerow(["POST", "/play", "HTTPError('503 Server Error')", truth.client_failures])
