"""Expectations and the verdict: each expectation of the scenario as the one evaluator (chaos.verdict)
checked it, and every reason the drill did not pass."""

from __future__ import annotations

from reports.document import Block, Cell, Items, Paragraph, Row, Section, Table, strong
from reports.sections.page import Page


def section(page: Page) -> Section:
    ev = page.report.evaluation
    why = ev.verdict in ("aborted", "incomplete") and ev.reason
    rows: list[Row] = [
        [
            c.title,
            c.expected_text,
            c.measured_text,
            Cell(
                "yes" if c.met else ("unknown" if c.met is None else "no"),
                cls="ok" if c.met else ("warn" if c.met is None else "bad"),
            ),
        ]
        for c in ev.checks
    ]
    blocks: list[Block] = [
        Table(
            ["expectation", "expected", "measured", "met"],
            rows,
            empty="the scenario sets no expectations: the verdict follows injections and after-probes",
        ),
        Paragraph([strong("Verdict"), f": {ev.verdict}" + (f" ({ev.reason})" if why else "")]),
    ]
    if ev.failures:
        blocks.append(Items(ev.failures))
    return Section("expectations", "Expectations", blocks)
