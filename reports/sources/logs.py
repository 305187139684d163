"""Log lines: the run's JSON-lines files (``logs/<service>.jsonl``) or Loki's ``query_range`` (Docker)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from crashlab.timeutil import parse_iso
from reports.model import SourceProblem, Window

#: Lines kept as evidence: errors, and anything that carries an error code or a 5xx status.
ERROR_LEVELS = frozenset({"error", "critical", "fatal", "panic", "exception"})
MAX_LINES = 1_000_000


@dataclass(frozen=True)
class LogLine:
    ts: float
    level: str
    service: str
    msg: str
    code: str
    trace_id: str
    status: int | None
    raw: dict[str, Any] = field(hash=False, compare=False)

    @property
    def is_error(self) -> bool:
        return self.level.lower() in ERROR_LEVELS or (self.status is not None and self.status >= 500)


@dataclass
class LogData:
    origin: str
    lines_total: int
    #: error lines only (see LogLine.is_error), in time order
    errors: list[LogLine]
    unparsable: int = 0


def _ts(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value) / 1e9 if value > 1e12 else float(value)
    if isinstance(value, str):
        try:
            return parse_iso(value).timestamp()
        except ValueError:
            return None
    return None


def to_line(raw: dict[str, Any], service: str) -> LogLine | None:
    ts = _ts(raw.get("ts", raw.get("time", raw.get("timestamp"))))
    if ts is None:
        return None
    status = raw.get("status")
    return LogLine(
        ts=ts,
        level=str(raw.get("level", "")),
        service=str(raw.get("service", service)),
        msg=str(raw.get("msg", raw.get("message", ""))),
        code=str(raw.get("code") or ""),
        trace_id=str(raw.get("trace_id") or ""),
        status=int(status)
        if (isinstance(status, int | float) and math.isfinite(status))
        or (isinstance(status, str) and status.isdigit())
        else None,
        raw=raw,
    )


def load_log_files(directory: Path, window: Window, slack_s: float = 5.0) -> LogData | SourceProblem:
    files = sorted(directory.glob("*.jsonl")) if directory.is_dir() else []
    if not files:
        return SourceProblem("logs", f"{directory}: no *.jsonl log files")
    data = LogData(origin=str(directory), lines_total=0, errors=[])
    lo, hi = window.start_s - slack_s, window.end_s + slack_s
    for path in files:
        try:
            with path.open(encoding="utf-8", errors="replace") as fh:
                for text in fh:
                    if data.lines_total >= MAX_LINES:
                        break
                    data.lines_total += 1
                    try:
                        raw = json.loads(text)
                    except (json.JSONDecodeError, RecursionError):
                        data.unparsable += 1
                        continue
                    if not isinstance(raw, dict):
                        data.unparsable += 1
                        continue
                    line = to_line(raw, path.stem)
                    if line is None:
                        data.unparsable += 1
                    elif line.is_error and lo <= line.ts <= hi:
                        data.errors.append(line)
        except OSError as exc:
            return SourceProblem("logs", f"{path}: unreadable ({exc})")
    data.errors.sort(key=lambda x: x.ts)
    return data


def load_loki(
    url: str, window: Window, limit: int = 5000, timeout_s: float = 10.0
) -> LogData | SourceProblem:
    """Error lines from Loki (``{service=~".+"}`` with a level/status filter) over the window."""
    query = '{service=~".+"} |~ "(?i)\\"level\\": ?\\"(error|critical|fatal)\\"|\\"status\\": ?5[0-9][0-9]"'
    params: dict[str, str | int] = {
        "query": query,
        "start": int(window.start_s * 1e9),
        "end": int(window.end_s * 1e9),
        "limit": limit,
        "direction": "forward",
    }
    try:
        with requests.Session() as session:
            resp = session.get(f"{url}/loki/api/v1/query_range", params=params, timeout=timeout_s)
            if resp.status_code != 200:
                return SourceProblem("logs", f"Loki {url}: HTTP {resp.status_code}: {resp.text[:200]}")
            body = resp.json()
    except (requests.RequestException, ValueError) as exc:
        return SourceProblem("logs", f"Loki {url}: {type(exc).__name__}: {exc}")
    data = LogData(origin=f"loki {url}", lines_total=0, errors=[])
    found = body.get("data") if isinstance(body, dict) else None
    streams = found.get("result") if isinstance(found, dict) else None
    for stream in streams if isinstance(streams, list) else []:
        if not isinstance(stream, dict):
            continue
        labels = stream.get("stream")
        service = str(labels.get("service", "")) if isinstance(labels, dict) else ""
        values = stream.get("values")
        for pair in values if isinstance(values, list) else []:
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[1], str)):
                continue
            ts_ns, text = pair
            data.lines_total += 1
            try:
                raw = json.loads(text)
            except (json.JSONDecodeError, RecursionError):
                raw = {"msg": text, "level": "error"}
            if not isinstance(raw, dict):
                raw = {"msg": str(raw), "level": "error"}
            raw.setdefault("ts", int(ts_ns))
            line = to_line(raw, service)
            if line is not None:
                data.errors.append(line)
    data.errors.sort(key=lambda x: x.ts)
    if data.lines_total >= limit:
        data.origin += f" (first {limit} error lines only: counts are lower bounds)"
    return data
