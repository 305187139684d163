"""Evidence: error log lines grouped by code, the first of them (panics first), the latency exemplars and
the slowest and failing traces with their spans."""

from __future__ import annotations

from reports.document import (
    Block,
    Cell,
    Fold,
    Heading,
    Inline,
    Link,
    Paragraph,
    Section,
    Styled,
    Table,
    Text,
    code,
)
from reports.render import format as fmt
from reports.sections.page import Page


def _trace(page: Page, trace_id: str, shown: str) -> Text:
    href = page.trace_link(trace_id)
    return Link(shown, href, "code") if href else code(shown)


def section(page: Page) -> Section:
    ev = page.report.evidence
    blocks: list[Block] = [
        Heading(f"Error log lines by code ({fmt.num(ev.error_lines)} lines)"),
        Table(
            ["service", "code", "level", "count", "first", "last", "sample", "trace"],
            [
                [
                    g.service,
                    code(g.code),
                    g.level,
                    Cell(fmt.num(g.count), num=True),
                    fmt.utc(g.first),
                    fmt.utc(g.last),
                    code(g.sample),
                    _trace(page, g.trace_id, g.trace_id[:8]) if g.trace_id else "",
                ]
                for g in ev.log_groups
            ],
            empty="no error lines",
        ),
    ]
    if ev.first_lines:
        lines = Table(
            ["UTC", "service", "level", "code", "message"],
            [[fmt.utc(ln.ts), ln.service, ln.level, ln.code, code(ln.msg)] for ln in ev.first_lines],
        )
        blocks.append(Fold("First error lines (panics first)", [lines]))
    blocks += [
        Heading([code("trace_id"), " exemplars on rps_http_request_duration_seconds"]),
        Table(
            ["UTC", "latency", "trace"],
            [
                [fmt.utc(ts), Cell(fmt.ms(value), num=True), _trace(page, tid, tid)]
                for ts, value, tid, _ in ev.exemplars
            ],
            empty="no exemplars (the histogram carried none, or Prometheus kept none)",
        ),
        Heading("Slowest and failing traces"),
    ]
    for n, tv in enumerate(ev.traces):
        about = f" · {tv.why} · {fmt.ms(tv.duration_s)} · {tv.root} · {fmt.utc(tv.start)}"
        summary: list[Inline] = [code(tv.trace_id), about]
        if tv.failed:
            summary += [" · ", Styled("failed", "bad")]
        spans = Table(
            ["span", "service", "offset", "duration", "status"],
            [
                [
                    sp.name,
                    sp.service,
                    Cell(fmt.ms(sp.start - tv.start), num=True),
                    Cell(fmt.ms(sp.duration_s), num=True),
                    Cell("error " + sp.status_message if sp.error else "ok", cls="bad" if sp.error else ""),
                ]
                for sp in tv.spans
            ],
        )
        blocks.append(Fold(summary, [spans], id=f"trace-{tv.trace_id}", open=n == 0))
    if not ev.traces:
        blocks.append(Paragraph("no traces"))
    return Section("evidence", "Evidence", blocks)
