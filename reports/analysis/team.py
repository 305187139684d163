"""The team on the post-mortem of a game day: who was there, the pages and who acked them, the incident
declared, the notes and hypotheses in the team's own words, the actions, and the human response times.

The team's records are read by the game day's one fold of the journal (:class:`gameday.state.GameDayState`,
the console reads the same); the times here are unix seconds like every other time of the report. Every
response time is defined in :data:`DEFINITIONS` (the page prints them next to the figures)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crashlab.journal import JournalEvent
from crashlab.timeutil import iso
from gameday.state import GameDayState, Note, Page, TeamAction
from reports.analysis.effects import Effect, Side, judge_actions
from reports.analysis.team_records import TeamRecord, at, delivery_latency_s, done, timeline, tta_s, what
from reports.analysis.times import Times
from reports.inputs import Inputs
from reports.model import Marker
from reports.render.format import when
from stack.prometheus.config import RUNBOOKS_DIR

DEFINITIONS = {
    "TTA": "time to acknowledge: a page delivered to the pager -> its first ack (per page; the figure is "
    "the first page's)",
    "time to declare": "first symptom (the first SLO breach or crash, whichever came first) -> the incident "
    "declared in the console",
    "time to first action": "first page delivered -> the first action the team took on the system (any "
    "action but a wish for one it did not have)",
    "time to effective mitigation": "first page delivered -> the action after which the SLIs recovered: "
    "the last action judged helped with no later action judged worse",
    "time to recover": "first page delivered -> the SLIs back within their SLO for good (the end of the "
    "last SLO breach); n/a when they were still out at the end",
    "delivery latency": "the alert's firing time in Alertmanager (startsAt) -> the page delivered to the "
    "pager (group wait, grouping and the webhook)",
}


@dataclass(frozen=True)
class Hypothesis:
    note: Note
    #: the ``drop`` note that dropped it (None: held to the end)
    dropped: Note | None


def hypotheses(state: GameDayState) -> list[Hypothesis]:
    """Every hypothesis the team wrote down, with the note that dropped it (if one did)."""
    notes = sorted(state.notes.values(), key=lambda n: n.at)
    drops: dict[str, Note] = {}
    for n in notes:
        if n.kind == "drop" and n.ref:
            drops.setdefault(n.ref, n)
    return [Hypothesis(n, drops.get(n.note_id)) for n in notes if n.kind == "hypothesis"]


@dataclass(frozen=True)
class Target:
    """One line of the scorecard: a target of the drill's ``gameday.targets`` and what the team did."""

    key: str
    label: str
    target: float
    measured: float | None
    unit: str
    how: str

    @property
    def met(self) -> bool:
        """Met when the measured figure is at most the target; a moment that never came is missed."""
        return self.measured is not None and self.measured <= self.target


@dataclass(frozen=True)
class ExpectedMitigation:
    action: str
    params: dict[str, Any]
    why: str
    #: the team's first action that matched it (action and every named param), if one did
    taken: TeamAction | None
    effect: Effect | None


@dataclass
class Team:
    state: GameDayState
    #: every team and game-day record as a line, in time order
    timeline: list[TeamRecord]
    #: a rehearsal: the manifest says ``team: scripted``
    scripted: bool
    pages: list[Page]
    actions: list[TeamAction]
    effects: list[Effect]
    first_page: Page | None
    first_symptom: float | None
    first_symptom_by: str
    tta_s: float | None = None
    ttd_human_s: float | None = None
    first_action_s: float | None = None
    ttm_human_s: float | None = None
    #: the effective mitigation (see DEFINITIONS)
    mitigation: Effect | None = None
    ttr_s: float | None = None
    crashes_after_first_page: int | None = None
    scorecard: list[Target] = field(default_factory=list)
    expected: list[ExpectedMitigation] = field(default_factory=list)
    #: alerts that paged without a runbook in docs/runbooks/ (name, why)
    runbook_gaps: list[tuple[str, str]] = field(default_factory=list)

    @property
    def unacked(self) -> list[Page]:
        return [p for p in self.pages if p.acked_at is None]

    @property
    def wished(self) -> list[TeamAction]:
        """The actions the team looked for and did not find (``action: unavailable``)."""
        return [a for a in self.actions if a.action == "unavailable"]


def has_team(events: Iterable[JournalEvent]) -> bool:
    return any(e.type == "team" for e in events)


def runbook_gaps(pages: list[Page]) -> list[tuple[str, str]]:
    """Alerts that paged without a runbook: no ``runbook_url``, or no docs/runbooks/<alert>.md."""
    gaps: dict[str, str] = {}
    for p in pages:
        if p.alert in gaps:
            continue
        if not p.runbook_url:
            gaps[p.alert] = "the page carried no runbook_url"
        elif not (RUNBOOKS_DIR / f"{p.alert}.md").is_file():
            gaps[p.alert] = f"docs/runbooks/{p.alert}.md does not exist"
    return sorted(gaps.items())


