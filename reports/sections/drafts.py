"""The drafts a human finishes (root cause, contributing factors) and the suggested action items."""

from __future__ import annotations

from reports.document import Items, Paragraph, Section, Tag, small
from reports.sections.page import Page

DRAFT = Tag("DRAFT", "draft-tag")


def _draft(anchor: str, title: str, note: str, lines: list[str]) -> Section:
    return Section(anchor, [f"{title} ", DRAFT], [Paragraph(small(note)), Items(lines)], cls="draft")


def root_cause(page: Page) -> Section:
    note = "Generated from the data; a human confirms or rewrites it."
    return _draft("root-cause", "Root cause", note, page.report.root_cause)


def contributing(page: Page) -> Section:
    note = "What the mechanism detectors saw; a human finishes it."
    return _draft("contributing", "Contributing factors", note, page.report.contributing)


def actions(page: Page) -> Section:
    return Section(
        "actions",
        "Suggested action items",
        [Items(page.report.actions, todo=True, empty="nothing the data points at")],
    )
