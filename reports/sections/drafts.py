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
    for h in hypotheses(team.records):
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
    decisions = [
        f"{fmt.rel(n.at, page.t0)} {n.actor}: {n.text}" for n in team.records.notes if n.kind == "decision"
    ]
    if decisions:
        blocks += [Paragraph("Decisions:"), Items(decisions)]
    if team.records.resolved is not None:
        r = team.records.resolved
        blocks += [Paragraph(f"Resolved by {r.actor} at {fmt.rel(r.at, page.t0)}:"), Quote(r.text)]
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
