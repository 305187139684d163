"""The team on a game day's post-mortem, from synthetic runs (tests/synthetic.py: a real TSDB replayed by a
real Prometheus, the team's records in the journal): response times, pages, the effect of every action
(and the fault-aware rule behind it), the team's words in the drafts, escaping, blind game days."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from crashlab.journal import Journal
from reports.analysis.effects import Side, decide, moves
from reports.build import Report
from reports.compare import compare_runs
from reports.writer import Written, report_run
from tests.helpers_report import load_summary
from tests.synthetic import GAMEDAY, NO_RUNBOOK_ALERT, NOTE_MARKUP, Truth, synthesize


@dataclass
class GameDayRun:
    truth: Truth
    written: Written
    summary: dict[str, Any]
    html: str
    md: str

    @property
    def report(self) -> Report:
        return self.written.report

    def at(self, offset: float) -> float:
        return self.truth.start.timestamp() + offset


@pytest.fixture(scope="module")
def gameday(tmp_path_factory: pytest.TempPathFactory) -> GameDayRun:
    truth = synthesize(tmp_path_factory.mktemp("runs"), minutes=4, gameday=GAMEDAY, players=True)
    written = report_run(truth.run.path)
    return GameDayRun(
        truth,
        written,
        load_summary(truth.run.path),
        written.html.read_text(encoding="utf-8"),
        written.markdown.read_text(encoding="utf-8"),
    )


def _effects(summary: dict[str, Any]) -> dict[str, str | None]:
    return {
        f"{a['action']} {json.dumps(a['params'], sort_keys=True)}": a["effect"]
        for a in summary["team"]["actions"]
    }


def test_the_response_times_are_the_scripted_ones(gameday: GameDayRun) -> None:
    team, plan = gameday.summary["team"], GAMEDAY
    assert [(m["name"], m["role"]) for m in team["members"]] == [
        ("ana", "incident_commander"),
        ("bo", "on_call"),
        ("cy", "scribe"),
    ]
    first_page = gameday.truth.alert_at.timestamp() + plan.delivery_s
    assert team["tta_s"] == pytest.approx(plan.ack_after_s, abs=0.01)
    breach = gameday.report.times.breach_start
    assert breach is not None and abs(breach - gameday.at(plan.first_at)) <= 2  # the first episode
    assert team["ttd_human_s"] == pytest.approx(gameday.at(plan.declare_at) - breach, abs=0.01)
    assert team["first_action_s"] == pytest.approx(gameday.at(plan.no_effect_at) - first_page, abs=0.01)
    assert team["ttm_human_s"] == pytest.approx(gameday.at(plan.flip_at) - first_page, abs=0.01)
    recovery = gameday.report.times.recovery
    assert recovery is not None and team["ttr_s"] == pytest.approx(recovery - first_page, abs=0.01)
    assert team["crashes_after_first_page"] == 3  # the page came half a second before the first crash
    pages = {p["alert"]: p for p in team["pages"]}
    assert list(pages) == ["ErrorBudgetBurnPage", "CrashLoop", NO_RUNBOOK_ALERT]  # the repeat is one page
    assert pages["ErrorBudgetBurnPage"]["delivery_latency_s"] == pytest.approx(plan.delivery_s, abs=0.01)
    assert pages["ErrorBudgetBurnPage"]["acked_by"] == "bo"
    assert [p["alert"] for p in team["unacked_pages"]] == ["CrashLoop"]


def test_each_action_is_judged_by_the_faults_it_faced(gameday: GameDayRun) -> None:
    assert _effects(gameday.summary) == {
        'unavailable {"wanted": "shed load at the edge"}': None,
        'flag {"rate_limit": true}': "no_effect",  # the episodes after it crashed like the ones before
        'silence {"alert": "CrashLoop", "comment": "known", "duration": "30m"}': "no_effect",
        'flag {"circuit_breaker": true}': "helped",  # no crash in the later episodes
        'flag {"fallback": true}': "too_early",  # no episode came after it
    }
    actions = {a["action"] + str(a["params"]): a for a in gameday.summary["team"]["actions"]}
    flip = actions["flag{'circuit_breaker': True}"]
    assert flip["before"]["crashes"] == 1 and flip["after"]["crashes"] == 0
    assert flip["after"]["availability"] == pytest.approx(1.0) and flip["before"]["availability"] < 0.9
    assert flip["before"]["exposure_s"] >= 15 and flip["after"]["exposure_s"] >= 45
    late = actions["flag{'fallback': True}"]
    assert "the faults ended" in late["why"] and f"{GAMEDAY.fault}#6 expired" in late["why"]
    assert gameday.summary["team"]["mitigation"] == gameday.summary["team"]["actions"][3]["at"]


def test_the_scorecard_holds_the_team_to_the_drills_targets(gameday: GameDayRun) -> None:
    team = gameday.summary["team"]
    card = {row["target"]: row for row in team["scorecard"]}
    assert list(card) == ["ack", "declare", "mitigate", "crashes_after_first_page"]
    assert card["ack"] == {"target": "ack", "limit": 10.0, "measured": team["tta_s"], "met": True}
    assert card["declare"]["measured"] == team["ttd_human_s"] and card["declare"]["met"] is True
    # the breaker helped 1m 32s after the first page: later than the 1 minute target
    assert card["mitigate"]["measured"] == team["ttm_human_s"] > 60 and card["mitigate"]["met"] is False
    assert (
        card["crashes_after_first_page"]["measured"] == 3 and card["crashes_after_first_page"]["met"] is False
    )
    expected = {x["action"]: x for x in team["expected_mitigations"]}
    assert expected["flag"]["taken_at"] == team["mitigation"] and expected["flag"]["effect"] == "helped"
    assert expected["deploy"]["taken_at"] is None and expected["deploy"]["effect"] is None
    html = gameday.html
    section = html[html.index('<h2 id="scorecard"') : html.index('<h2 id="charts"')]
    assert "2 of 4 targets met" in section and "not taken" in section


def test_the_page_shows_the_team_and_the_data_behind_each_verdict(gameday: GameDayRun) -> None:
    html = gameday.html
    order = [html.index(f'<h2 id="{anchor}"') for anchor in ("summary", "scorecard", "charts", "team")]
    assert order == sorted(order) and html.index('id="team-actions"') < html.index('id="impact"')
    team = html[html.index('<h2 id="team"') : html.index('<h2 id="team-actions"')]
    assert 'id="team-timeline"' in team and "what the team did" in team
    for definition in ("page delivered to the pager -&gt; its first ack", "first symptom"):
        assert definition in team
    assert "nobody acked" in team and "shed load" not in team.split("team-timeline")[0]
    actions = html[html.index('<h2 id="team-actions"') : html.index('<h2 id="impact"')]
    flip = next(row for row in actions.split("<tr>") if "circuit_breaker=on" in row)
    assert "1 (3.0/min) -&gt; 0 (0.0/min)" in flip and '<td class="ok">helped</td>' in flip
    for mark in ("mk-page", "mk-ack", "mk-action", "mk-declare"):
        assert mark in html
    md = gameday.md
    assert "## The team's response" in md and "## What each action did" in md
    assert "| flag circuit_breaker=on" in md or "`flag circuit_breaker=on`" in md


def test_what_the_team_typed_is_escaped(gameday: GameDayRun) -> None:
    assert "<script>alert('team')" not in gameday.html and "<b>slow" not in gameday.html
    assert (
        "odds &lt;b&gt;slow&lt;/b&gt; &amp; &lt;script&gt;alert(&#39;team&#39;)&lt;/script&gt;"
        in gameday.html
    )
    assert "<script>" not in gameday.md and "<b>" not in gameday.md
    assert "odds &lt;b&gt;slow&lt;/b&gt; & &lt;script&gt;alert('team')&lt;/script&gt;" in gameday.md
    assert NOTE_MARKUP in gameday.summary["team"]["hypotheses"][0]["text"]


def test_the_drafts_use_the_teams_words_and_name_the_runbook_gaps(gameday: GameDayRun) -> None:
    md = gameday.md
    root = md[md.index("## Root cause") : md.index("## Contributing")]
    assert "### In the team's words" in root
    assert "| +50 s | ana | odds &lt;b&gt;slow" in root and "held to the end" in root
    assert (
        "| +55 s | bo | memory leak in game | dropped +1m 28s by bo (held 33 s): memory drops at restart |"
        in root
    )
    assert "> breaker on; the stalls are absorbed" in root and "+2m 00s ana: breaker on" in root
    items = md[md.index("## Suggested action items") : md.index("## Appendix")]
    assert f"Runbook gap: {NO_RUNBOOK_ALERT} paged the team without a runbook" in items
    assert 'the team looked for an action it did not have: "shed load at the edge" (bo at +80s)' in items
    assert "Page nobody acked: CrashLoop" in items
    assert "Runbook gap: ErrorBudgetBurnPage" not in items  # docs/runbooks/ErrorBudgetBurnPage.md exists
    assert gameday.summary["team"]["runbook_gaps"] == [
        {"alert": NO_RUNBOOK_ALERT, "why": "the page carried no runbook_url"}
    ]


def test_a_plain_drill_has_no_team(tmp_path: Path) -> None:
    truth = synthesize(tmp_path, minutes=1, crashes=1)
    written = report_run(truth.run.path)
    html = written.html.read_text(encoding="utf-8")
    for anchor in ("scorecard", "team", "team-actions"):
        assert f'id="{anchor}"' not in html
    assert "In the team's words" not in html and "mk-action" not in html
    assert load_summary(truth.run.path)["team"] is None


def _action(journal: Journal, at: Any, action_id: str, params: dict[str, Any]) -> None:
    journal.write(
        "team", "action", ts=at, actor="ana", action_id=action_id, action="flag", params=params, result="ok"
    )


def test_a_recovery_at_the_faults_end_is_not_credited_to_an_action(tmp_path: Path) -> None:
    """One long stall (no episodes): an action in its middle changes nothing; an action 3 s before it is
    reverted is followed by a recovery that the revert explains, not the action."""
    truth = synthesize(tmp_path, minutes=3, crashes=0, players=True)
    journal = Journal(truth.run.journal_path, "console")
    journal.write("team", "joined", ts=truth.start + timedelta(seconds=1), actor="ana", role="on_call")
    middle = truth.fault_start + (truth.fault_end - truth.fault_start) / 2
    _action(journal, middle, "a1", {"retry": False})
    _action(journal, truth.fault_end - timedelta(seconds=3), "a2", {"bulkhead": True})
    written = report_run(truth.run.path)
    by_id = {e.action.action_id: e for e in written.report.team.effects} if written.report.team else {}
    assert by_id["a1"].verdict == "no_effect", by_id["a1"].reason
    late = by_id["a2"]
    assert late.verdict == "too_early"
    assert (
        "the faults ended (fault odds-stall reverted at" in late.reason and "not this action" in late.reason
    )
    # what a naive before/after would have credited: the SLIs did recover right after the action
    after = written.report.impact.players_availability_series
    acted = late.action.at.timestamp()
    later = [v for t, v in after if acted + 10 <= t <= acted + 40]
    assert later and min(later) == 1.0 and late.before is not None and (late.before.availability or 1) < 0.9


def _side(seconds: float, crashes: int, requests: float, bad: float, p99: float) -> Side:
    return Side(((0.0, seconds),), requests, bad, p99, crashes, 0.99)


@pytest.mark.parametrize(
    ("before", "after", "verdict", "sli"),
    [
        # crashes decide first: 3 in a minute, then 0 in a minute (expected 3)
        (_side(60, 3, 1000, 300, 8.0), _side(60, 0, 1000, 290, 8.0), "helped", "crashes"),
        # twice the crash rate, one more than expected: worse, whatever the burn did
        (_side(60, 1, 1000, 300, 8.0), _side(60, 3, 1000, 30, 0.2), "worse", "crashes"),
        # no crash either side; the burn rate halves from above 1x
        (_side(60, 0, 1000, 100, 2.0), _side(60, 0, 1000, 40, 2.0), "helped", "burn rate"),
        # the burn rate doubles to above 1x
        (_side(60, 0, 1000, 10, 0.3), _side(60, 0, 1000, 30, 0.3), "worse", "burn rate"),
        # p99 from 2 s to 0.4 s
        (_side(60, 0, 1000, 0, 2.0), _side(60, 0, 1000, 0, 0.4), "helped", "p99"),
        # p99 doubles, but stays under the threshold: nothing to say
        (_side(60, 0, 1000, 0, 0.1), _side(60, 0, 1000, 0, 0.3), "no_effect", ""),
        # one crash after none before: worse; one crash after one before in the same time: no_effect
        (_side(60, 0, 1000, 0, 0.1), _side(60, 1, 1000, 0, 0.1), "worse", "crashes"),
        (_side(60, 1, 1000, 0, 0.1), _side(60, 1, 1000, 0, 0.1), "no_effect", ""),
    ],
)
def test_the_rule_takes_the_first_sli_that_moved(before: Side, after: Side, verdict: str, sli: str) -> None:
    found, why = decide(moves(before, after, threshold_s=0.5))
    assert found == verdict
    assert why.startswith(sli) if sli else why.startswith("no SLI moved by a factor of 2")


def test_a_blind_game_day_names_its_faults_only_at_the_end(tmp_path: Path) -> None:
    truth = synthesize(tmp_path, minutes=4, gameday=GAMEDAY)
    scenario = truth.run.path / "scenario.yaml"
    scenario.write_text(scenario.read_text(encoding="utf-8") + "blind: true\n", encoding="utf-8")
    hint = f"the {GAMEDAY.fault} keeps coming back"  # the facilitator gives too much away
    Journal(truth.run.journal_path, "console").write(
        "team", "hint", ts=truth.start + timedelta(seconds=150), actor="facilitator", text=hint
    )
    written = report_run(truth.run.path)
    html = written.html.read_text(encoding="utf-8")
    before = html[: html.index('<h2 id="reveal">')]
    assert GAMEDAY.fault not in before and "dependency.stall" not in before
    actions = before[before.index('<h2 id="team-actions"') :]
    assert re.search(r"the faults ended \(fault [A-Z]#6 expired at", actions)
    assert GAMEDAY.fault in html[html.index('<h2 id="reveal">') :]
    assert "the fault A keeps coming back" in before


def test_compare_puts_two_teams_side_by_side(tmp_path: Path) -> None:
    """The same drill played by two teams: the second acks later and flips the breaker 30 s sooner."""
    quick = replace(GAMEDAY, ack_after_s=20.0, flip_at=92.0)
    a = synthesize(tmp_path / "runs", minutes=4, gameday=GAMEDAY, players=True)
    b = synthesize(tmp_path / "runs", minutes=4, gameday=quick, players=True, seed=8)
    out = compare_runs(a.run.path, b.run.path, tmp_path / "compare.html")
    page = out.read_text(encoding="utf-8")
    team = page[page.index('<h2 id="team">') : page.index('<h2 id="alerts">')]
    rows = {
        cells[0]: cells[1:]
        for cells in (re.findall(r"<td[^>]*>(.*?)</td>", row) for row in team.split("<tr>")[2:])
    }
    assert rows["time to acknowledge the first page"][:3] == ["5.0 s", "20 s", "+15.0 s (+300%)"]
    assert rows["time to effective mitigation"][:3] == ["1m 32s", "1m 02s", "-30.0 s (-33%)"]
    assert rows["crashes after the first page"][:2] == ["3", "2"]
    assert rows["actions that helped"][:2] == ["1", "1"] and rows["pages nobody acked"][:2] == ["1", "1"]
    assert rows["the effective mitigation"][0] == "flag circuit_breaker=True by ana"
    assert "bad" in team.split("time to acknowledge")[1].split("</tr>")[0]  # slower: marked worse
    # B silenced CrashLoop 4 s after its flip: the flip's effect is not the silence's
    report_run(b.run.path)
    silence = next(x for x in load_summary(b.run.path)["team"]["actions"] if x["action"] == "silence")
    assert silence["effect"] == "too_early"
    assert "it came 4.0 s after flag circuit_breaker=on by ana, before that one could show" in silence["why"]
