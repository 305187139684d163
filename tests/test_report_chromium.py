"""The page in headless Chromium: it loads offline without errors and shows the summary."""

from __future__ import annotations

from pathlib import Path

from reports.writer import report_run
from tests.helpers_report import chromium_dom
from tests.synthetic import GAMEDAY, synthesize


def test_page_loads_in_chromium_and_shows_the_summary(tmp_path: Path) -> None:
    truth = synthesize(tmp_path / "runs", minutes=1, crashes=1)
    written = report_run(truth.run.path)
    dom, log = chromium_dom(written.html, tmp_path / "profile")
    assert 'data-ready="1"' in dom, log[-2000:]  # the inline script ran
    assert 'id="summary"' in dom
    for key in ("verdict", "availability", "ttd", "ttm", "failed", "budget", "crashes"):
        assert f'data-key="{key}"' in dom
    assert dom.count('<svg class="chart"') == 7
    assert "&lt;script&gt;alert(" in dom
    for bad in ("Uncaught", "SyntaxError", "Refused to", "Failed to load resource"):
        assert bad not in log, log[-2000:]


def test_the_game_day_page_shows_the_teams_timeline_in_chromium(tmp_path: Path) -> None:
    truth = synthesize(tmp_path / "runs", minutes=4, gameday=GAMEDAY, players=True)
    written = report_run(truth.run.path)
    dom, log = chromium_dom(written.html, tmp_path / "profile")
    assert 'data-ready="1"' in dom, log[-2000:]
    timeline = dom[dom.index('id="team-timeline"') :]
    timeline = timeline[: timeline.index("</details>")]
    assert "what the team did" in timeline and "acked page ErrorBudgetBurnPage" in timeline
    assert "action flag circuit_breaker=on -&gt; ok" in timeline and "game exited: panic" in timeline
    assert "&lt;script&gt;alert('team')&lt;/script&gt;" in timeline  # typed by the team, shown as text
    assert dom.count('class="mk mk-action"') == 7 * 4  # four actions done, on every chart
    for anchor in ("scorecard", "team", "team-actions"):
        assert f'id="{anchor}"' in dom
    for bad in ("Uncaught", "SyntaxError", "Refused to", "Failed to load resource"):
        assert bad not in log, log[-2000:]
