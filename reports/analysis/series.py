"""Small helpers on :class:`reports.model.Series`: counter increases, ratios, intervals, quantiles."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from reports.model import Series, Span


def counter_increase(series: Series, window_start: float) -> float:
    """How much a counter grew over the window, across process restarts.

    Points at or before ``window_start`` only give the baseline (the raw queries start a little before
    the window for that). A series with no point before the window was born inside it (a process started
    during the drill), so its first value counts in full; a drop is a restart (a new process counts from
    0 again), as in Prometheus' own ``increase``.
    """
    total = 0.0
    prev: float | None = None
    for t, v in series.points:
        if t <= window_start:
            prev = v
            continue
        total += v if prev is None or v < prev else v - prev
        prev = v
    return total


def cumulative_increase(series: Iterable[Series], window_start: float) -> list[tuple[float, float]]:
    """The summed running increase of counters over the window (same rules as counter_increase)."""
    deltas: dict[float, float] = {}
    for s in series:
        prev: float | None = None
        for t, v in s.points:
            if t <= window_start:
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


def increases_by(series: Iterable[Series], label: str, window_start: float) -> dict[str, float]:
    out: dict[str, float] = {}
    for s in series:
        key = s.labels.get(label, "")
        out[key] = out.get(key, 0.0) + counter_increase(s, window_start)
    return out


def total_increase(series: Iterable[Series], window_start: float) -> float:
    return sum(counter_increase(s, window_start) for s in series)


def ratio_series(
    num: Series | None, den: Series | None, *, min_den: float = 1e-9
) -> list[tuple[float, float]]:
    if num is None or den is None:
        return []
    nums = dict(num.points)
    return [(t, nums.get(t, 0.0) / d) for t, d in den.points if d > min_den]


def intervals(points: list[tuple[float, float]], pred: Callable[[float], bool], step: float) -> list[Span]:
    """Contiguous runs of points satisfying ``pred``; a run ends one step after its last point."""
    spans: list[Span] = []
    start: float | None = None
    last = 0.0
    for t, v in points:
        if pred(v):
            if start is not None and t - last > 1.5 * step:
                spans.append(Span(start, last + step, ""))
                start = None
            if start is None:
                start = t
            last = t
        elif start is not None:
            spans.append(Span(start, last + step, ""))
            start = None
    if start is not None:
        spans.append(Span(start, last + step, ""))
    return spans


def peak(points: list[tuple[float, float]]) -> tuple[float, float] | None:
    return max(points, key=lambda p: p[1]) if points else None


def median(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope (value per second)."""
    if len(points) < 2:
        return None
    n = len(points)
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    den = sum((t - mt) ** 2 for t, _ in points)
    if den == 0:
        return None
    return sum((t - mt) * (v - mv) for t, v in points) / den


def bucket_quantile(q: float, buckets: dict[float, float]) -> float | None:
    """Prometheus' histogram_quantile on cumulative bucket counts ``{le: count}``."""
    if not buckets:
        return None
    les = sorted(buckets)
    total = buckets[les[-1]]
    if total <= 0 or not math.isinf(les[-1]):
        return None
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for le in les:
        count = buckets[le]
        if count >= rank:
            if math.isinf(le):
                return prev_le
            if count == prev_count:
                return le
            return prev_le + (le - prev_le) * (rank - prev_count) / (count - prev_count)
        prev_le, prev_count = le, count
    return les[-2] if len(les) > 1 else None
