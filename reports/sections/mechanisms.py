"""Mechanisms: what the detectors saw (retry amplification, in-flight pile-up, fd and connection growth,
memory slope, crash loop, slow dependency without timeout)."""

from __future__ import annotations

from reports.document import Cell, Row, Section, Table, Text, small
from reports.render import format as fmt
from reports.sections.page import Page


def section(page: Page) -> Section:
    rows: list[Row] = []
    for f in page.report.mechanisms.findings:
        seen = "yes" if f.detected else ("n/a" if f.detected is None else "no")
        cls = "bad" if f.detected else ("warn" if f.detected is None else "ok")
        value: Text = [fmt.num(f.value), small(f" {f.unit}")] if f.value is not None else ""
        rows.append([f.title, Cell(seen, cls=cls), Cell(value, num=True), f.detail])
    return Section("mechanisms", "Mechanisms", [Table(["detector", "detected", "value", "detail"], rows)])
