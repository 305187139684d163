"""Fault -> SLI -> alert: for each fault, which SLI it moved and how soon, which alert caught it; and the
SLO breaches no fault explains."""

from __future__ import annotations

from reports.document import Block, Cell, Items, Paragraph, Section, Table, Text, small
from reports.render import format as fmt
from reports.sections.page import Page


def section(page: Page) -> Section:
    chain = page.report.chain
    rows = []
    for link in chain.links:
        f = link.fault
        name: Text = [f.name, small(f" ({f.type} on {f.target})")] if f.type or f.target else f.name
        moved = ", ".join(link.slis) if link.slis else (link.sli or "no")
        sli_after = "already" if link.already_breached else (fmt.dur(link.sli_delay_s) if link.sli else "")
        alert_after = (
            "already" if link.already_firing else (fmt.dur(link.alert_delay_s) if link.alert else "")
        )
        rows.append(
            [
                name,
                f"{fmt.utc(f.start)}-{fmt.utc(f.end)} ({f.ended_by})",
                moved,
                Cell(sli_after, num=True),
                link.alert or "none",
                Cell(alert_after, num=True),
                Cell(link.verdict, cls="ok" if link.alert or not link.sli else "bad"),
            ]
        )
    blocks: list[Block] = [
        Table(
            ["fault", "window (UTC)", "SLI moved", "after", "alert", "after", "verdict"],
            rows,
            empty="no fault recorded",
        ),
        Paragraph(
            f"SLI breaches no fault explains (starting more than {fmt.dur(chain.grace_s)} after every fault "
            "ended):" + ("" if chain.unexplained else " none.")
        ),
    ]
    if chain.unexplained:
        blocks.append(Items([f"{b.label} {fmt.utc(b.start)}-{fmt.utc(b.end)}" for b in chain.unexplained]))
    return Section("chain", "Fault -> SLI -> alert", blocks)
