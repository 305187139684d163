"""UTC timestamps in the one format every crashlab file uses."""

from __future__ import annotations

import time
from datetime import UTC, datetime

#: (second, "YYYY-MM-DDTHH:MM:SS") of the last :func:`now_iso`
_second: tuple[int, str] = (-1, "")


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    """``2026-11-29T17:40:01.123Z``: UTC, millisecond precision."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def now_iso() -> str:
    """``iso(utcnow())`` for hot paths: the date and time are formatted once a second."""
    global _second
    ms = int(time.time() * 1000)
    second = ms // 1000
    if _second[0] != second:
        _second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return "%s.%03dZ" % (_second[1], ms % 1000)  # noqa: UP031 - a format spec is parsed on every call


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