def _matches(action: TeamAction, wanted: str, params: dict[str, Any]) -> bool:
    """The action is the expected one: the same action and every param it names, a number at least as
    high (``memory_limit`` ``mb: 512`` is met by 1024)."""

    def same(key: str, value: Any) -> bool:
        got = action.params.get(key)
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (got, value))
        return bool(got >= value) if numbers else bool(got == value)

    return done(action) and action.action == wanted and all(same(k, v) for k, v in params.items())


def analyse_team(inputs: Inputs, times: Times, crash_times: list[float]) -> Team | None:
    """The team's response, or None when the run has no ``team`` record (a plain drill)."""
    if not has_team(inputs.journal):
        return None
    state = GameDayState.from_events(inputs.journal)
    pages = sorted(state.pages.values(), key=lambda p: p.delivered_at)
    actions = sorted(state.actions.values(), key=at)
    effects = judge_actions(inputs, times, crash_times, actions)
    symptoms = [(t, "first SLO breach") for t in (times.breach_start,) if t is not None]
    symptoms += [(t, "first crash") for t in crash_times[:1]]
    first_symptom, by = min(symptoms) if symptoms else (None, "")
    team = Team(
        state,
        timeline(inputs.journal),
        inputs.ctx.manifest.get("team") == "scripted",
        pages,
        actions,
        effects,
        pages[0] if pages else None,
        first_symptom,
        by,
        runbook_gaps=runbook_gaps(pages),
    )
    if team.first_page is not None:
        t_page = team.first_page.delivered_at.timestamp()
        team.tta_s = tta_s(team.first_page)
        acted = [at(a) for a in actions if a.action != "unavailable"]
        team.first_action_s = min(acted) - t_page if acted else None
        team.crashes_after_first_page = sum(1 for t in crash_times if t >= t_page)
        helped = [e for e in effects if e.verdict == "helped"]
        if helped and not any(e.verdict == "worse" and at(e.action) > at(helped[-1].action) for e in effects):
            team.mitigation = helped[-1]
            team.ttm_human_s = at(helped[-1].action) - t_page
        if times.recovered and times.recovery is not None:
            team.ttr_s = max(0.0, times.recovery - t_page)
    if state.incident is not None and state.incident.severity and first_symptom is not None:
        team.ttd_human_s = state.incident.declared_at.timestamp() - first_symptom
    scenario = inputs.ctx.scenario
    if scenario is not None and scenario.gameday is not None:
        gameday = scenario.gameday
        targets = {k: float(v) for k, v in gameday.targets.model_dump().items() if v is not None}
        score(team, targets, [(m.action, m.params, m.why or "") for m in gameday.expected_mitigations])
    return team


def score(team: Team, targets: dict[str, float], expected: list[tuple[str, dict[str, Any], str]]) -> None:
    """The scorecard against the drill's ``gameday.targets`` and its expected mitigations."""
    rows = [
        ("ack", "time to acknowledge the first page", team.tta_s, "s", DEFINITIONS["TTA"]),
        ("declare", "time to declare", team.ttd_human_s, "s", DEFINITIONS["time to declare"]),
        (
            "mitigate",
            "time to effective mitigation",
            team.ttm_human_s,
            "s",
            DEFINITIONS["time to effective mitigation"],
        ),
        (
            "crashes_after_first_page",
            "crashes after the first page",
            None if team.crashes_after_first_page is None else float(team.crashes_after_first_page),
            "",
            "crashes of game and odds (the evaluator's rule) at or after the first page's delivery",
        ),
    ]
    team.scorecard = [
        Target(key, label, targets[key], measured, unit, how)
        for key, label, measured, unit, how in rows
        if key in targets
    ]
    by_action = {e.action.action_id: e for e in team.effects}
    for action, params, why in expected:
        taken = next((a for a in team.actions if _matches(a, action, params)), None)
        effect = by_action.get(taken.action_id) if taken is not None else None
        team.expected.append(ExpectedMitigation(action, params, why, taken, effect))


