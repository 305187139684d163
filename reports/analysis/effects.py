"""The effect of every action the team took: the SLIs while the faults were active in the regime before
the action and in the regime after it, and a verdict (docs/reports.md, "The effect of an action").

Fault-aware on purpose: a game day's faults come and go (they recur until the team mitigates, or end), so
comparing "the minute before" with "the minute after" would credit an action with every lull between two
episodes and every fault's end. The rule only compares fault exposure with fault exposure:

- **exposure**: the time a fault that is not part of the normal world (not ``baseline``) was active, each
  window extended by the lag (below) for its after-effects;
- **lag** = max(5 s, the report's rate window): the time an action needs to show (a flag applies within
  1 s; a restart takes seconds; the rate-based p99 trails by a rate window);
- **after** = exposure in [action + lag, the next action that changes the system, else the end];
- **before** = exposure in [the previous action that changes the system + lag, action]; when that holds
  less than the minimum, the regimes before it are added until it does (two quick actions are judged
  against the state before both);
- on each side: the players' availability (their counters; the server's when they were not recorded)
  and the burn rate = (1 - availability) / (1 - SLO), the p99 of ``/play`` (from the histogram's bucket
  increases over exactly those intervals), and crashes per minute of exposure (the evaluator's crash rule);
- **too_early**: less than 2 x lag of exposure after the action (the next action came first, the faults
  had ended: a recovery then is the fault's end, or the game day ended) or before it (nothing to compare);
- otherwise the first of crashes, burn rate, p99 that moved by a factor of two decides: **helped** when it
  fell to half or less (crashes: at most half the crashes expected at the earlier rate, at least one
  expected; burn: from at least 1x; p99: from above the latency threshold), **worse** when it doubled (and
  crashes: at least one more than expected; burn: to at least 1x; p99: to above the threshold); none
  moved: **no_effect**.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from chaos.verdict import PLAYER_BAD
from gameday.state import TeamAction
from reports.analysis.series import bucket_quantile, cumulative_increase
from reports.analysis.team_records import at, changes_system, done, what
from reports.analysis.times import Times
from reports.inputs import Inputs
from reports.model import Series
from reports.render import format as fmt
from reports.sources.prometheus import parse_duration

#: how much an SLI must move (a factor) for an action to have changed it
FACTOR = 2.0
#: the least lag between an action and its measurable effect
MIN_LAG_S = 5.0

Interval = tuple[float, float]


@dataclass(frozen=True)
class Side:
    """The SLIs while the faults were active, on one side of an action."""

    intervals: tuple[Interval, ...]
    requests: float | None
    bad: float | None
    p99_s: float | None
    crashes: int
    slo: float

    @property
    def seconds(self) -> float:
        return sum(b - a for a, b in self.intervals)

    @property
    def availability(self) -> float | None:
        if self.requests is None or self.bad is None or self.requests <= 0:
            return None
        return 1.0 - self.bad / self.requests

    @property
    def burn(self) -> float | None:
        a = self.availability
        return None if a is None else (1.0 - a) / (1.0 - self.slo)

    @property
    def crash_rate(self) -> float | None:
        """Crashes per minute of exposure."""
        return self.crashes / self.seconds * 60.0 if self.seconds > 0 else None


@dataclass(frozen=True)
class Move:
    """One SLI before and after an action, and which way it went (``better``, ``worse``, ``""``)."""

    sli: str
    before: str
    after: str
    way: str


@dataclass(frozen=True)
class Effect:
    action: TeamAction
    #: ``helped``, ``no_effect``, ``worse``, ``too_early``; None for an action not carried out
    verdict: str | None
    reason: str
    before: Side | None = None
    after: Side | None = None
    moves: tuple[Move, ...] = field(default_factory=tuple)


# --- intervals -------------------------------------------------------------------------------------


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for a, b in sorted(intervals):
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def clip(intervals: list[Interval], lo: float, hi: float) -> tuple[Interval, ...]:
    return tuple((max(a, lo), min(b, hi)) for a, b in intervals if min(b, hi) > max(a, lo))


def lag_s(inputs: Inputs) -> float:
    window = parse_duration(inputs.prom.rate_window) if inputs.prom is not None else None
    return max(MIN_LAG_S, window or 0.0)


# --- counters over intervals -----------------------------------------------------------------------


class Running:
    """A counter's running increase (across restarts) and its increase over a set of intervals."""

    def __init__(self, series: Iterable[Series], since: float) -> None:
        points = cumulative_increase(series, since)
        self.times = [t for t, _ in points]
        self.values = [v for _, v in points]

    def at(self, t: float) -> float:
        i = bisect_right(self.times, t)
        return self.values[i - 1] if i else 0.0

    def over(self, intervals: Iterable[Interval]) -> float:
        return sum(self.at(b) - self.at(a) for a, b in intervals)


