"""How figures read on the page and in Markdown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crashlab.timeutil import iso


def dur(seconds: float | timedelta | None) -> str:
    if seconds is None:
        return "n/a"
    s = seconds.total_seconds() if isinstance(seconds, timedelta) else float(seconds)
    if abs(s) < 0.05:
        return "0.0 s"
    if abs(s) < 60:
        return f"{s:.1f} s" if abs(s) < 10 else f"{s:.0f} s"
    minutes, rest = divmod(round(s), 60)
    if minutes < 60:
        return f"{minutes}m {rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def pct(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value * 100:.{digits}f}%"


def num(value: float | int | None) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.3g}"


def ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:,.0f} ms"


def utc(ts: float | None) -> str:
    return "n/a" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S")


def utc_full(ts: float | None) -> str:
    return (
        "n/a" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"
    )


def when(ts: float | None) -> str | None:
    """Unix seconds as ``summary.json`` writes a time (UTC ISO, milliseconds); None stays None."""
    return None if ts is None else iso(datetime.fromtimestamp(ts, UTC))


def rel(ts: float | datetime | None, t0: float) -> str:
    """``+1m 05s`` since ``t0`` (a journal record's time, or unix seconds)."""
    if ts is None:
        return ""
    if isinstance(ts, datetime):
        ts = ts.timestamp()
    return f"+{dur(ts - t0)}" if ts >= t0 - 0.05 else f"-{dur(t0 - ts)}"


def times(ratio: float | None) -> str:
    """A budget burn: ``0.4x``, ``43.9x``."""
    return "n/a" if ratio is None else f"{ratio:.1f}x" if ratio < 100 else f"{ratio:,.0f}x"
