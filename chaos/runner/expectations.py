"""The verdict: every expectation of the scenario, measured over the drill window from Prometheus
and the journal (crashes: the supervisor's ``process exited`` events with a reason other than
``clean``)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from chaos.runner import events as ev
from chaos.runner.probes import Prometheus, PrometheusError
from chaos.scenario.model import CountRange, Expectations
from crashlab.journal import read_journal
from stack.prometheus.generate import CLIENT_BAD_OUTCOMES

PLAY = 'route="/play"'
#: the players' outcomes that are failures (timeouts, refused or reset connections, 5xx); as in the
#: player-availability SLO of stack/prometheus/generate.py
CLIENT_BAD = f'outcome=~"{CLIENT_BAD_OUTCOMES}"'


async def availability(prom: Prometheus | None, w: str, at: float) -> float | None:
    """Availability as the players saw it (the load generator's counters, like a load balancer's),
    or, when no load ran, as the game counted it (status not 5xx). A crashed or hung process answers
    nothing, so only the players' view sees those requests fail."""
    players = await _value(
        prom,
        f"(sum(increase(crashlab_client_requests_total{{{PLAY},{CLIENT_BAD}}}[{w}])) or vector(0))"
        f" / sum(increase(crashlab_client_requests_total{{{PLAY}}}[{w}]))",
        at,
    )
    if players is not None:
        return 1 - players
    return await _value(
        prom,
        f'sum(increase(rps_http_requests_total{{{PLAY},status!~"5.."}}[{w}]))'
        f" / sum(increase(rps_http_requests_total{{{PLAY}}}[{w}]))",
        at,
    )


def count_crashes(journals: Iterable[Path], start: datetime, end: datetime) -> int:
    seen: set[tuple[str, str, Any]] = set()
    for path in journals:
        for event in read_journal(path):
            crashed = event.type == "process" and event.event == "exited" and event.get("reason") != "clean"
            if crashed and start <= event.ts <= end:
                seen.add((event.ts.isoformat(), str(event.get("service")), event.get("pid")))
    return len(seen)


def fired_in_journal(journals: Iterable[Path], start: datetime, end: datetime) -> set[str]:
    names: set[str] = set()
    for path in journals:
        for event in read_journal(path):
            if event.type == "alert" and event.event == "firing" and start <= event.ts <= end:
                names.add(str(event.get("alert")))
    return names


def _window(start: datetime, end: datetime) -> str:
    return f"{max(1, math.ceil((end - start).total_seconds()))}s"


async def _value(prom: Prometheus | None, promql: str, at: float) -> float | None:
    if prom is None:
        return None
    try:
        return await prom.scalar(promql, at)
    except PrometheusError:
        return None


async def evaluate(
    exp: Expectations,
    prom: Prometheus | None,
    start: datetime,
    end: datetime,
    journals: list[Path],
) -> list[ev.ExpectationChecked]:
    out: list[ev.ExpectationChecked] = []
    at = end.timestamp()
    w = _window(start, end)
    if exp.crashes is not None:
        crashes = count_crashes(journals, start, end)
        if isinstance(exp.crashes, CountRange):
            lo, hi = exp.crashes.min, exp.crashes.max
            met = (lo is None or crashes >= lo) and (hi is None or crashes <= hi)
            expected: Any = exp.crashes.model_dump(exclude_none=True)
        else:
            met, expected = crashes == exp.crashes, exp.crashes
        out.append(ev.ExpectationChecked("crashes", met, expected, crashes))
    if exp.alerts_fired or exp.alerts_not_fired:
        fired = fired_in_journal(journals, start, end)
        if prom is not None:
            try:
                samples = await prom.query(f'max_over_time(ALERTS{{alertstate="firing"}}[{w}])', at)
                fired |= {s.labels.get("alertname", "") for s in samples}
            except PrometheusError:
                pass
        for alert in exp.alerts_fired:
            out.append(ev.ExpectationChecked(f"alerts_fired:{alert}", alert in fired, "fired", sorted(fired)))
        for alert in exp.alerts_not_fired:
            out.append(
                ev.ExpectationChecked(
                    f"alerts_not_fired:{alert}", alert not in fired, "not fired", sorted(fired)
                )
            )
    if exp.availability_min is not None or exp.availability_max is not None:
        avail = await availability(prom, w, at)
        measured = None if avail is None else round(avail, 5)
        if exp.availability_min is not None:
            met = avail is not None and avail >= exp.availability_min
            out.append(ev.ExpectationChecked("availability_min", met, exp.availability_min, measured))
        if exp.availability_max is not None:
            met = avail is not None and avail <= exp.availability_max
            out.append(ev.ExpectationChecked("availability_max", met, exp.availability_max, measured))
    if exp.max_p99_ms is not None:
        p99 = await _value(
            prom,
            "max_over_time((histogram_quantile(0.99, sum by (le) "
            f"(rate(rps_http_request_duration_seconds_bucket{{{PLAY}}}[5s]))))[{w}:1s])",
            at,
        )
        measured = None if p99 is None else round(p99 * 1000, 1)
        met = measured is not None and measured <= exp.max_p99_ms
        out.append(ev.ExpectationChecked("max_p99_ms", met, exp.max_p99_ms, measured))
    if exp.degraded_min is not None:
        degraded = await _value(prom, f"sum(increase(rps_degraded_answers_total[{w}]))", at)
        measured = None if degraded is None else round(degraded)
        met = measured is not None and measured >= exp.degraded_min
        out.append(ev.ExpectationChecked("degraded_min", met, exp.degraded_min, measured))
    return out