@dataclass
class Counters:
    """The counters the rule reads, once per report."""

    requests: Running | None
    bad: Running | None
    buckets: dict[float, Running]

    def p99(self, intervals: tuple[Interval, ...]) -> float | None:
        counts = {le: r.over(intervals) for le, r in self.buckets.items()}
        return bucket_quantile(0.99, counts) if any(counts.values()) else None


def counters(inputs: Inputs, players: bool) -> Counters:
    telemetry, prom, since = inputs.telemetry, inputs.prom, inputs.t0 - 1e-3
    if telemetry is None or prom is None:
        return Counters(None, None, {})
    if players:
        series = telemetry.get("players")
        bad = [s for s in series if s.labels.get("outcome", "") in PLAYER_BAD]
    else:
        series = telemetry.get("server")
        bad = [s for s in series if s.labels.get("status", "").startswith("5")]
    by_le: dict[float, list[Series]] = {}
    for s in prom.get("latency_buckets_raw"):
        try:
            by_le.setdefault(float(s.labels.get("le", "")), []).append(s)
        except ValueError:
            continue
    return Counters(
        Running(series, since) if series else None,
        Running(bad, since) if series else None,
        {le: Running(group, since) for le, group in by_le.items()},
    )


def side(intervals: tuple[Interval, ...], data: Counters, crash_times: list[float], slo: float) -> Side:
    return Side(
        intervals=intervals,
        requests=data.requests.over(intervals) if data.requests else None,
        bad=data.bad.over(intervals) if data.bad else None,
        p99_s=data.p99(intervals),
        crashes=sum(1 for t in crash_times if any(a <= t < b for a, b in intervals)),
        slo=slo,
    )


# --- the verdict -----------------------------------------------------------------------------------


def per_minute(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1f}/min"


def _burn(v: float | None) -> str:
    return fmt.times(v)


def moves(before: Side, after: Side, threshold_s: float) -> list[Move]:
    """Each SLI's move, in the order that decides: crashes, burn rate, p99."""
    out: list[Move] = []
    expected = before.crashes / before.seconds * after.seconds if before.seconds > 0 else 0.0
    way = ""
    if expected >= 1 and after.crashes <= expected / FACTOR:
        way = "better"
    elif after.crashes >= 1 and after.crashes >= FACTOR * expected and after.crashes >= expected + 1:
        way = "worse"
    out.append(
        Move(
            "crashes",
            f"{before.crashes} in {fmt.dur(before.seconds)} ({per_minute(before.crash_rate)})",
            f"{after.crashes} in {fmt.dur(after.seconds)} ({per_minute(after.crash_rate)}; "
            f"{expected:.1f} expected at the earlier rate)",
            way,
        )
    )
    b, a = before.burn, after.burn
    way = ""
    if b is not None and a is not None:
        if b >= 1 and a <= b / FACTOR:
            way = "better"
        elif a >= 1 and a >= FACTOR * b:
            way = "worse"
    out.append(
        Move(
            "burn rate",
            f"{_burn(b)} (availability {fmt.pct(before.availability)})",
            f"{_burn(a)} (availability {fmt.pct(after.availability)})",
            way,
        )
    )
    pb, pa = before.p99_s, after.p99_s
    way = ""
    if pb is not None and pa is not None:
        if pb > threshold_s and pa <= pb / FACTOR:
            way = "better"
        elif pa > threshold_s and pa >= FACTOR * pb:
            way = "worse"
    out.append(Move("p99", fmt.ms(pb), fmt.ms(pa), way))
    return out


