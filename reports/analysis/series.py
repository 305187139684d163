"""Small helpers on :class:`reports.model.Series`: counter increases, ratios, intervals, quantiles."""

from __future__ import annotations

import math
from collections.abc import Callable

from crashlab.prometheus import counter_increase, cumulative_increase, increases_by, total_increase
from reports.model import Series, Span

__all__ = [
    "bucket_quantile",
    "counter_increase",
    "cumulative_increase",
    "increases_by",
    "intervals",
    "median",
    "peak",
    "ratio_series",
    "slope",
    "total_increase",
]


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
