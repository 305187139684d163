"""The one Prometheus HTTP API client: the drill runner, its probes and guardrails, the evaluator
(chaos.verdict) and the reporter all talk to Prometheus through :class:`Prometheus`.

It is synchronous (``requests``, a connection per call: nothing to close) and may be shared by threads;
async callers run it with ``asyncio.to_thread``. Every failure is a :class:`PrometheusError` naming the
query and the URL.

Counters: :meth:`Prometheus.raw` returns a counter's raw samples (an instant query of ``selector[range]``)
and :func:`counter_increase` adds them up exactly across process restarts, so a total computed from the
same samples is the same number wherever it is computed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests

from crashlab.errors import CrashlabError

When = float | datetime


class PrometheusError(CrashlabError):
    """A query to Prometheus failed; the message names the query and the URL."""


@dataclass(frozen=True)
class Sample:
    """One series of an instant query."""

    labels: dict[str, str]
    value: float


@dataclass
class Series:
    """One time series: labels and ``(unix seconds, value)`` points in time order."""

    labels: dict[str, str]
    points: list[tuple[float, float]] = field(default_factory=list)

    def values(self) -> list[float]:
        return [v for _, v in self.points]


@dataclass(frozen=True)
class Exemplar:
    ts: float
    value: float
    trace_id: str
    labels: dict[str, str]


def _seconds(when: When) -> float:
    return when.timestamp() if isinstance(when, datetime) else float(when)


def _labels(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _series(result: Any) -> list[Series]:
    out = []
    for item in result if isinstance(result, list) else []:
        if not isinstance(item, dict):
            continue
        values = item.get("values") or []
        points = [(_float(p[0]), _float(p[1])) for p in values if isinstance(p, list) and len(p) == 2]
        out.append(
            Series(
                labels=_labels(item.get("metric")),
                points=[(t, v) for t, v in points if math.isfinite(v) and math.isfinite(t)],
            )
        )
    return out


class Prometheus:
    """The HTTP API of one Prometheus (``url`` without a trailing ``/api``)."""

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    def _get(self, path: str, params: dict[str, str], what: str, timeout_s: float | None = None) -> Any:
        """The ``data`` of a successful API answer."""
        url = f"{self.url}{path}"
        try:
            resp = requests.get(url, params=params, timeout=timeout_s or self.timeout_s)
            body = resp.json()
        except (requests.RequestException, ValueError) as exc:
            raise PrometheusError(f"{what} at {url} failed: {type(exc).__name__}: {exc}") from None
        if not isinstance(body, dict) or body.get("status") != "success":
            why = body.get("error", body) if isinstance(body, dict) else body
            raise PrometheusError(f"{what} at {url}: HTTP {resp.status_code}: {str(why)[:300]}")
        return body.get("data")

    # --- the API ----------------------------------------------------------------------------------
    def ready(self, timeout_s: float = 2.0) -> str | None:
        """None when Prometheus answers ``/-/ready``, else why not."""
        try:
            resp = requests.get(f"{self.url}/-/ready", timeout=timeout_s)
        except requests.RequestException as exc:
            return f"{self.url} does not answer ({type(exc).__name__})"
        return None if resp.status_code == 200 else f"HTTP {resp.status_code} from {self.url}/-/ready"

    def scraped_jobs(self) -> set[str]:
        """The jobs with at least one active target whose last scrape succeeded."""
        data = self._get("/api/v1/targets", {"state": "active"}, "targets")
        targets = data.get("activeTargets") if isinstance(data, dict) else None
        return {
            _labels(t.get("labels")).get("job", "")
            for t in targets or []
            if isinstance(t, dict) and t.get("health") == "up"
        }

    def alertmanagers(self) -> list[str]:
        """The URLs of the Alertmanagers Prometheus currently sends its alerts to."""
        data = self._get("/api/v1/alertmanagers", {}, "alertmanagers")
        active = data.get("activeAlertmanagers") if isinstance(data, dict) else None
        return [str(a.get("url")) for a in active or [] if isinstance(a, dict) and a.get("url")]

    def query(self, promql: str, at: When | None = None, timeout_s: float | None = None) -> list[Sample]:
        """An instant query that returns a vector (or a scalar, as one unlabelled sample)."""
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{_seconds(at):.3f}"
        data = self._get("/api/v1/query", params, f"query {promql!r}", timeout_s)
        kind = data.get("resultType") if isinstance(data, dict) else None
        result = data.get("result") if isinstance(data, dict) else None
        if kind == "scalar" and isinstance(result, list) and len(result) == 2:
            return [Sample({}, _float(result[1]))]
        if kind != "vector" or not isinstance(result, list):
            raise PrometheusError(f"query {promql!r}: expected an instant vector, got {kind}")
        out = []
        for item in result:
            value = item.get("value") if isinstance(item, dict) else None
            if isinstance(value, list) and len(value) == 2:
                out.append(Sample(_labels(item.get("metric")), _float(value[1])))
        return out

    def scalar(self, promql: str, at: When | None = None) -> float | None:
        """The first series' value (None when the query returns nothing or NaN)."""
        samples = self.query(promql, at)
        if not samples or math.isnan(samples[0].value):
            return None
        return samples[0].value

    def raw(self, selector: str, start: When, end: When) -> list[Series]:
        """The raw samples of a series selector (no functions) in ``[start, end]``: an instant query of
        ``selector[range]`` at ``end``; exact, whatever the scrape interval."""
        lo, hi = _seconds(start), _seconds(end)
        span_ms = max(1, math.ceil((hi - lo) * 1000) + 1)
        promql = f"{selector}[{span_ms}ms]"
        data = self._get(
            "/api/v1/query", {"query": promql, "time": f"{hi:.3f}"}, f"query {promql!r}", self.timeout_s * 3
        )
        if not isinstance(data, dict) or data.get("resultType") != "matrix":
            kind = data.get("resultType") if isinstance(data, dict) else None
            raise PrometheusError(f"query {promql!r}: expected a range vector, got {kind}")
        series = _series(data.get("result"))
        for s in series:
            s.points = [(t, v) for t, v in s.points if lo <= t <= hi]
        return series

    def query_range(self, promql: str, start: When, end: When, step_s: float) -> list[Series]:
        params = {
            "query": promql,
            "start": f"{_seconds(start):.3f}",
            "end": f"{_seconds(end):.3f}",
            "step": f"{step_s:g}s",
        }
        data = self._get("/api/v1/query_range", params, f"range query {promql!r}", self.timeout_s * 3)
        if not isinstance(data, dict) or data.get("resultType") != "matrix":
            raise PrometheusError(f"range query {promql!r}: no matrix in the answer")
        return _series(data.get("result"))

    def exemplars(self, selector: str, start: When, end: When) -> list[Exemplar]:
        """The exemplars of ``selector`` in the range that carry a trace id."""
        params = {"query": selector, "start": f"{_seconds(start):.3f}", "end": f"{_seconds(end):.3f}"}
        data = self._get("/api/v1/query_exemplars", params, f"exemplars of {selector!r}", self.timeout_s * 2)
        out = []
        for group in data if isinstance(data, list) else []:
            if not isinstance(group, dict):
                continue
            series_labels = _labels(group.get("seriesLabels"))
            exemplars = group.get("exemplars")
            for ex in exemplars if isinstance(exemplars, list) else []:
                if not isinstance(ex, dict):
                    continue
                labels = _labels(ex.get("labels"))
                trace_id = labels.get("trace_id") or labels.get("traceID") or ""
                if trace_id:
                    out.append(
                        Exemplar(
                            ts=_float(ex.get("timestamp")),
                            value=_float(ex.get("value")),
                            trace_id=trace_id.lower(),
                            labels=series_labels,
                        )
                    )
        return out