def decide(found: Sequence[Move]) -> tuple[str, str]:
    """The verdict and why: the first SLI that moved by the factor decides."""
    for m in found:
        if m.way:
            verdict = "helped" if m.way == "better" else "worse"
            return verdict, f"{m.sli} {m.before} -> {m.after}"
    return "no_effect", f"no SLI moved by a factor of {FACTOR:g} during the faults"


# --- every action ----------------------------------------------------------------------------------


def exposure(times: Times, lag: float) -> list[Interval]:
    """When a fault that is not part of the normal world was active, plus the lag for its after-effects."""
    return merge((f.start, f.end + lag) for f in times.faults if not f.baseline)


def _too_early_after(
    inputs: Inputs, times: Times, when: float, nxt: TeamAction | None, exposed: list[Interval], lag: float
) -> str:
    t0, t1 = inputs.t0, inputs.t1
    rest = clip(exposed, when + lag, t1)
    if sum(b - a for a, b in rest) >= 2 * lag and nxt is not None:
        return (
            f"not enough data after it: the next action ({what(nxt)} by {nxt.actor} at "
            f"{fmt.rel(at(nxt), t0)}) came before the faults had shown its effect; their effects cannot be "
            "told apart"
        )
    if rest and rest[-1][1] >= t1:
        return f"not enough data after it: the game day ended {fmt.dur(t1 - when)} after it"
    started = [f for f in times.faults if not f.baseline and f.start <= when + lag]
    last = max(started, key=lambda f: f.end) if started else None
    how = f" (fault {last.name} {last.ended_by} at {fmt.rel(last.end, t0)})" if last else ""
    return (
        f"not enough data after it: the faults ended{how} before it could show; a recovery then is the "
        "faults' end, not this action"
    )


def judge_actions(
    inputs: Inputs, times: Times, crash_times: list[float], actions: list[TeamAction]
) -> list[Effect]:
    """The effect of every action (docs/reports.md, "The effect of an action")."""
    lag = lag_s(inputs)
    least = 2 * lag
    exposed = exposure(times, lag)
    data = counters(inputs, players=bool(inputs.telemetry and inputs.telemetry.get("players")))
    slo, threshold = inputs.ctx.slo.availability, inputs.ctx.slo.latency_threshold_s
    actions = sorted(actions, key=at)
    changes = [a for a in actions if changes_system(a)]

    def exposure_in(lo: float, hi: float) -> Side:
        return side(clip(exposed, lo, hi), data, crash_times, slo)

    out: list[Effect] = []
    for action in actions:
        if not done(action):
            why = (
                "not an action: the team looked for it and did not find it"
                if action.action == "unavailable"
                else f"not carried out ({action.result}{': ' + action.error if action.error else ''})"
            )
            out.append(Effect(action, None, why))
            continue
        when = at(action)
        nxt = next((c for c in changes if at(c) > when), None)
        after = exposure_in(when + lag, at(nxt) if nxt is not None else inputs.t1)
        # the regime it was taken in; a regime with too little exposure is joined to the one before
        earlier = [c for c in changes if at(c) < when]
        crossed: list[TeamAction] = []
        before = exposure_in(at(earlier[-1]) + lag if earlier else inputs.t0, when)
        while before.seconds < least and earlier:
            crossed.append(earlier.pop())
            before = exposure_in(at(earlier[-1]) + lag if earlier else inputs.t0, when)
        unseen = next((c for c in crossed if at(c) + lag > when), None)
        if after.seconds < least:
            why = _too_early_after(inputs, times, when, nxt, exposed, lag)
            out.append(Effect(action, "too_early", why, before, after))
            continue
        if unseen is not None:
            why = (
                f"not enough data before it: it came {fmt.dur(when - at(unseen))} after {what(unseen)} by "
                f"{unseen.actor}, before that one could show; their effects cannot be told apart"
            )
            out.append(Effect(action, "too_early", why, before, after))
            continue
        if before.seconds < least:
            why = "not enough data before it: taken before the faults hit the system, nothing to compare with"
            out.append(Effect(action, "too_early", why, before, after))
            continue
        found = moves(before, after, threshold)
        verdict, why = decide(found)
        if crossed:
            joined = ", ".join(f"{what(c)} at {fmt.rel(at(c), inputs.t0)}" for c in reversed(crossed))
            why += f" (compared with the state before {joined} too: no fault came between them)"
        out.append(Effect(action, verdict, why, before, after, tuple(found)))
    return out
