"""The post-mortem as a teaching unit: the scenario's description, learning goals, expected signals and
debrief on the page and in report.md; a blind drill's faults named only in the last section."""

from __future__ import annotations

import json
import re
from pathlib import Path

from reports.headline import headline
from reports.writer import report_run
from tests.helpers_report import load_summary
from tests.synthetic import ALERT, synthesize

TEACHING = f"""\
name: synthetic-five-crash
title: "Launch day <replayed>"
description: |
  The odds gateway stalls; the naive game retries & piles up.
  Watch the <b>players'</b> view.
learning_goals:
  - "Follow the chain from the stall to the crash"
  - "Tell the players' view from the server's"
expected_signals:
  - "{ALERT} fires"
  - "CrashLoop fires (ThisIsNoAlert)"
  - "the game crashes and restarts"
  - "something nobody measures"
debrief:
  - "Which signal moved first?"
  - "Why did the server's counter stay high?"
  - "What would have shortened the page?"
report:
  slo: {{availability: 0.99, latency_ms: 500, latency_target: 0.95}}
expectations:
  crashes: {{max: 2}}
"""

BLIND = TEACHING.replace("name: synthetic-five-crash\n", "name: synthetic-five-crash\nblind: true\n")
REAL = ("odds-stall", "odds-baseline", "dependency.stall", "dependency.latency")


def _retype_stall(run_path: Path) -> None:
    """The generator's stall is of type "stall"; name it as the catalogue does."""
    journal = run_path / "journal.jsonl"
    events = [json.loads(line) for line in journal.read_text(encoding="utf-8").splitlines() if line]
    for event in events:
        if event.get("fault_type") == "stall":
            event["fault_type"] = "dependency.stall"
    journal.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")


def test_the_drill_is_shown_as_a_teaching_unit(tmp_path: Path) -> None:
    truth = synthesize(tmp_path, minutes=1, crashes=1)
    (truth.run.path / "scenario.yaml").write_text(TEACHING, encoding="utf-8")
    written = report_run(truth.run.path)
    html = written.html.read_text(encoding="utf-8")
    drill = html[html.index('id="drill"') : html.index('id="charts"')]
    assert "Launch day &lt;replayed&gt;" in drill
    assert "Watch the &lt;b&gt;players&#39;&lt;/b&gt; view." in drill and "<b>players" not in html
    assert "Follow the chain from the stall to the crash" in drill
    signals = re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td></tr>", drill)
    alert_at = truth.alert_at.timestamp() - truth.start.timestamp()
    assert (f"{ALERT} fires", f"{ALERT} fired at +{alert_at:.0f}s") in signals
    crash_loop = "CrashLoop did not fire; 1 crash(es) (1 panic), 1 restart(s)"
    assert ("CrashLoop fires (ThisIsNoAlert)", crash_loop) in signals  # a known alert; no unknown one
    assert ("the game crashes and restarts", "1 crash(es) (1 panic), 1 restart(s)") in signals
    assert ("something nobody measures", "(see the charts)") in signals
    debrief = html[html.index('id="debrief"') : html.index('id="appendix"')]
    assert debrief.count("<li>") == 3 and "Why did the server&#39;s counter stay high?" in debrief
    assert 'id="reveal"' not in html and "odds-stall" in html  # not blind: the faults are named
    md = written.markdown.read_text(encoding="utf-8")
    assert "## The drill: Launch day &lt;replayed&gt;" in md
    assert "> Watch the &lt;b&gt;players'&lt;/b&gt; view." in md
    assert "- Tell the players' view from the server's" in md
    assert "| the game crashes and restarts | 1 crash(es) (1 panic), 1 restart(s) |" in md
    assert md.index("## The drill") < md.index("## Impact") < md.index("## Debrief")
    assert "1. Which signal moved first?\n2. Why did the server's counter stay high?\n3. What" in md
    assert load_summary(truth.run.path)["blind"] is False


def test_a_blind_drill_reveals_its_faults_only_at_the_end(tmp_path: Path) -> None:
    truth = synthesize(tmp_path, minutes=1, crashes=1, baseline=True)
    (truth.run.path / "scenario.yaml").write_text(BLIND, encoding="utf-8")
    _retype_stall(truth.run.path)
    written = report_run(truth.run.path)
    html = written.html.read_text(encoding="utf-8")
    heading = html.index('<h2 id="reveal">')
    before, after = html[:heading], html[heading:]
    assert not [word for word in REAL if word in before]
    assert "fault A" in before and "fault B" in before  # the windows are still there, as letters
    assert before.count('class="fault') >= 2 * 7  # both windows shaded on every chart
    assert "Revealed: what was injected" in after and all(word in after for word in REAL)
    rows = re.findall(r"<tr><td><b>(fault \w)</b></td><td>([^<]+)", after)
    assert dict(rows) == {"fault A": "odds-baseline", "fault B": "odds-stall"}
    assert "ms=8000" in after and "ms=120" in after
    md = written.markdown.read_text(encoding="utf-8")
    md_before, md_after = md.split("## Revealed: what was injected")
    assert not [word for word in REAL if word in md_before] and all(word in md_after for word in REAL)
    assert "## Debrief" in md_before and "**fault B** | odds-stall | `dependency.stall` | odds" in md_after
    summary = load_summary(truth.run.path)
    assert summary["blind"] is True
    assert {f["name"] for f in summary["faults"]} == {"odds-stall", "odds-baseline"}
    assert summary["times"]["incident_start_by"] == "odds-stall"
    lines = headline(written.report)
    assert any("fault B" in line for line in lines) and not [w for w in REAL if w in "".join(lines)]
