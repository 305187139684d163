"""The report's sections, in page order. Each is built once as data (reports/document.py) by a function
of the :class:`Page`; the page (reports/render/html.py) and report.md (reports/render/markdown.py) render
the same list.

Adding a section: a module here with ``def section(page: Page) -> Section | None`` (None: nothing to
show for this run), one entry in :data:`SECTIONS`, a test (docs/contracts.md, "How to add a report
section")."""

from __future__ import annotations

from collections.abc import Callable

from reports.document import Section
from reports.sections import (
    appendix,
    chain,
    charts,
    debrief,
    detection,
    drafts,
    drill,
    evidence,
    expectations,
    impact,
    mechanisms,
    missing,
    reveal,
    summary,
    team,
    timeline,
)
from reports.sections.page import Page, page_of

Builder = Callable[[Page], Section | None]

SECTIONS: tuple[Builder, ...] = (
    summary.section,
    drill.section,
    team.scorecard,
    missing.section,
    charts.section,
    timeline.section,
    team.response,
    team.effects,
    impact.section,
    detection.section,
    chain.section,
    mechanisms.section,
    evidence.section,
    expectations.section,
    drafts.root_cause,
    drafts.contributing,
    drafts.actions,
    debrief.section,
    appendix.section,
    reveal.section,
)


def sections(page: Page) -> list[Section]:
    return [s for build in SECTIONS if (s := build(page)) is not None]


__all__ = ["SECTIONS", "Builder", "Page", "page_of", "sections"]
