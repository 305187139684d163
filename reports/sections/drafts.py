"""The drafts a human finishes (root cause, contributing factors) and the suggested action items."""

from __future__ import annotations

from dataclasses import replace

from reports.analysis.team import hypotheses
from reports.document import (
    Block,
    Cell,
    Heading,
    Items,
    Paragraph,
    Quote,
    Row,
    Section,
    Table,
    Tag,
    Text,
    small,
)
from reports.render import format as fmt
from reports.sections.page import Page

DRAFT = Tag("DRAFT", "draft-tag")


def _draft(anchor: str, title: str, note: str, lines: list[str]) -> Section:
    return Section(anchor, [f"{title} ", DRAFT], [Paragraph(small(note)), Items(lines)], cls="draft")


def _words(page: Page) -> list[Block]:
    """A game day's root cause in the team's own words: its hypotheses (held, and when each was dropped),
    its decisions and its resolution summary."""
    team = page.report.team
    if team is None:
        return []
    rows: list[Row] = []
    for h in hypotheses(team.state):
        n, drop = h.note, h.dropped
        dropped: Text | Cell = (
            f"dropped {fmt.rel(drop.at, page.t0)} by {drop.actor} (held {fmt.dur(drop.at - n.at)})"
            + (f": {drop.text}" if drop.text else "")
            if drop is not None
            else Cell("held to the end", cls="warn")
        )
        rows.append([fmt.rel(n.at, page.t0), n.actor, n.text, dropped])
    blocks: list[Block] = [
        Heading("In the team's words"),
        Table(["+", "who", "hypothesis", "dropped"], rows, empty="the team wrote down no hypothesis"),
    ]
    notes = sorted(team.state.notes.values(), key=lambda n: n.at)
    decisions = [f"{fmt.rel(n.at, page.t0)} {n.actor}: {n.text}" for n in notes if n.kind == "decision"]
    if decisions:
        blocks += [Paragraph("Decisions:"), Items(decisions)]
    incident = team.state.incident
    if incident is not None and incident.resolved_at is not None:
        by = f"Resolved by {incident.resolved_by} at {fmt.rel(incident.resolved_at, page.t0)}:"
        blocks += [Paragraph(by), Quote(incident.summary or "")]
    return blocks


def root_cause(page: Page) -> Section:
    note = "Generated from the data; a human confirms or rewrites it."
    section = _draft("root-cause", "Root cause", note, page.report.root_cause)
    words = _words(page)
    return replace(section, blocks=[*section.blocks, *words]) if words else section


def contributing(page: Page) -> Section:
    note = "What the mechanism detectors saw; a human finishes it."
    return _draft("contributing", "Contributing factors", note, page.report.contributing)


def actions(page: Page) -> Section:
    return Section(
        "actions",
        "Suggested action items",
        [Items(page.report.actions, todo=True, empty="nothing the data points at")],
    )