# --- counters ------------------------------------------------------------------------------------


def counter_increase(series: Series, since: float) -> float:
    """How much a counter grew after ``since``, across process restarts.

    Points at or before ``since`` only give the baseline (query from a little earlier for it). A series
    with no point before ``since`` was born after it (a process started during the drill), so its first
    value counts in full; a drop is a restart (a new process counts from 0 again), as in Prometheus' own
    ``increase``, but without extrapolation.
    """
    total = 0.0
    prev: float | None = None
    for t, v in series.points:
        if t <= since:
            prev = v
            continue
        total += v if prev is None or v < prev else v - prev
        prev = v
    return total


def cumulative_increase(series: Iterable[Series], since: float) -> list[tuple[float, float]]:
    """The summed running increase of counters after ``since`` (same rules as counter_increase)."""
    deltas: dict[float, float] = {}
    for s in series:
        prev: float | None = None
        for t, v in s.points:
            if t <= since:
                prev = v
                continue
            deltas[t] = deltas.get(t, 0.0) + (v if prev is None or v < prev else v - prev)
            prev = v
    out = []
    running = 0.0
    for t in sorted(deltas):
        running += deltas[t]
        out.append((t, running))
    return out


def increases_by(series: Iterable[Series], label: str, since: float) -> dict[str, float]:
    """Counter increases summed by the value of ``label``."""
    out: dict[str, float] = {}
    for s in series:
        key = s.labels.get(label, "")
        out[key] = out.get(key, 0.0) + counter_increase(s, since)
    return out


def total_increase(series: Iterable[Series], since: float) -> float:
    return sum(counter_increase(s, since) for s in series)
