"""The team on a game day's post-mortem: the scorecard against the drill's targets, the team's response
(members, human response times with their definitions, pages and their acks) and what each action did,
with the data behind each verdict. A plain drill has none of these sections."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gameday.state import ROLE_LABELS, TeamAction
from reports.analysis.effects import FACTOR, Effect, per_minute
from reports.analysis.team import DEFINITIONS, Team
from reports.analysis.team_records import delivery_latency_s, tta_s, what
from reports.document import (
    Block,
    Cell,
    Fold,
    Heading,
    Items,
    Paragraph,
    Row,
    Section,
    Styled,
    Table,
    Text,
    code,
    small,
    strong,
)
from reports.render import format as fmt
from reports.sections.page import Page

VERDICT_CLASS = {"helped": "ok", "worse": "bad", "no_effect": "warn", "too_early": ""}


def _at(page: Page, ts: datetime | float | None) -> str:
    if isinstance(ts, datetime):
        ts = ts.timestamp()
    return "n/a" if ts is None else f"{fmt.utc(ts)} ({fmt.rel(ts, page.t0)})"


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def scorecard(page: Page) -> Section | None:
    team = page.report.team
    if team is None:
        return None
    blocks: list[Block] = []
    if team.scorecard:
        met = sum(1 for t in team.scorecard if t.met)
        rows: list[Row] = []
        for t in team.scorecard:
            seconds = t.unit == "s"
            shown = fmt.dur(t.measured) if seconds else fmt.num(t.measured)
            target = fmt.dur(t.target) if seconds else fmt.num(t.target)
            diff = "" if t.measured is None else t.measured - t.target
            diff_text = "" if isinstance(diff, str) else (f"{diff:+.0f} s" if seconds else f"{diff:+g}")
            rows.append(
                [
                    t.label,
                    Cell(f"<= {target}", num=True),
                    Cell(shown if t.measured is not None else "never", num=True),
                    Cell(diff_text, num=True),
                    Cell("met" if t.met else "missed", cls="ok" if t.met else "bad"),
                    small(t.how),
                ]
            )
        blocks += [
            Paragraph(
                [strong(f"{met} of {len(team.scorecard)} targets met"), " (the drill's gameday.targets)."]
            ),
            Table(["target", "target", "measured", "measured - target", "", "how it is measured"], rows),
        ]
    else:
        blocks.append(Paragraph("The drill sets no gameday.targets: the figures below stand on their own."))
    if team.expected:
        rows = []
        for ex in team.expected:
            taken: Text = "not taken"
            effect: Text | Cell = ""
            if ex.taken is not None:
                taken = f"{ex.taken.actor} at {fmt.rel(ex.taken.at, page.t0)}"
                verdict = ex.effect.verdict if ex.effect is not None else None
                effect = Cell(verdict or "n/a", cls=VERDICT_CLASS.get(verdict or "", ""))
            rows.append([code(f"{ex.action} {_params(ex.params)}".strip()), ex.why, taken, effect])
        blocks += [
            Heading("Expected mitigations"),
            Table(["mitigation", "why", "taken", "effect"], rows),
        ]
    return Section("scorecard", "Scorecard", blocks)


def _done(page: Page, action: TeamAction | None, none: str) -> str:
    if action is None:
        return none
    return f"first page -> {what(action)} by {action.actor} {_at(page, action.at)}"


def _times(page: Page, team: Team) -> Table:
    first = team.first_page.delivered_at if team.first_page else None
    incident = team.state.incident if team.state.incident and team.state.incident.severity else None
    mitigation = team.mitigation.action if team.mitigation else None
    first_action = next((a for a in team.actions if a.action != "unavailable"), None)
    rows: list[Row] = [
        [
            "time to acknowledge (TTA)",
            Cell(fmt.dur(team.tta_s), num=True),
            f"{_at(page, first)} -> {_at(page, team.first_page.acked_at if team.first_page else None)}",
            small(DEFINITIONS["TTA"]),
        ],
        [
            "time to declare",
            Cell(fmt.dur(team.ttd_human_s), num=True),
            f"{team.first_symptom_by or 'first symptom'} {_at(page, team.first_symptom)} -> "
            + (
                f"{incident.severity} by {incident.declared_by} {_at(page, incident.declared_at)}"
                if incident
                else "never"
            ),
            small(DEFINITIONS["time to declare"]),
        ],
        [
            "time to first action",
            Cell(fmt.dur(team.first_action_s), num=True),
            _done(page, first_action, "no action"),
            small(DEFINITIONS["time to first action"]),
        ],
        [
            "time to effective mitigation",
            Cell(fmt.dur(team.ttm_human_s), num=True),
            _done(page, mitigation, "no action helped"),
            small(DEFINITIONS["time to effective mitigation"]),
        ],
        [
            "time to recover",
            Cell(fmt.dur(team.ttr_s), num=True),
            f"first page -> SLIs back within SLO {_at(page, page.times.recovery)}"
            if team.ttr_s is not None
            else "the SLIs had not recovered by the end",
            small(DEFINITIONS["time to recover"]),
        ],
    ]
    return Table(["", "value", "from -> to", "definition"], rows, keyed=True)


def _pages(page: Page, team: Team) -> Table:
    rows: list[Row] = []
    for p in team.pages:
        acked: Text | Cell = (
            f"{p.acked_by} {_at(page, p.acked_at)}"
            if p.acked_at is not None
            else Cell("nobody acked", cls="bad")
        )
        rows.append(
            [
                p.alert,
                p.severity,
                _at(page, p.starts_at),
                _at(page, p.delivered_at),
                Cell(fmt.dur(delivery_latency_s(p)), num=True),
                acked,
                Cell(fmt.dur(tta_s(p)), num=True),
            ]
        )
    return Table(
        ["alert", "severity", "firing since", "delivered", "delivery latency", "acked", "TTA"],
        rows,
        empty="no page reached the pager",
    )


def side_by_side(page: Page, team: Team) -> Fold:
    """What happened (faults, SLO breaches, alerts, crashes) and what the team did, in one time order."""
    t = page.times
    rows: list[tuple[float, int, Text, str, Text]] = []
    for f in t.faults:
        what = f"fault {f.name}" + (f" ({f.type} on {f.target})" if f.type or f.target else "")
        rows += [(f.start, 0, f"{what} starts", "", ""), (f.end, 0, f"{what} ends ({f.ended_by})", "", "")]
    for b in t.breaches:
        rows += [
            (b.start, 0, f"SLO breach ({b.label}) starts", "", ""),
            (b.end, 0, f"SLO breach ({b.label}) ends", "", ""),
        ]
    rows += [(ts, 0, f"alert {name} first firing", "", "") for name, ts in t.alerts_fired.items()]
    rows += [(m.ts, 0, Styled(m.label, "bad"), "", "") for m in page.impact.crash_markers]
    rows += [(r.at, 1, "", r.actor, r.what) for r in team.timeline]
    rows.sort(key=lambda r: (r[0], r[1]))
    table = Table(
        ["UTC", "+", "what happened (telemetry, journal)", "who", "what the team did"],
        [[fmt.utc(ts), fmt.rel(ts, page.t0), happened, who, did] for ts, _, happened, who, did in rows],
        scroll=True,
    )
    return Fold("The team's timeline beside the telemetry", [table], id="team-timeline", open=True)


def response(page: Page) -> Section | None:
    team = page.report.team
    if team is None:
        return None
    state = team.state
    members = [
        f"{m.name} ({ROLE_LABELS.get(m.role, m.role)}, joined {fmt.rel(m.joined_at, page.t0)})"
        for m in state.members.values()
    ]
    who: list[Text] = [[strong("The team"), ": " + (", ".join(members) if members else "nobody joined")]]
    if team.scripted:
        who.append("A rehearsal: the team's moves were played by a script (the manifest's team: scripted).")
    blocks: list[Block] = [
        Items(who),
        Heading("Response times"),
        _times(page, team),
        Heading("Pages"),
        Paragraph(small(f"Delivery latency: {DEFINITIONS['delivery latency']}.")),
        _pages(page, team),
    ]
    timeline = side_by_side(page, team)
    if team.unacked:
        blocks.append(
            Paragraph(
                [
                    strong(f"{len(team.unacked)} page(s) nobody acked"),
                    ": " + ", ".join(f"{p.alert} ({_at(page, p.delivered_at)})" for p in team.unacked),
                ]
            )
        )
    if state.hints:
        blocks += [
            Heading("Hints from the facilitator"),
            Items([f"{fmt.rel(h.at, page.t0)}: {h.text}" for h in state.hints]),
        ]
    blocks.append(timeline)
    return Section("team", "The team's response", blocks)


def _sides(e: Effect) -> list[Text | Cell]:
    if e.before is None or e.after is None:
        return ["", "", "", ""]
    b, a = e.before, e.after

    def pair(x: str, y: str) -> Cell:
        return Cell(f"{x} -> {y}", num=True)

    return [
        pair(fmt.dur(b.seconds), fmt.dur(a.seconds)),
        pair(f"{b.crashes} ({per_minute(b.crash_rate)})", f"{a.crashes} ({per_minute(a.crash_rate)})"),
        pair(
            f"{fmt.times(b.burn)} ({fmt.pct(b.availability, 1)})",
            f"{fmt.times(a.burn)} ({fmt.pct(a.availability, 1)})",
        ),
        pair(fmt.ms(b.p99_s), fmt.ms(a.p99_s)),
    ]


def effects(page: Page) -> Section | None:
    team = page.report.team
    if team is None:
        return None
    rows: list[Row] = []
    for e in team.effects:
        a = e.action
        result = a.result + (f": {a.error}" if a.error else "")
        rows.append(
            [
                fmt.rel(a.at, page.t0),
                a.actor,
                code(what(a)),
                result,
                *_sides(e),
                Cell(e.verdict or "n/a", cls=VERDICT_CLASS.get(e.verdict or "", "")),
                small(e.reason),
            ]
        )
    rule = (
        "Each action is judged on the SLIs while the faults were active (fault exposure), in the regime "
        "after it (from the action plus the lag to the next action that changes the system) against the "
        "regime before it. The first of crashes per minute, burn rate and p99 that moved by a factor of "
        f"{FACTOR:g} decides: helped, worse; none moved: no_effect; too little exposure after it (the "
        "faults ended, the next action came first, the game day ended) or before it: too_early. The full "
        "rule is in docs/reports.md."
    )
    return Section(
        "team-actions",
        "What each action did",
        [
            Paragraph(small(rule)),
            Table(
                [
                    "+",
                    "who",
                    "action",
                    "result",
                    "exposure before -> after",
                    "crashes (per minute)",
                    "burn rate (availability)",
                    "p99",
                    "verdict",
                    "why",
                ],
                rows,
                empty="the team took no action",
            ),
        ],
    )
