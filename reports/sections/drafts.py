"""The drafts a human finishes (root cause, contributing factors) and the suggested action items."""

from __future__ import annotations

from reports.document import Items, Paragraph, Section, Tag, small
from reports.sections.page import Page

DRAFT = Tag("DRAFT", "draft-tag")


def root_cause(page: Page) -> Section:
    return Section(
        "root-cause",
        ["Root cause ", DRAFT],
        [
            Paragraph(small("Generated from the data; a human confirms or rewrites it.")),
            Items(page.report.root_cause),
        ],
        cls="draft",
    )


def contributing(page: Page) -> Section:
    return Section(
        "contributing",
        ["Contributing factors ", DRAFT],
        [
            Paragraph(small("What the mechanism detectors saw; a human finishes it.")),
            Items(page.report.contributing),
        ],
        cls="draft",
    )


def actions(page: Page) -> Section:
    return Section(
        "actions",
        "Suggested action items",
        [Items(page.report.actions, todo=True, empty="nothing the data points at")],
    )
