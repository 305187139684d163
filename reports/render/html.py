"""The self-contained HTML page: the report's sections (reports/sections/) rendered block by block, every
text escaped by markupsafe; the frame (inline CSS, the tiny cursor script) is a Jinja template."""

from __future__ import annotations

from collections.abc import Sequence

import jinja2
from markupsafe import Markup, escape

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
from reports.render import format as fmt
from reports.sections import page_of, sections

_STYLE_TAGS = {"strong": ("<b>", "</b>"), "code": ("<code>", "</code>")}


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        dur=fmt.dur,
        pct=fmt.pct,
        times=fmt.times,
        num=fmt.num,
        ms=fmt.ms,
        utc=fmt.utc,
        utc_full=fmt.utc_full,
        rel=fmt.rel,
    )
    return env


def static(name: str) -> str:
    """A template file's raw text (CSS, JS), inlined as is."""
    env = environment()
    assert env.loader is not None
    return env.loader.get_source(env, name)[0]


def inline(text: Text) -> Markup:
    out: list[Markup] = []
    for part in runs(text):
        if isinstance(part, str):
            out.append(escape(part))
        elif isinstance(part, Styled):
            if part.style in _STYLE_TAGS:
                start, end = _STYLE_TAGS[part.style]
                out.append(Markup(start) + escape(part.text) + Markup(end))
            else:
                out.append(Markup('<span class="{}">{}</span>').format(part.style, part.text))
        elif isinstance(part, Link):
            body = Markup("<code>{}</code>").format(part.text) if part.style == "code" else escape(part.text)
            out.append(Markup('<a href="{}">{}</a>').format(part.href, body))
        elif isinstance(part, Tag):
            out.append(Markup('<span class="tag {}">{}</span>').format(part.kind, part.text))
    return Markup("").join(out)


def _cell(value: Text | Cell, tag: str = "td") -> Markup:
    cell = value if isinstance(value, Cell) else Cell(value)
    classes = " ".join(c for c in ("n" if cell.num else "", cell.cls) if c)
    attrs = Markup(' class="{}"').format(classes) if classes else Markup("")
    if cell.colspan > 1:
        attrs += Markup(' colspan="{}"').format(cell.colspan)
    return Markup("<{0}{1}>{2}</{0}>").format(Markup(tag), attrs, inline(cell.text))


def _table(t: Table) -> Markup:
    rows = [Markup("<tr>{}</tr>").format(Markup("").join(_cell(h, "th") for h in t.header))]
    for row in t.rows:
        cells = [_cell(c, "th" if t.keyed and i == 0 else "td") for i, c in enumerate(row)]
        rows.append(Markup("<tr>{}</tr>").format(Markup("").join(cells)))
    if not t.rows and t.empty:
        rows.append(Markup("<tr>{}</tr>").format(_cell(Cell(t.empty, colspan=len(t.header)))))
    table = Markup("<table>\n{}\n</table>").format(Markup("\n").join(rows))
    return Markup('<div class="scroll">{}</div>').format(table) if t.scroll else table


def block(b: Block) -> Markup:
    if isinstance(b, Table):
        return _table(b)
    if isinstance(b, Paragraph):
        attrs = Markup("").join(
            Markup(' {}="{}"').format(k, v) for k, v in (("class", b.cls), ("id", b.id)) if v
        )
        return Markup("<p{}>{}</p>").format(attrs, inline(b.text))
    if isinstance(b, Items):
        tag = Markup("ol" if b.ordered else "ul")
        items = [inline(i) for i in b.items] or ([escape(b.empty)] if b.empty else [])
        return Markup("<{0}>{1}</{0}>").format(
            tag, Markup("").join(Markup("<li>{}</li>").format(i) for i in items)
        )
    if isinstance(b, Quote):
        return Markup('<div class="description">{}</div>').format(b.text)
    if isinstance(b, Verbatim):
        return Markup("<pre>{}</pre>").format(b.text)
    if isinstance(b, Heading):
        return Markup("<h3>{}</h3>").format(inline(b.text))
    if isinstance(b, Fold):
        attrs = Markup(' id="{}"').format(b.id) if b.id else Markup("")
        attrs += Markup(" open") if b.open else Markup("")
        inner = Markup("\n").join(block(x) for x in b.blocks)
        return Markup("<details{}><summary>{}</summary>\n{}\n</details>").format(
            attrs, inline(b.summary), inner
        )
    if isinstance(b, Tiles):
        return Markup('<div class="tiles">{}</div>').format(
            Markup("").join(
                Markup(
                    '<div class="tile {}" data-key="{}"><div class="k">{}</div><div class="v">{}</div>'
                    '<div class="d">{}</div></div>'
                ).format(t.cls, t.key, t.label, t.value, t.detail)
                for t in b.tiles
            )
        )
    if isinstance(b, Figure):
        return b.svg
    if isinstance(b, Legend):
        swatches = Markup("").join(
            Markup('<span><i class="sw" style="background:{}"></i>{}</span>').format(color, label)
            for label, color in b.items
        )
        return Markup('<p class="legend small">{} {}</p>').format(swatches, b.note)
    raise TypeError(f"no HTML for {type(b).__name__}")  # pragma: no cover - every block type is above


def section(s: Section) -> Markup:
    inner = Markup("\n").join(block(b) for b in s.blocks)
    cls = Markup(' class="{}"').format(s.cls) if s.cls else Markup("")
    if not runs(s.title):
        return Markup('<section id="{}"{}>\n{}\n</section>').format(s.id, cls, inner)
    return Markup('<section{}>\n<h2 id="{}">{}</h2>\n{}\n</section>').format(
        cls, s.id, inline(s.title), inner
    )


def render_sections(sections: Sequence[Section]) -> Markup:
    return Markup("\n").join(section(s) for s in sections)


def render_html(report: Report) -> str:
    """The page; a blind drill's page names its faults only in the last section (the reveal)."""
    page = page_of(report)
    return (
        environment()
        .get_template("report.html.j2")
        .render(
            title=page.title,
            heading=inline(page.heading),
            meta=inline(page.meta),
            body=render_sections(sections(page)),
            css=Markup(static("report.css")),
            script=Markup(static("report.js")),
        )
    )
