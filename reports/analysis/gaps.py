"""Gaps in what Prometheus recorded: stretches of the drill with no scrape at all (Prometheus down,
frozen or restarting: a telemetry outage). The report lists each one as missing data, because every
figure over such a stretch is missing or interpolated."""

from __future__ import annotations

from datetime import UTC, datetime

from crashlab.timeutil import iso
from reports.analysis.series import intervals
from reports.model import SourceStatus, Span
from reports.sources.prometheus import PromData

#: a stretch counts as a gap when the newest sample of every target is older than this many scrape
#: intervals (the local and Docker stacks scrape every second)
GAP_INTERVALS = 3.0
SCRAPE_INTERVAL_S = 1.0


def scrape_gaps(
    prom: PromData, t0: float, t1: float, scrape_interval_s: float = SCRAPE_INTERVAL_S
) -> list[Span]:
    """The stretches within ``[t0, t1]`` in which no target was scraped."""
    age = prom.one("scrape_age")
    if age is None:
        return []
    limit = GAP_INTERVALS * scrape_interval_s
    points = [(t, v) for t, v in age.points if t0 <= t <= t1]
    # a gap's last point is the first scrape after it; it started when the newest sample was taken
    return [
        Span(max(t0, span.start - limit), min(t1, span.end - prom.step_s), "no scrape")
        for span in intervals(points, lambda v: v > limit, prom.step_s)
    ]


def gap_statuses(gaps: list[Span]) -> list[SourceStatus]:
    def at(ts: float) -> str:
        return iso(datetime.fromtimestamp(ts, UTC))

    return [
        SourceStatus(
            "prometheus data",
            False,
            f"no samples from {at(g.start)} to {at(g.end)} ({g.end - g.start:.0f} s): Prometheus scraped "
            "nothing (down, frozen or restarting), so no rule ran and no alert could fire; figures over "
            "that stretch are missing or carried over. The load generator's counts and the services' "
            "logs still cover it.",
        )
        for g in gaps
    ]
