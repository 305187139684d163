"""Timeline: every journal event, first firings and SLO breaches, in time order, each linked to its
query (Grafana Explore or the live Prometheus) where there is one."""

from __future__ import annotations

from reports.document import Link, Section, Table, Text
from reports.render import format as fmt
from reports.sections.page import Page


def section(page: Page) -> Section:
    rows: list[list[Text]] = []
    for row in page.report.timeline:
        href = page.query_link(row.link) if row.link else ""
        link: Text = Link("explore", href) if href else ""
        rows.append([fmt.utc(row.ts), fmt.rel(row.ts, page.t0), row.source, row.event, link])
    return Section(
        "timeline", "Timeline", [Table(["UTC", "+", "source", "event", "link"], rows, scroll=True)]
    )
