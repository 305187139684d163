"""A report as data: sections of blocks of text. Each section is built once (reports/sections/) and
rendered to HTML (reports/render/html.py) and to Markdown (reports/render/markdown.py) from the same
structure, so the page and ``report.md`` cannot drift apart.

Text is plain: the renderers escape it (HTML through markupsafe, Markdown by its own rules). Only
:class:`Figure` carries ready markup (an inline SVG chart, made from numbers); Markdown names it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from markupsafe import Markup

# --- inline text -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Styled:
    """Text with a style: ``strong``, ``code``, ``small`` (a side note) or ``bad`` (in red on the page)."""

    text: str
    style: str


@dataclass(frozen=True)
class Link:
    text: str
    href: str
    #: ``code``: the link text is code (a trace id)
    style: str = ""


@dataclass(frozen=True)
class Tag:
    """A label next to a title: ``blind``, ``DRAFT``."""

    text: str
    kind: str


Inline = str | Styled | Link | Tag
#: one piece of text or a run of them
Text = Inline | Sequence[Inline]


def strong(text: object) -> Styled:
    return Styled(str(text), "strong")


def code(text: object) -> Styled:
    return Styled(str(text), "code")


def small(text: object) -> Styled:
    return Styled(str(text), "small")


def runs(text: Text) -> list[Inline]:
    """``text`` as a list of inline pieces."""
    return [text] if isinstance(text, str | Styled | Link | Tag) else list(text)


# --- blocks ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """A table cell with a look: ``num`` right-aligns a figure; ``cls`` is ``ok``, ``bad`` or ``warn``."""

    text: Text
    cls: str = ""
    num: bool = False
    colspan: int = 1


Row = Sequence[Text | Cell]


@dataclass(frozen=True)
class Table:
    header: Sequence[str]
    rows: Sequence[Row]
    #: what the table says when it has no row
    empty: str = ""
    #: a long table (the page scrolls it in a box)
    scroll: bool = False
    #: a key/value table whose first column is a heading
    keyed: bool = False


@dataclass(frozen=True)
class Paragraph:
    text: Text
    cls: str = ""
    id: str = ""


@dataclass(frozen=True)
class Items:
    """A list: bullets, numbered (``ordered``) or to-dos (``todo``)."""

    items: Sequence[Text]
    ordered: bool = False
    todo: bool = False
    empty: str = ""


@dataclass(frozen=True)
class Quote:
    """Text as the author wrote it (a drill's description), line breaks kept."""

    text: str


@dataclass(frozen=True)
class Verbatim:
    """A file's text (the scenario), shown as is."""

    text: str
    lang: str = ""


@dataclass(frozen=True)
class Heading:
    """A sub-heading inside a section."""

    text: Text


@dataclass(frozen=True)
class Fold:
    """Blocks behind a one-line summary (folded on the page unless ``open``)."""

    summary: Text
    blocks: Sequence[Block]
    id: str = ""
    open: bool = False


@dataclass(frozen=True)
class Tile:
    key: str
    label: str
    value: str
    detail: str = ""
    cls: str = ""


@dataclass(frozen=True)
class Tiles:
    tiles: Sequence[Tile]


@dataclass(frozen=True)
class Figure:
    """A chart: inline SVG on the page, its title in Markdown."""

    title: str
    svg: Markup


@dataclass(frozen=True)
class Legend:
    """What the marks on the charts mean: (label, CSS colour) pairs."""

    items: Sequence[tuple[str, str]]
    note: str = ""


Block = Table | Paragraph | Items | Quote | Verbatim | Heading | Fold | Tiles | Figure | Legend


@dataclass(frozen=True)
class Section:
    """One part of the report: ``id`` is its anchor, ``title`` its heading (none: no heading), ``cls``
    how the page frames it (``missing``, ``draft``, ``drill``)."""

    id: str
    title: Text
    blocks: Sequence[Block] = field(default_factory=list)
    cls: str = ""
