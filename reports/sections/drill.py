"""The drill as a teaching unit: its title, description, learning goals and the expected signals next to
what the data shows (a blind drill keeps its signals for the reveal)."""

from __future__ import annotations

from reports.analysis.signals import SignalCheck
from reports.document import Block, Heading, Inline, Items, Paragraph, Quote, Section, Table, Tag, small
from reports.sections.page import Page


def signals_table(checks: list[SignalCheck]) -> Table:
    return Table(
        ["what the trainees should have seen", "what the data shows"],
        [[c.signal, c.observed or "(see the charts)"] for c in checks],
    )


def section(page: Page) -> Section:
    ctx = page.ctx
    title: list[Inline] = ["The drill"]
    if ctx.blind:
        title += [" ", Tag("blind", "blind")]
    title += [": ", ctx.title]
    blocks: list[Block] = []
    if ctx.description:
        blocks.append(Quote(ctx.description))
    if ctx.blind:
        blocks.append(
            Paragraph(
                small(
                    'A blind drill: until the last section ("Revealed: what was injected") this report calls '
                    'the injected faults "fault A", "fault B", ... Work out what happened from the telemetry '
                    "first."
                )
            )
        )
    if ctx.learning_goals:
        blocks += [Heading("Learning goals"), Items(ctx.learning_goals)]
    if page.signals and not ctx.blind:
        blocks += [Heading("Expected signals"), signals_table(page.signals)]
    return Section("drill", title, blocks, cls="drill")
