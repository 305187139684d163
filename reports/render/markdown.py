"""``report.md``: the same sections as the page (reports/sections/), for wikis and pull requests.

Text never carries HTML: ``<`` and a closing ``>`` become entities (an arrow ``->`` stays as written),
``|`` is escaped in tables. Charts are named (they are in index.html)."""

from __future__ import annotations

import re

from reports.build import Report
from reports.document import (
    Block,
    Cell,
    Figure,
    Fold,
    Heading,
    Items,
    Legend,
    Link,
    Paragraph,
    Quote,
    Section,
    Styled,
    Table,
    Tag,
    Text,
    Tiles,
    Verbatim,
    runs,
)
from reports.sections import page_of, sections

_CLOSE = re.compile(r"(?<!-)>")
#: code with angle brackets (a log line quoting HTML) is shown as escaped text: a code span would keep them
_ANGLE = re.compile(r"[<>]")
FENCE = "~~~~~~~~"


def escape(text: str) -> str:
    """No HTML, one line, no table break; ``->`` as written."""
    out = text.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")
    return _CLOSE.sub("&gt;", out)


def inline(text: Text) -> str:
    out = []
    for part in runs(text):
        if isinstance(part, str):
            out.append(escape(part))
        elif isinstance(part, Styled):
            if part.style == "code" and not _ANGLE.search(part.text):
                out.append("`" + part.text.replace("`", "'").replace("|", "\\|").replace("\n", " ") + "`")
            elif part.style == "strong":
                out.append(f"**{escape(part.text)}**")
            else:
                out.append(escape(part.text))
        elif isinstance(part, Link):
            shown = f"`{part.text}`" if part.style == "code" else escape(part.text)
            # a link into the page has no target in report.md
            out.append(shown if part.href.startswith("#") else f"[{shown}](<{part.href}>)")
        elif isinstance(part, Tag):
            out.append(f"({escape(part.text)})")
    return "".join(out).strip()


def _cell(value: Text | Cell) -> str:
    return inline(value.text if isinstance(value, Cell) else value)


def _table(t: Table) -> list[str]:
    out = ["| " + " | ".join(escape(h) for h in t.header) + " |", "|" + "---|" * len(t.header)]
    rows = [[_cell(c) for c in row] for row in t.rows]
    if not rows and t.empty:
        rows = [[escape(t.empty)] + [""] * (len(t.header) - 1)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return [*out, ""]


def block(b: Block) -> list[str]:
    if isinstance(b, Table):
        return _table(b)
    if isinstance(b, Paragraph):
        return [inline(b.text), ""]
    if isinstance(b, Items):
        if not b.items:
            return [f"- {escape(b.empty)}", ""] if b.empty else []
        marks = [f"{n}." if b.ordered else ("- [ ]" if b.todo else "-") for n in range(1, len(b.items) + 1)]
        return [f"{m} {inline(i)}" for m, i in zip(marks, b.items, strict=True)] + [""]
    if isinstance(b, Quote):
        return [f"> {escape(line)}" if line.strip() else ">" for line in b.text.splitlines()] + [""]
    if isinstance(b, Verbatim):
        return [FENCE + b.lang, b.text.rstrip().replace(FENCE, "~ ~"), FENCE, ""]
    if isinstance(b, Heading):
        return [f"### {inline(b.text)}", ""]
    if isinstance(b, Fold):
        return [f"#### {inline(b.summary)}", ""] + [line for x in b.blocks for line in block(x)]
    if isinstance(b, Tiles):
        return _table(
            Table(["", "value", "detail"], [[strong_label(t.label), t.value, t.detail] for t in b.tiles])
        )
    if isinstance(b, Figure):
        return [f"- chart: {escape(b.title)} (in index.html)"]
    if isinstance(b, Legend):
        return []
    raise TypeError(f"no Markdown for {type(b).__name__}")  # pragma: no cover - every block type is above


def strong_label(text: str) -> Styled:
    return Styled(text, "strong")


def section(s: Section) -> list[str]:
    lines = [f"## {inline(s.title)}", ""] if runs(s.title) else []
    for b in s.blocks:
        lines += block(b)
    if lines and lines[-1] != "":
        lines.append("")
    return lines


def render_markdown(report: Report) -> str:
    """``report.md``; a blind drill's names its faults only in the last section."""
    page = page_of(report)
    lines = [f"# {inline(page.heading)}", "", inline(page.meta), ""]
    for s in sections(page):
        lines += section(s)
    return "\n".join(lines).rstrip() + "\n"
