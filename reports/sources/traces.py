"""Traces: the run's OTLP JSON lines (``traces/<service>.jsonl``) or Tempo's ``/api/traces/<id>``."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from reports.model import SourceProblem, Window

MAX_LINES = 200_000


@dataclass(frozen=True)
class SpanRec:
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    service: str
    start: float
    end: float
    error: bool
    status_message: str
    raw_attributes: list[dict[str, Any]] = field(hash=False, compare=False)

    @property
    def attributes(self) -> dict[str, Any]:
        return _attrs(self.raw_attributes)

    @property
    def duration_s(self) -> float:
        return max(0.0, self.end - self.start)


@dataclass
class TraceData:
    origin: str
    #: trace id -> its spans (start order)
    traces: dict[str, list[SpanRec]]

    def root(self, trace_id: str) -> SpanRec | None:
        spans = self.traces.get(trace_id) or []
        ids = {s.span_id for s in spans}
        roots = [s for s in spans if not s.parent_id or s.parent_id not in ids]
        return min(roots, key=lambda s: s.start) if roots else None

    def duration(self, trace_id: str) -> float:
        spans = self.traces.get(trace_id) or []
        return max(s.end for s in spans) - min(s.start for s in spans) if spans else 0.0

    def failed(self, trace_id: str) -> bool:
        return any(s.error for s in self.traces.get(trace_id) or [])


def _value(v: Any) -> Any:
    if not isinstance(v, dict):
        return None
    for key in ("stringValue", "intValue", "doubleValue", "boolValue"):
        if key in v:
            return v[key]
    return None


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The objects of a JSON list (anything else in an OTLP document is ignored, never a crash)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _attrs(items: Any) -> dict[str, Any]:
    return {str(a.get("key", "")): _value(a.get("value")) for a in _dicts(items)}


def _nanos(value: Any) -> float:
    try:
        return int(value) / 1e9
    except (TypeError, ValueError):
        return 0.0


def _is_error(status: dict[str, Any]) -> bool:
    return status.get("code") in (2, "2", "STATUS_CODE_ERROR")


def spans_of(request: dict[str, Any]) -> Iterable[SpanRec]:
    """The spans of one OTLP/JSON ``ExportTraceServiceRequest`` (or Tempo's ``batches`` form); parts of
    the wrong shape are skipped."""
    for rs in _dicts(request.get("resourceSpans", request.get("batches"))):
        resource = rs.get("resource")
        service = str(
            _attrs(resource.get("attributes") if isinstance(resource, dict) else None).get("service.name")
            or ""
        )
        for ss in _dicts(rs.get("scopeSpans", rs.get("instrumentationLibrarySpans"))):
            for sp in _dicts(ss.get("spans")):
                raw_status = sp.get("status")
                status: dict[str, Any] = raw_status if isinstance(raw_status, dict) else {}
                attributes = sp.get("attributes")
                yield SpanRec(
                    trace_id=str(sp.get("traceId", "")).lower(),
                    span_id=str(sp.get("spanId", "")).lower(),
                    parent_id=str(sp.get("parentSpanId", "") or "").lower(),
                    name=str(sp.get("name", "")),
                    service=service,
                    start=_nanos(sp.get("startTimeUnixNano")),
                    end=_nanos(sp.get("endTimeUnixNano")),
                    error=_is_error(status),
                    status_message=str(status.get("message", "")),
                    raw_attributes=_dicts(attributes),
                )


def load_trace_files(directory: Path, window: Window, slack_s: float = 5.0) -> TraceData | SourceProblem:
    files = sorted(directory.glob("*.jsonl")) if directory.is_dir() else []
    if not files:
        return SourceProblem("traces", f"{directory}: no *.jsonl OTLP trace files")
    traces: dict[str, list[SpanRec]] = {}
    lo, hi = window.start_s - slack_s, window.end_s + slack_s
    lines = 0
    for path in files:
        try:
            with path.open(encoding="utf-8", errors="replace") as fh:
                for text in fh:
                    lines += 1
                    if lines > MAX_LINES:
                        break
                    try:
                        request = json.loads(text)
                    except (json.JSONDecodeError, RecursionError):
                        continue
                    if not isinstance(request, dict):
                        continue
                    for span in spans_of(request):
                        if lo <= span.start <= hi and span.trace_id:
                            traces.setdefault(span.trace_id, []).append(span)
        except OSError as exc:
            return SourceProblem("traces", f"{path}: unreadable ({exc})")
    for spans in traces.values():
        spans.sort(key=lambda s: s.start)
    return TraceData(origin=str(directory), traces=traces)


def load_tempo(url: str, trace_ids: Iterable[str], timeout_s: float = 5.0) -> TraceData | SourceProblem:
    traces: dict[str, list[SpanRec]] = {}
    problems: list[str] = []
    with requests.Session() as session:
        for trace_id in list(dict.fromkeys(trace_ids))[:20]:
            try:
                resp = session.get(
                    f"{url}/api/traces/{trace_id}", headers={"Accept": "application/json"}, timeout=timeout_s
                )
                if resp.status_code != 200:
                    problems.append(f"{trace_id}: HTTP {resp.status_code}")
                    continue
                body = resp.json()
                for span in spans_of(body) if isinstance(body, dict) else []:
                    traces.setdefault(span.trace_id, []).append(span)
            except (requests.RequestException, ValueError) as exc:
                return SourceProblem("traces", f"Tempo {url}: {type(exc).__name__}: {exc}")
    if not traces and problems:
        return SourceProblem("traces", f"Tempo {url}: no trace found ({'; '.join(problems[:3])})")
    return TraceData(origin=f"tempo {url}", traces=traces)
