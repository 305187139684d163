"""Debrief: the scenario's questions for the team (before the reveal of a blind drill)."""

from __future__ import annotations

from reports.document import Items, Paragraph, Section, small
from reports.sections.page import Page


def section(page: Page) -> Section | None:
    ctx = page.ctx
    if not ctx.debrief:
        return None
    note = "Questions for the team" + ("; answer them before opening the last section." if ctx.blind else ".")
    return Section("debrief", "Debrief", [Paragraph(small(note)), Items(ctx.debrief, ordered=True)])
