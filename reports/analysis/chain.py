"""Fault -> SLI -> alert: for every injected fault, whether and when it moved an SLI and which alert caught
it; and the SLI breaches that no fault explains."""

from __future__ import annotations

from dataclasses import dataclass, field

from reports.analysis.times import FaultWindow, Times
from reports.inputs import Inputs
from reports.model import Span


@dataclass(frozen=True)
class ChainLink:
    fault: FaultWindow
    sli: str | None
    sli_moved_at: float | None
    sli_delay_s: float | None
    alert: str | None
    alert_at: float | None
    alert_delay_s: float | None
    #: the SLI was already out of its SLO when this fault started (an earlier fault's breach)
    already_breached: bool = False
    already_firing: bool = False
    #: False when there was no SLI data (no Prometheus)
    measured: bool = True
    #: every SLI the fault moved, in the order they moved (``sli`` is the first)
    slis: tuple[str, ...] = ()

    @property
    def verdict(self) -> str:
        if not self.measured:
            return "unknown: no SLI data"
        if self.sli is None:
            return "no SLI moved (absorbed)"
        if self.already_breached:
            return "SLI already out of SLO when it started" + (
                " (alert already firing)" if self.alert else ""
            )
        if self.alert is None:
            return "SLI moved, no alert caught it"
        if self.already_firing:
            return "SLI moved; its alert was already firing"
        return "SLI moved and was alerted on"


#: words in an alert's name that say which SLI it watches (Sloth's and crashlab's alert names)
SLI_WORDS = {
    "crashes": ("crash", "panic", "restart", "oom"),
    "latency": ("latency", "p99", "p95", "slow", "duration"),
    "availability": ("error", "availab", "5xx", "success"),
}


def pick_alert(sli: str | None, candidates: list[tuple[float, str]]) -> tuple[float | None, str | None]:
    """The first alert among ``(time, name)`` that watches ``sli`` (by its name), else the first one."""
    if not candidates:
        return None, None
    words = SLI_WORDS.get(sli or "", ())
    others = [w for key, ws in SLI_WORDS.items() if key != sli for w in ws]
    matching = [
        c
        for c in candidates
        if any(w in c[1].lower() for w in words) and not any(w in c[1].lower() for w in others)
    ]
    at, name = min(matching or candidates)
    return at, name


def pick_alert_for(
    slis: tuple[str, ...], candidates: list[tuple[float, str]]
) -> tuple[float | None, str | None]:
    """The first alert watching the first SLI that has one, else the first alert."""
    for sli in slis:
        at, name = pick_alert(sli, candidates)
        if name is not None and any(w in name.lower() for w in SLI_WORDS.get(sli, ())):
            return at, name
    return pick_alert(None, candidates)


@dataclass
class Chain:
    links: list[ChainLink] = field(default_factory=list)
    unexplained: list[Span] = field(default_factory=list)
    grace_s: float = 60.0

    def moved(self) -> list[tuple[float, str]]:
        """``(fault start, fault name)`` of the faults that moved an SLI themselves."""
        return [
            (link.fault.start, link.fault.name)
            for link in self.links
            if link.measured
            and link.sli is not None
            and not link.already_breached
            and not link.fault.baseline
        ]


def analyse_chain(
    inputs: Inputs, times: Times, crash_times: list[float] | None = None, grace_s: float | None = None
) -> Chain:
    """``crash_times``: process crashes count as the crash SLI moving (DESIGN.md's SLIs include crashes)."""
    rate_window = float((inputs.prom.rate_window if inputs.prom else "0s").rstrip("s") or 0)
    grace = grace_s if grace_s is not None else max(60.0, 3 * rate_window)
    chain = Chain(grace_s=grace)
    for fault in times.faults:
        # up to the grace after its end, but not past the next fault's start
        later = [f.start for f in times.faults if f.start > fault.start + inputs.step]
        lo, hi = fault.start, min([fault.end + grace, *later])
        # a breach starting up to one step before the fault is the fault's own (rate windows are aligned
        # to the step grid); one already going on belongs to an earlier cause
        ongoing = [b for b in times.breaches if b.start < lo - inputs.step and lo < b.end]
        # what starts within a step of the next fault's start is the next fault's (see above)
        cut = min(later) - inputs.step if later else hi
        moved = (
            []
            if ongoing
            else [
                b
                for b in times.breaches
                if lo - inputs.step <= b.start <= hi and (b.start < cut or not later)
            ]
        )
        moved += [Span(t, t, "crashes") for t in crash_times or [] if lo <= t <= hi and (t < hi or not later)]
        first = min(moved, key=lambda b: b.start) if moved else None
        slis = tuple(dict.fromkeys(b.label for b in sorted(moved, key=lambda b: b.start)))
        alerts = [(ts, name) for name, ts in times.alerts_fired.items() if lo <= ts <= hi]
        firing = [s.label for s in times.alert_spans if s.start < lo < s.end]
        if first is not None:
            moved_at = max(first.start, fault.start)
            alert_at, alert = pick_alert_for(slis, alerts)
            already = False
            if alert is None:  # an alert for this SLI that was already firing when it moved
                _, alert = pick_alert(
                    first.label,
                    [(s.start, s.label) for s in times.alert_spans if s.start <= moved_at < s.end],
                )
                already = alert is not None
            link = ChainLink(
                fault=fault,
                sli=first.label,
                sli_moved_at=moved_at,
                sli_delay_s=moved_at - fault.start,
                alert=alert,
                alert_at=alert_at,
                alert_delay_s=max(0.0, alert_at - fault.start) if alert_at is not None else None,
                already_firing=already,
                slis=slis,
            )
        elif ongoing:
            link = ChainLink(
                fault=fault,
                sli=ongoing[0].label,
                sli_moved_at=None,
                sli_delay_s=None,
                alert=firing[0] if firing else None,
                alert_at=None,
                alert_delay_s=None,
                already_breached=True,
                already_firing=bool(firing),
            )
        else:
            alert_at, alert = pick_alert(None, alerts)
            link = ChainLink(
                fault,
                None,
                None,
                None,
                alert,
                alert_at,
                max(0.0, alert_at - fault.start) if alert_at is not None else None,
                measured=inputs.prom is not None,
            )
        chain.links.append(link)
    for breach in times.breaches:
        explained = any(f.start - inputs.step <= breach.start <= f.end + grace for f in times.faults)
        if not explained:
            chain.unexplained.append(breach)
    return chain