def action_items(team: Team, t0: float) -> list[str]:
    """The runbook gaps the game day showed, as action items: alerts that paged without a runbook, actions
    the team looked for and did not have, pages nobody acked, actions that made things worse."""

    def since(ts: datetime) -> str:
        return f"+{ts.timestamp() - t0:.0f}s"

    items = [
        f"Runbook gap: {alert} paged the team without a runbook ({why}): write docs/runbooks/{alert}.md."
        for alert, why in team.runbook_gaps
    ]
    items += [
        f'Runbook gap: the team looked for an action it did not have: "{a.params.get("wanted", "")}" '
        f"({a.actor} at {since(a.at)}): add it to the runbooks and the console, or write down why not."
        for a in team.wished
    ]
    items += [
        f"Page nobody acked: {p.alert} delivered at {since(p.delivered_at)}: check who it pages and "
        "whether it should page at all."
        for p in team.unacked
    ]
    items += [
        f"Action {what(e.action)} by {e.action.actor} at {since(e.action.at)} made things worse "
        f"({e.reason}): say in the runbook when not to take it."
        for e in team.effects
        if e.verdict == "worse"
    ]
    return items


def markers(team: Team) -> list[Marker]:
    """The team's moves on the charts: pages delivered, acks, the declaration, every action (with its
    verdict)."""
    out = [Marker(p.delivered_at.timestamp(), "page", f"page {p.alert} delivered") for p in team.pages]
    out += [
        Marker(p.acked_at.timestamp(), "ack", f"{p.acked_by} acked {p.alert}")
        for p in team.pages
        if p.acked_at
    ]
    incident = team.state.incident
    if incident is not None and incident.severity:
        label = f"{incident.declared_by} declared {incident.severity}"
        out.append(Marker(incident.declared_at.timestamp(), "declare", label))
    out += [
        Marker(at(e.action), "action", f"{e.action.actor}: {what(e.action)} ({e.verdict or 'not done'})")
        for e in team.effects
        if e.action.action != "unavailable"
    ]
    return out


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else iso(ts)


def _side(s: Side | None) -> dict[str, Any] | None:
    if s is None:
        return None
    return {
        "exposure_s": round(s.seconds, 3),
        "requests": s.requests,
        "bad": s.bad,
        "availability": s.availability,
        "burn_rate": s.burn,
        "p99_s": s.p99_s,
        "crashes": s.crashes,
        "crashes_per_min": s.crash_rate,
    }


def to_json(team: Team) -> dict[str, Any]:
    """``summary.json``'s ``team`` block (docs/reports.md)."""
    state = team.state
    incident = state.incident
    return {
        "members": [m.to_json() for m in state.members.values()],
        "scripted": team.scripted,
        "first_page_at": _iso(team.first_page.delivered_at if team.first_page else None),
        "first_symptom_at": when(team.first_symptom),
        "declared_at": _iso(incident.declared_at if incident is not None and incident.severity else None),
        "tta_s": team.tta_s,
        "ttd_human_s": team.ttd_human_s,
        "first_action_s": team.first_action_s,
        "ttm_human_s": team.ttm_human_s,
        "ttr_s": team.ttr_s,
        "crashes_after_first_page": team.crashes_after_first_page,
        "pages": [
            {
                "page_id": p.page_id,
                "alert": p.alert,
                "severity": p.severity,
                "starts_at": _iso(p.starts_at),
                "delivered_at": iso(p.delivered_at),
                "delivery_latency_s": delivery_latency_s(p),
                "acked_by": p.acked_by,
                "acked_at": _iso(p.acked_at),
                "tta_s": tta_s(p),
            }
            for p in team.pages
        ],
        "unacked_pages": [
            {"page_id": p.page_id, "alert": p.alert, "delivered_at": iso(p.delivered_at)}
            for p in team.unacked
        ],
        "actions": [
            {
                "at": iso(e.action.at),
                "actor": e.action.actor,
                "action": e.action.action,
                "params": e.action.params,
                "result": e.action.result,
                "effect": e.verdict,
                "why": e.reason,
                "before": _side(e.before),
                "after": _side(e.after),
            }
            for e in team.effects
        ],
        "mitigation": None if team.mitigation is None else iso(team.mitigation.action.at),
        "hypotheses": [
            {
                "at": iso(h.note.at),
                "actor": h.note.actor,
                "text": h.note.text,
                "dropped_at": _iso(h.dropped.at if h.dropped else None),
            }
            for h in hypotheses(state)
        ],
        "scorecard": [
            {"target": t.key, "limit": t.target, "measured": t.measured, "met": t.met} for t in team.scorecard
        ],
        "expected_mitigations": [
            {
                "action": x.action,
                "params": x.params,
                "taken_at": _iso(x.taken.at if x.taken else None),
                "effect": x.effect.verdict if x.effect else None,
            }
            for x in team.expected
        ],
        "runbook_gaps": [{"alert": a, "why": why} for a, why in team.runbook_gaps],
        "wished_actions": [
            {"at": iso(a.at), "actor": a.actor, "wanted": a.params.get("wanted")} for a in team.wished
        ],
    }
