"""The run journal: ``runs/<run-id>/journal.jsonl``, one event a line.

Several processes (the supervisor, the drill runner) append to one journal. Each
event is written with a single ``write`` on a file opened with ``O_APPEND``, so
lines never interleave.

Every line is a JSON object with at least::

    {"ts": "2026-11-29T17:40:01.123Z", "type": "fault", "event": "injected", "source": "runner", ...}

``type`` is one of :data:`EVENT_TYPES`; the remaining keys are the event's fields.
"""

from __future__ import annotations

import errno
import json
import logging
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
        "team",
        "gameday",
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


#: a journal line longer than this is skipped unread (a journal line is a few hundred bytes)
MAX_LINE_BYTES = 1024 * 1024
#: without a list to fill, :func:`read_journal` logs this many bad lines per file, then a count
_LOGGED_BAD_LINES = 3

log = logging.getLogger("crashlab.journal")


@dataclass(frozen=True)
class BadLine:
    """A journal line that is not an event: its file, 1-based line number and why."""

    path: Path
    line: int
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.why}"


def parse_event(text: str | bytes) -> JournalEvent:
    """One journal line as an event; ``ValueError`` says why it is not one."""
    try:
        raw = json.loads(text)
    except RecursionError:
        raise ValueError("not JSON (nested too deep)") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer too long
        raise ValueError(f"not JSON ({str(exc).splitlines()[0][:80]})") from None
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
    except (ValueError, OverflowError):
        raise ValueError(f"'ts' is not an ISO timestamp ({ts[:40]!r})") from None
    if not isinstance(type_, str) or not isinstance(event, str):
        raise ValueError("'type' and 'event' must be strings")
    return JournalEvent(ts=when, type=type_, event=event, source=str(source), fields=raw)


#: how every record starts (``Journal.write``): where a record glued to a torn one begins
_RECORD_HEAD = b'{"ts":'


def parse_line(raw: bytes) -> tuple[JournalEvent, int]:
    """One journal line as an event, and how many bytes of a torn record came before it (0 for a whole
    line). A writer killed in the middle of its ``write`` leaves a line without its end, and the next
    record is appended to it: that record is found where ``{"ts":`` starts a valid event (inside a JSON
    string the quote is escaped, so a record can only start there). ``ValueError`` says why the line
    holds no event."""
    try:
        return parse_event(raw), 0
    except ValueError as exc:
        first = exc
    start = raw.find(_RECORD_HEAD, 1)
    while start != -1:
        try:
            return parse_event(raw[start:]), start
        except ValueError:
            start = raw.find(_RECORD_HEAD, start + 1)
    raise first


def _events(path: Path, bad: list[BadLine]) -> Iterator[JournalEvent]:
    """The events of a journal in file order; each line that is not one goes to ``bad``. ``OSError``
    when the file cannot be read (a missing file has no events)."""
    if not path.exists():
        return
    if not path.is_file():  # a directory, or /dev/zero or a FIFO in a copied run: never read forever
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    with path.open("rb") as fh:
        number = 0
        while raw := fh.readline(MAX_LINE_BYTES + 1):
            number += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                while (rest := fh.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                    pass
                bad.append(BadLine(path, number, f"longer than {MAX_LINE_BYTES} bytes"))
                continue
            if not raw.strip():
                continue
            try:
                event, torn = parse_line(raw)
            except ValueError as exc:
                bad.append(BadLine(path, number, str(exc)))
                continue
            if torn:
                bad.append(BadLine(path, number, f"{torn} bytes of a torn record before this one"))
            yield event


def scan_journal(path: Path) -> tuple[list[JournalEvent], list[BadLine]]:
    """Every event of a journal in file order, and every line that is not one (named by line number);
    one bad line never hides the others. ``OSError`` when the file cannot be read."""
    bad: list[BadLine] = []
    events = list(_events(path, bad))
    return events, bad


def read_journal(path: Path, bad: list[BadLine] | None = None) -> list[JournalEvent]:
    """All events of a journal, in file order; never raises for what the file holds. Lines that are not
    events (a torn last line of a killed writer, a malformed line) are left out: appended to ``bad`` when
    given, else logged as warnings naming the file and line. An unreadable file has no events (and a
    warning)."""
    return list(iter_journal(path, bad))


def iter_journal(path: Path, bad: list[BadLine] | None = None) -> Iterator[JournalEvent]:
    """The events of :func:`read_journal`, one by one."""
    found: list[BadLine] = [] if bad is None else bad
    try:
        yield from _events(path, found)
    except OSError as exc:
        log.warning("journal %s skipped: cannot read it (%s)", path, exc.strerror or exc)
    if bad is None:
        for line in found[:_LOGGED_BAD_LINES]:
            log.warning("journal line skipped: %s", line)
        if len(found) > _LOGGED_BAD_LINES:
            log.warning("journal: %s: %d more lines skipped", path, len(found) - _LOGGED_BAD_LINES)


#: how much :meth:`JournalTail.poll` reads at most per call (the rest on the next call)
TAIL_READ_BYTES = 4 * 1024 * 1024


class JournalTail:
    """Follows one journal while writers append to it: each :meth:`poll` returns the events appended since
    the previous call, in file order, read with the rules of :func:`scan_journal` (bad lines go to
    :attr:`bad`, torn records are recovered as :func:`parse_line` says). A last line without its newline
    (a write in progress, or a killed writer's torn record) waits for its end. When the file is replaced
    or shrinks, the tail starts over from its beginning and :attr:`restarts` counts it (a reader that
    folds the events into a state rebuilds it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.bad: list[BadLine] = []
        self.restarts = 0
        self._inode: int | None = None
        self._offset = 0
        self._line = 0
        self._pending = b""
        #: inside a line longer than MAX_LINE_BYTES: drop bytes until its newline
        self._skipping = False

    def _start_over(self) -> None:
        self._offset, self._line, self._pending, self._skipping = 0, 0, b"", False
        self.restarts += 1

    def poll(self) -> list[JournalEvent]:
        """The events appended since the last call (none when the file does not exist yet); ``OSError``
        when the file exists but cannot be read."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return []
        if self._inode is not None and (stat.st_ino != self._inode or stat.st_size < self._offset):
            self._start_over()
        self._inode = stat.st_ino
        if stat.st_size <= self._offset:
            return []
        with self.path.open("rb") as fh:
            fh.seek(self._offset)
            chunk = fh.read(TAIL_READ_BYTES)
        self._offset += len(chunk)
        events: list[JournalEvent] = []
        *lines, rest = chunk.split(b"\n")
        for piece in lines:
            raw, self._pending = self._pending + piece, b""
            self._line += 1
            if self._skipping:
                self._skipping = False
                continue
            self._take(raw, events)
        self._pending += rest
        if len(self._pending) > MAX_LINE_BYTES and not self._skipping:
            self.bad.append(BadLine(self.path, self._line + 1, f"longer than {MAX_LINE_BYTES} bytes"))
            self._skipping = True
        if self._skipping:
            self._pending = b""
        return events

    def _take(self, raw: bytes, events: list[JournalEvent]) -> None:
        if len(raw) > MAX_LINE_BYTES:
            self.bad.append(BadLine(self.path, self._line, f"longer than {MAX_LINE_BYTES} bytes"))
            return
        if not raw.strip():
            return
        try:
            event, torn = parse_line(raw)
        except ValueError as exc:
            self.bad.append(BadLine(self.path, self._line, str(exc)))
            return
        if torn:
            self.bad.append(BadLine(self.path, self._line, f"{torn} bytes of a torn record before this one"))
        events.append(event)
