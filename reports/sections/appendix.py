"""Appendix: every source (read or not, and why), every query with its text, and the scenario file (a
blind drill shows it in the reveal)."""

from __future__ import annotations

from reports.document import (
    Block,
    Cell,
    Heading,
    Link,
    Paragraph,
    Section,
    Table,
    Text,
    Verbatim,
    code,
    small,
)
from reports.render import format as fmt
from reports.sections.page import Page

NO_SCENARIO = "(no scenario.yaml in the run directory)"


def section(page: Page) -> Section:
    inputs, ctx = page.real.inputs, page.ctx
    sources = Table(
        ["source", "ok", "detail"],
        [
            [s.name, Cell("yes" if s.ok else "no", cls="ok" if s.ok else "bad"), s.detail or s.why]
            for s in inputs.sources
        ],
    )
    prom = inputs.prom
    queries: list[list[Text]] = []
    for name, expr in (prom.queries if prom else {}).items():
        href = page.query_link(expr)
        queries.append([name, [code(expr), " ", Link("explore", href)] if href else code(expr)])
    span = f"Queries over {fmt.utc_full(page.t0)} to {fmt.utc_full(page.t1)}"
    span += f", range queries at a step of {prom.step_s:g}s; counters as raw samples." if prom else "."
    blocks: list[Block] = [
        Heading("Sources"),
        sources,
        Heading("Queries"),
        Paragraph(small(span)),
        Table(["name", "PromQL"], queries, empty="no Prometheus"),
    ]
    if ctx.blind:
        blocks.append(Paragraph(small("The scenario file is in the last section: it names the faults.")))
    else:
        blocks += [Heading("Scenario"), Verbatim(ctx.scenario_text or NO_SCENARIO, "yaml")]
    return Section("appendix", "Appendix", blocks)
