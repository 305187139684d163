"""Missing data: every source that could not be read, and why (the figures that depend on it read n/a)."""

from __future__ import annotations

from reports.document import Items, Paragraph, Section, small, strong
from reports.sections.page import Page


def section(page: Page) -> Section | None:
    problems = page.report.problems
    if not problems:
        return None
    return Section(
        "missing-data",
        "Missing data",
        [
            Paragraph(small('These sources could not be read; the figures that depend on them show "n/a".')),
            Items([[strong(p.name), f": {p.why}"] for p in problems]),
        ],
        cls="missing",
    )
