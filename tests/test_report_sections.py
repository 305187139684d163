"""Each report section is built once as data and rendered to the page and to report.md from the same
structure: the same sections in the same order in both; a new section is one builder in SECTIONS."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from reports import sections as report_sections
from reports.build import build_report
from reports.document import Items, Section, Table, runs
from reports.render.html import render_html
from reports.render.markdown import render_markdown
from reports.sections import Page, page_of, sections
from tests.synthetic import synthesize


def _headings(page_html: str, md: str) -> tuple[list[tuple[str, str]], list[str]]:
    found = re.findall(r'<h2 id="([^"]+)">(.*?)</h2>', page_html)
    as_text = [(anchor, html.unescape(re.sub(r"<[^>]+>", "", title))) for anchor, title in found]
    return as_text, [line[3:] for line in md.splitlines() if line.startswith("## ")]


def test_the_page_and_report_md_have_the_same_sections_in_the_same_order(tmp_path: Path) -> None:
    truth = synthesize(tmp_path, minutes=1, crashes=1)
    report = build_report(truth.run.path)
    built = sections(page_of(report))
    on_page, in_md = _headings(render_html(report), render_markdown(report))
    assert [anchor for anchor, _ in on_page] == [s.id for s in built]
    assert len(in_md) == len(built)
    for (_, shown), heading, section in zip(on_page, in_md, built, strict=True):
        words = "".join(part for part in runs(section.title) if isinstance(part, str)).strip()
        assert shown.startswith(words) and html.unescape(heading).startswith(words), (shown, heading)


def test_a_new_section_is_one_builder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def team(page: Page) -> Section:
        crashes = page.impact.crashes
        return Section(
            "team",
            "The team",
            [
                Items(["paged <on-call>", f"{crashes} crash(es) to explain"]),
                Table(["who", "did"], [["ana", "ack"]]),
            ],
        )

    monkeypatch.setattr(
        report_sections, "SECTIONS", (*report_sections.SECTIONS[:-2], team, *report_sections.SECTIONS[-2:])
    )
    truth = synthesize(tmp_path, minutes=1, crashes=1)
    report = build_report(truth.run.path)
    page_html, md = render_html(report), render_markdown(report)
    assert '<h2 id="team">The team</h2>' in page_html and "<li>paged &lt;on-call&gt;</li>" in page_html
    assert "<tr><td>ana</td><td>ack</td></tr>" in page_html
    team_md = "## The team\n\n- paged &lt;on-call&gt;\n- 1 crash(es) to explain\n\n"
    assert team_md + "| who | did |\n|---|---|\n| ana | ack |" in md
    assert page_html.index('id="team"') < page_html.index('id="appendix"')
    assert md.index("## The team") < md.index("## Appendix")
