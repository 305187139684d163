"""Revealed: what was injected (blind drills only): each letter the page used and the real fault, the
expected signals, the scenario file."""

from __future__ import annotations

from reports.document import Block, Heading, Paragraph, Section, Table, Text, Verbatim, code, small, strong
from reports.render import format as fmt
from reports.render.blind import reveal
from reports.sections.appendix import NO_SCENARIO
from reports.sections.drill import signals_table
from reports.sections.page import Page


def section(page: Page) -> Section | None:
    ctx = page.ctx
    if not ctx.blind:
        return None
    rows = []
    for rv in reveal(page.real):
        f = rv.fault
        name: Text = [f.name, small(" (baseline)")] if f.baseline else f.name
        params = ", ".join(f"{k}={v}" for k, v in f.params.items() if v is not None)
        rows.append(
            [
                strong(rv.alias),
                name,
                code(f.type),
                f.target,
                code(params) if params else "",
                f"{fmt.utc(f.start)}-{fmt.utc(f.end)}",
                f"{fmt.rel(f.start, page.t0)} - {fmt.rel(f.end, page.t0)}",
                f.ended_by,
            ]
        )
    blocks: list[Block] = [
        Paragraph('What this report called "fault A", "fault B", ... Compare it with your timeline.'),
        Table(
            ["on this page", "fault", "type", "target", "params", "window (UTC)", "since start", "ended by"],
            rows,
            empty="no fault recorded in the journal or the metrics",
        ),
    ]
    if page.signals:
        blocks += [Heading("Expected signals"), signals_table(page.signals)]
    blocks += [Heading("Scenario"), Verbatim(ctx.scenario_text or NO_SCENARIO, "yaml")]
    return Section("reveal", "Revealed: what was injected", blocks)
