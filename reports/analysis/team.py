"""The team on the post-mortem of a game day: who was there, the pages and who acked them, the incident
declared, the notes and hypotheses in the team's own words, the actions, and the human response times.

The team's records are the journal's ``team`` events (docs/contracts.md, GAMEDAY.md); the times are unix
seconds like every other time of the report. Every response time is defined in :data:`DEFINITIONS` (the
page prints them next to the figures)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from crashlab.journal import JournalEvent
from reports.analysis.effects import Effect, Side, judge_actions
from reports.analysis.team_records import Action, Hypothesis, PageRecord, TeamRecords, team_records
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


def hypotheses(records: TeamRecords) -> list[Hypothesis]:
    """Every hypothesis the team wrote down, with the note that dropped it (if one did)."""
    drops = {n.ref: n for n in records.notes if n.kind == "drop" and n.ref}
    return [Hypothesis(n, drops.get(n.note_id)) for n in records.notes if n.kind == "hypothesis"]


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
    taken: Action | None
    effect: Effect | None


@dataclass
class Team:
    records: TeamRecords
    effects: list[Effect]
    first_page: PageRecord | None
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
    def unacked(self) -> list[PageRecord]:
        return [p for p in self.records.pages if p.acked_at is None]

    @property
    def wished(self) -> list[Action]:
        """The actions the team looked for and did not find (``action: unavailable``)."""
        return [a for a in self.records.actions if a.action == "unavailable"]


def has_team(events: Iterable[JournalEvent]) -> bool:
    return any(e.type == "team" for e in events)


def runbook_gaps(pages: list[PageRecord]) -> list[tuple[str, str]]:
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


def _matches(action: Action, wanted: str, params: dict[str, Any]) -> bool:
    return (
        action.done and action.action == wanted and all(action.params.get(k) == v for k, v in params.items())
    )


def analyse_team(inputs: Inputs, times: Times, crash_times: list[float]) -> Team | None:
    """The team's response, or None when the run has no ``team`` record (a plain drill)."""
    if not has_team(inputs.journal):
        return None
    records = team_records(inputs.journal, inputs.ctx.manifest)
    effects = judge_actions(inputs, times, crash_times, records.actions)
    first_page = records.pages[0] if records.pages else None
    symptoms = [(t, "first SLO breach") for t in (times.breach_start,) if t is not None]
    symptoms += [(t, "first crash") for t in crash_times[:1]]
    first_symptom, by = min(symptoms) if symptoms else (None, "")
    team = Team(records, effects, first_page, first_symptom, by, runbook_gaps=runbook_gaps(records.pages))
    if first_page is not None:
        t_page = first_page.delivered_at
        team.tta_s = first_page.tta_s
        acted = [a.at for a in records.actions if a.action != "unavailable"]
        team.first_action_s = min(acted) - t_page if acted else None
        team.crashes_after_first_page = sum(1 for t in crash_times if t >= t_page)
        helped = [e for e in effects if e.verdict == "helped"]
        if helped and not any(e.verdict == "worse" and e.action.at > helped[-1].action.at for e in effects):
            team.mitigation = helped[-1]
            team.ttm_human_s = helped[-1].action.at - t_page
        if times.recovered and times.recovery is not None:
            team.ttr_s = max(0.0, times.recovery - t_page)
    if records.incident is not None and first_symptom is not None:
        team.ttd_human_s = records.incident.declared_at - first_symptom
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
        taken = next((a for a in team.records.actions if _matches(a, action, params)), None)
        effect = by_action.get(taken.action_id) if taken is not None else None
        team.expected.append(ExpectedMitigation(action, params, why, taken, effect))


def action_items(team: Team, t0: float) -> list[str]:
    """The runbook gaps the game day showed, as action items: alerts that paged without a runbook, actions
    the team looked for and did not have, pages nobody acked, actions that made things worse."""
    items = [
        f"Runbook gap: {alert} paged the team without a runbook ({why}): write docs/runbooks/{alert}.md."
        for alert, why in team.runbook_gaps
    ]
    items += [
        f'Runbook gap: the team looked for an action it did not have: "{a.params.get("wanted", "")}" '
        f"({a.actor} at +{a.at - t0:.0f}s): add it to the runbooks and the console, or write down why not."
        for a in team.wished
    ]
    items += [
        f"Page nobody acked: {p.alert} delivered at +{p.delivered_at - t0:.0f}s: check who it pages and "
        "whether it should page at all."
        for p in team.unacked
    ]
    items += [
        f"Action {e.action.describe()} by {e.action.actor} at +{e.action.at - t0:.0f}s made things worse "
        f"({e.reason}): say in the runbook when not to take it."
        for e in team.effects
        if e.verdict == "worse"
    ]
    return items


def markers(team: Team) -> list[Marker]:
    """The team's moves on the charts: pages delivered, acks, the declaration, every action (with its
    verdict)."""
    out = [Marker(p.delivered_at, "page", f"page {p.alert} delivered") for p in team.records.pages]
    out += [
        Marker(p.acked_at, "ack", f"{p.acked_by} acked {p.alert}") for p in team.records.pages if p.acked_at
    ]
    if team.records.incident is not None:
        i = team.records.incident
        out.append(Marker(i.declared_at, "declare", f"{i.actor} declared {i.severity}"))
    out += [
        Marker(e.action.at, "action", f"{e.action.actor}: {e.action.describe()} ({e.verdict or 'not done'})")
        for e in team.effects
        if e.action.action != "unavailable"
    ]
    return out


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
    r = team.records
    return {
        "members": [{"name": m.name, "role": m.role, "joined_at": when(m.at)} for m in r.members],
        "scripted": r.scripted,
        "first_page_at": when(team.first_page.delivered_at if team.first_page else None),
        "first_symptom_at": when(team.first_symptom),
        "declared_at": when(r.incident.declared_at if r.incident else None),
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
                "starts_at": when(p.starts_at),
                "delivered_at": when(p.delivered_at),
                "delivery_latency_s": p.delivery_latency_s,
                "acked_by": p.acked_by,
                "acked_at": when(p.acked_at),
                "tta_s": p.tta_s,
            }
            for p in r.pages
        ],
        "unacked_pages": [
            {"page_id": p.page_id, "alert": p.alert, "delivered_at": when(p.delivered_at)}
            for p in team.unacked
        ],
        "actions": [
            {
                "at": when(e.action.at),
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
        "mitigation": None if team.mitigation is None else when(team.mitigation.action.at),
        "hypotheses": [
            {
                "at": when(h.note.at),
                "actor": h.note.actor,
                "text": h.note.text,
                "dropped_at": when(h.dropped.at if h.dropped else None),
            }
            for h in hypotheses(r)
        ],
        "scorecard": [
            {"target": t.key, "limit": t.target, "measured": t.measured, "met": t.met} for t in team.scorecard
        ],
        "expected_mitigations": [
            {
                "action": x.action,
                "params": x.params,
                "taken_at": when(x.taken.at if x.taken else None),
                "effect": x.effect.verdict if x.effect else None,
            }
            for x in team.expected
        ],
        "runbook_gaps": [{"alert": a, "why": why} for a, why in team.runbook_gaps],
        "wished_actions": [
            {"at": when(a.at), "actor": a.actor, "wanted": a.params.get("wanted")} for a in team.wished
        ],
    }
