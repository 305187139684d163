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


def read_journal(path: Path) -> list[JournalEvent]:
    """All events of a journal, in file order; a torn last line (a killed writer) is skipped."""
    return list(iter_journal(path))


def iter_journal(path: Path) -> Iterator[JournalEvent]:
    if not path.exists():
        return
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError:
                continue
            ts = parse_iso(raw.pop("ts"))
            yield JournalEvent(
                ts=ts,
                type=raw.pop("type"),
                event=raw.pop("event"),
                source=raw.pop("source", ""),
                fields=raw,
            )
