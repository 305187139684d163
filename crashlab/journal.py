"""The run journal: ``runs/<run-id>/journal.jsonl``, one event a line.

Several processes (the supervisor, the drill runner) append to one journal. Each
event is written with a single ``write`` on a file opened with ``O_APPEND``, so
lines never interleave.

Every line is a JSON object with at least::

    {"ts": "2026-11-29T17:40:01.123Z", "type": "fault", "event": "injected", "source": "runner", ...}

``type`` is one of :data:`EVENT_TYPES`; the remaining keys are the event's fields.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from crashlab.timeutil import iso, parse_iso, utcnow

#: The event types of the journal contract (DESIGN.md).
EVENT_TYPES = frozenset(
    {
        "run",
        "phase",
        "fault",
        "probe",
        "guardrail",
        "process",
        "alert",
        "load",
        "expectation",
        "stack",
        "flag",
    }
)


@dataclass(frozen=True)
class JournalEvent:
    ts: datetime
    type: str
    event: str
    source: str
    fields: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)

    def to_json(self) -> dict[str, Any]:
        head = {"ts": iso(self.ts), "type": self.type, "event": self.event, "source": self.source}
        return {**head, **self.fields}


class Journal:
    """Appends events to one ``journal.jsonl``; safe across threads and processes."""

    def __init__(self, path: Path, source: str) -> None:
        self.path = path
        self.source = source
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, type: str, event: str, *, ts: datetime | None = None, **fields: Any) -> JournalEvent:
        if type not in EVENT_TYPES:
            raise ValueError(f"unknown journal event type {type!r}; expected one of {sorted(EVENT_TYPES)}")
        record = JournalEvent(ts=ts or utcnow(), type=type, event=event, source=self.source, fields=fields)
        line = (json.dumps(record.to_json(), default=str, separators=(",", ":")) + "\n").encode()
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        return record


@dataclass(frozen=True)
class BadLine:
    """A journal line that is not an event: its file, 1-based line number and why."""

    path: Path
    line: int
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.why}"


def parse_event(text: str) -> JournalEvent:
    """One journal line as an event; ``ValueError`` says why it is not one."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg})") from None
    except RecursionError:
        raise ValueError("not JSON (nested too deep)") from None
    if not isinstance(raw, dict):
        raise ValueError(f"not a JSON object (got {type(raw).__name__})")
    missing = [key for key in ("ts", "type", "event") if key not in raw]
    if missing:
        raise ValueError(f"no {', '.join(repr(k) for k in missing)}")
    ts, type_, event, source = raw.pop("ts"), raw.pop("type"), raw.pop("event"), raw.pop("source", "")
    if not isinstance(ts, str):
        raise ValueError(f"'ts' is not a timestamp string (got {type(ts).__name__})")
    try:
        when = parse_iso(ts)
    except ValueError:
        raise ValueError(f"'ts' is not an ISO timestamp ({ts[:40]!r})") from None
    if not isinstance(type_, str) or not isinstance(event, str):
        raise ValueError("'type' and 'event' must be strings")
    return JournalEvent(ts=when, type=type_, event=event, source=str(source), fields=raw)


def scan_journal(path: Path) -> tuple[list[JournalEvent], list[BadLine]]:
    """Every event of a journal in file order, and every line that is not one (named by line number);
    one bad line never hides the others."""
    events: list[JournalEvent] = []
    bad: list[BadLine] = []
    if not path.exists():
        return events, bad
    with path.open(encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                events.append(parse_event(line))
            except ValueError as exc:
                bad.append(BadLine(path, number, str(exc)))
    return events, bad


def read_journal(path: Path) -> list[JournalEvent]:
    """All events of a journal, in file order; lines that are not events (a torn last line of a killed
    writer, a malformed line) are skipped (:func:`scan_journal` names them)."""
    return scan_journal(path)[0]


def iter_journal(path: Path) -> Iterator[JournalEvent]:
    yield from read_journal(path)
