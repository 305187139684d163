"""The game-day library (scenarios/gameday/): every game day is a human-pace drill (15-30 min at --speed 1)
whose faults recur until the team mitigates, with targets, expected mitigations, a situation runbook and
a ``# ci:`` line played by a scripted team of scenarios/gameday/teams/.

The fast tests check the files; the slow ones play each ``# ci:`` line once (a module-scoped fixture per
game day) and check the mitigation by its mechanism: the expected action is in the journal with its
actor, the post-mortem judges it ``helped`` from the SLIs of the faults before and after it, the faults
(or the crashes) stop after it, the game day ends by its end condition or its max duration, and the
post-mortem is written with the team's figures matching the script (the ack's delay within 2 s).
five-crash is played by tests/test_gameday_run.py.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaos.scenario.validate import load_scenario
from crashlab.journal import JournalEvent, read_journal
from service import flagfile

ROOT = Path(__file__).resolve().parents[1]
CRASHLAB = str(ROOT / ".venv" / "bin" / "crashlab")
LIBRARY = ROOT / "scenarios" / "gameday"
RUNBOOKS = ROOT / "docs" / "runbooks" / "gameday"
CI_LINE = re.compile(r"^# ci: crashlab gameday (.+)$", re.M)
#: the runner checks ``repeat.until`` every 2 s, and Prometheus sees a flipped switch within a scrape or two
UNTIL_SLACK_S = 8.0


@dataclass(frozen=True)
class Expect:
    """What the scripted team of a game day does, and what the post-mortem must say of it."""

    runbook: str
    action: str
    params: dict[str, Any]
    actor: str
    #: other actions and the verdict each must get
    others: dict[str, str] = field(default_factory=dict)
    #: the mitigation stops crashes (not only errors)
    crashes: bool = False


LIBRARY_EXPECT: dict[str, Expect] = {
    "dependency-outage": Expect("OddsGatewayDown", "flag", {"fallback": True}, "bo"),
    "memory-leak": Expect("MemoryGrowth", "memory_limit", {"service": "game", "mb": 512}, "bo", crashes=True),
    "retry-storm": Expect(
        "RetryStorm", "flag", {"retry": True}, "bo", others={'flag {"fallback": true}': "no_effect"}
    ),
    "telemetry-outage": Expect("MonitoringDark", "flag", {"fallback": True}, "bo"),
}


def ci_args(name: str) -> list[str]:
    match = CI_LINE.search((LIBRARY / f"{name}.yaml").read_text(encoding="utf-8"))
    assert match, f"scenarios/gameday/{name}.yaml has no '# ci: crashlab gameday' line"
    return shlex.split(match[1])


def option(args: list[str], name: str) -> str:
    assert name in args, (name, args)
    return args[args.index(name) + 1]


# --- the files ---------------------------------------------------------------------------------------


def test_the_library_has_every_game_day_of_the_issue() -> None:
    names = {p.stem for p in LIBRARY.glob("*.yaml")}
    assert names == {"five-crash", *LIBRARY_EXPECT}


@pytest.mark.parametrize("name", sorted(LIBRARY_EXPECT))
def test_a_game_day_is_human_paced_recurs_until_mitigated_and_has_its_ci_line(name: str) -> None:
    path = LIBRARY / f"{name}.yaml"
    scenario = load_scenario(path)
    gameday = scenario.gameday
    assert gameday is not None
    assert 15 * 60 <= gameday.max_duration <= 30 * 60
    assert gameday.end_when is not None and gameday.end_when.after == "last_mitigation"
    targets = gameday.targets
    assert None not in (targets.ack, targets.declare, targets.mitigate, targets.crashes_after_first_page)
    expect = LIBRARY_EXPECT[name]
    assert any(
        m.action == expect.action and m.params == expect.params and m.why
        for m in gameday.expected_mitigations
    )
    assert gameday.hints and len(scenario.debrief) >= 3 and len(scenario.learning_goals) >= 2
    # the faults recur until a condition on the system, not a fixed count
    untils = [
        s.repeat.until
        for s in scenario.timeline
        if s.repeat is not None and not getattr(s, "baseline", False)
    ]
    assert untils and all(u is not None and u != "end" for u in untils), untils
    # the # ci: line: this file, a scripted team of teams/, --report, a game of about a minute or two
    args = ci_args(name)
    assert args[0] == f"scenarios/gameday/{name}.yaml"
    team = ROOT / option(args, "--team")
    assert team.parent == LIBRARY / "teams" and team.is_file()
    assert "--report" in args and "--quiet" in args
    assert gameday.max_duration / float(option(args, "--speed")) <= 120
    # the situation runbook names this game day and the mitigation
    runbook = (RUNBOOKS / f"{expect.runbook}.md").read_text(encoding="utf-8")
    assert f"scenarios/gameday/{name}.yaml" in runbook
    assert next(iter(expect.params)) in runbook


def test_the_library_is_listed_in_the_drill_library_and_its_runbooks_are_linked_from_the_alerts() -> None:
    library = (ROOT / "docs" / "drill-library.md").read_text(encoding="utf-8")
    section = library[library.index("## The game days") : library.index("## Measured")]
    index = (ROOT / "docs" / "runbooks" / "README.md").read_text(encoding="utf-8")
    alerts = {p.stem: p.read_text(encoding="utf-8") for p in (ROOT / "docs" / "runbooks").glob("*.md")}
    for name, expect in LIBRARY_EXPECT.items():
        team = Path(option(ci_args(name), "--team")).name
        assert f"`{name}.yaml`" in section and f"teams/{team}" in section, name
        assert f"gameday/{expect.runbook}.md" in index, expect.runbook
        linked = [a for a, text in alerts.items() if a != "README" and f"gameday/{expect.runbook}.md" in text]
        assert linked, f"no alert's runbook links to {expect.runbook}"


def test_the_trainer_guide_runs_the_game_days() -> None:
    guide = (ROOT / "docs" / "trainer-guide.md").read_text(encoding="utf-8")
    for needed in ("crashlab gameday", "--listen", "join code", "--team", "crashlab compare", "Scorecard"):
        assert needed in guide, needed
    for link in ("(gameday.md", "(reports.md", "(drill-library.md"):
        assert link in guide, link
    for role in ("Incident commander", "On-call", "Scribe", "Observer"):
        assert role in guide, role
    for name in ["five-crash", *LIBRARY_EXPECT]:
        assert f"`{name}.yaml`" in guide, name


def test_crashlab_validate_accepts_every_game_day() -> None:
    result = subprocess.run(
        [CRASHLAB, "validate", "scenarios/gameday"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ["five-crash", *LIBRARY_EXPECT]:
        assert f"ok: scenarios/gameday/{name}.yaml" in result.stdout


# --- the plays -------------------------------------------------------------------------------------


@dataclass
class Played:
    name: str
    args: list[str]
    returncode: int
    output: str
    run: Path
    wall_s: float
    events: list[JournalEvent]
    summary: dict[str, Any]
    team_script: dict[str, Any]

    def of(self, type_: str, event: str | None = None, **match: Any) -> list[JournalEvent]:
        return [
            e
            for e in self.events
            if e.type == type_
            and (event is None or e.event == event)
            and all(e.get(k) == v for k, v in match.items())
        ]

    @property
    def speed(self) -> float:
        return float(option(self.args, "--speed"))


def play(name: str, root: Path) -> Played:
    args = ci_args(name)
    env = {**os.environ, "CRASHLAB_STATE_DIR": str(root / "state"), "CRASHLAB_RUNS_DIR": str(root / "runs")}
    started = time.monotonic()
    proc = subprocess.run(
        [CRASHLAB, "gameday", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=400,
        start_new_session=True,
    )
    wall = time.monotonic() - started
    runs = [p for p in (root / "runs").glob("*") if p.is_dir() and not p.is_symlink()]
    assert len(runs) == 1, (runs, proc.stdout[-4000:])
    run = runs[0]
    summary_path = run / "report" / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    team = yaml.safe_load((ROOT / option(args, "--team")).read_text(encoding="utf-8"))
    print(f"{name}: # ci: run took {wall:.1f} s wall")  # the CI budget (docs/drill-library.md)
    return Played(
        name,
        args,
        proc.returncode,
        proc.stdout,
        run,
        wall,
        read_journal(run / "journal.jsonl"),
        summary,
        team,
    )


@pytest.fixture(scope="module", params=sorted(LIBRARY_EXPECT))
def played(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Played]:
    name = request.param
    yield play(name, tmp_path_factory.mktemp(name))


def _action(p: Played, action: str, params: dict[str, Any]) -> dict[str, Any]:
    found = [a for a in p.summary["team"]["actions"] if a["action"] == action and a["params"] == params]
    assert len(found) == 1, (action, params, p.summary["team"]["actions"])
    one: dict[str, Any] = found[0]
    return one


@pytest.mark.slow
def test_the_game_day_ends_by_its_condition_and_writes_the_post_mortem(played: Played) -> None:
    assert played.returncode == 0, played.output[-6000:]
    ended = played.of("gameday", "ended")
    assert [e.get("reason") for e in ended] in (["end_condition"], ["max_duration"]), played.output[-3000:]
    manifest = json.loads((played.run / "manifest.json").read_text())
    assert manifest["team"] == "scripted" and manifest["gameday"]["speed"] == played.speed
    assert (played.run / "report" / "index.html").is_file() and played.summary["team"]
    # every fault reverted or expired, the switches and the memory limit put back
    injected = {e.get("fault") for e in played.of("fault", "injected")}
    closed = {e.get("fault") for e in played.of("fault") if e.event in ("reverted", "expired")}
    assert injected and injected <= closed, injected - closed
    assert played.of("gameday", "restored")
    initial = load_scenario(LIBRARY / f"{played.name}.yaml").target.switches
    switches = flagfile.switches(played.run / "flags" / "flags.json")
    for name, value in initial.items():
        enabled = value if isinstance(value, bool) else value.get("enabled")
        if isinstance(enabled, bool):
            assert switches[name] is enabled, (name, switches)


@pytest.mark.slow
def test_the_page_comes_through_alertmanager_and_the_ack_time_is_the_scripted_delay(played: Played) -> None:
    pages = played.of("team", "page", status="firing")
    assert pages, played.output[-3000:]
    first = pages[0]
    assert first.get("receiver") == "pager" and first.get("labels", {}).get("severity") == "page"
    assert played.of("alert", "firing", alert=first.get("alert")), "Prometheus' alert behind the page"
    acks = played.of("team", "ack")
    assert acks and acks[0].get("actor") == "bo" and acks[0].get("page_id") == first.get("page_id")
    scripted = next(m for m in played.team_script["moves"] if m["do"] == "ack")
    delay = float(str(scripted["after"]).rstrip("s"))
    team = played.summary["team"]
    assert team["tta_s"] == pytest.approx(delay, abs=2.0)
    card = {row["target"]: row for row in team["scorecard"]}
    assert card["ack"]["measured"] == pytest.approx(delay, abs=2.0) and card["ack"]["met"] is True
    assert set(card) == {"ack", "declare", "mitigate", "crashes_after_first_page"}


@pytest.mark.slow
def test_the_expected_mitigation_is_taken_and_judged_helped(played: Played) -> None:
    expect = LIBRARY_EXPECT[played.name]
    done = [
        e
        for e in played.of("team", "action", action=expect.action, result="ok")
        if e.get("params") == expect.params
    ]
    assert len(done) == 1, played.of("team", "action")
    assert done[0].get("actor") == expect.actor
    judged = _action(played, expect.action, expect.params)
    assert judged["actor"] == expect.actor
    assert judged["effect"] == "helped", judged
    # the data behind it: the faults were there on both sides, and the SLIs moved
    assert judged["before"]["exposure_s"] >= 10 and judged["after"]["exposure_s"] >= 10, judged
    if expect.crashes:
        assert judged["before"]["crashes"] >= 1 and judged["after"]["crashes"] == 0, judged
    else:
        assert judged["before"]["burn_rate"] >= 1 and judged["after"]["burn_rate"] < 1, judged
    team = played.summary["team"]
    taken = [
        x
        for x in team["expected_mitigations"]
        if x["action"] == expect.action and x["params"] == expect.params
    ]
    assert taken and taken[0]["taken_at"] and taken[0]["effect"] == "helped"
    assert team["mitigation"] == judged["at"] and team["ttm_human_s"] is not None
    for what, verdict in expect.others.items():
        action, params = what.split(" ", 1)
        assert _action(played, action, json.loads(params))["effect"] == verdict


@pytest.mark.slow
def test_the_faults_and_the_crashes_stop_after_the_mitigation(played: Played) -> None:
    expect = LIBRARY_EXPECT[played.name]
    flip = next(
        e
        for e in played.of("team", "action", action=expect.action, result="ok")
        if e.get("params") == expect.params
    )
    scenario = load_scenario(LIBRARY / f"{played.name}.yaml")
    holds_s = max(
        s.repeat.until.for_ / played.speed
        for s in scenario.timeline
        if s.repeat is not None and not isinstance(s.repeat.until, str) and s.repeat.until is not None
    )
    started = [e for e in played.of("fault", "injected") if "baseline" not in str(e.get("fault"))]
    occurrences = {str(e.get("fault")).split("/")[0] for e in started}
    late = {
        str(e.get("fault")).split("/")[0]
        for e in started
        if e.ts > flip.ts + timedelta(seconds=holds_s + UNTIL_SLACK_S)
    }
    assert occurrences and not late, f"recurring after the mitigation held: {sorted(late)}"
    crashes = [
        e.ts for e in played.of("process", "exited", service="game") if e.get("reason") not in ("clean", None)
    ]
    assert [t for t in crashes if t > flip.ts + timedelta(seconds=5)] == [], crashes
    if expect.crashes:
        assert len([t for t in crashes if t < flip.ts]) >= 2, crashes


@pytest.mark.slow
def test_what_each_game_day_teaches_shows_in_its_post_mortem(played: Played) -> None:
    team = played.summary["team"]
    if played.name == "telemetry-outage":
        # nothing paged in the dark: the first page came after Prometheus was back
        back = [
            e.ts
            for e in played.of("fault")
            if e.event in ("reverted", "expired") and "prometheus-dark" in str(e.get("fault"))
        ]
        first = played.of("team", "page", status="firing")[0]
        assert back and first.ts > min(back), (back, first.ts)
        assert [w["wanted"] for w in team["wished_actions"]] == ["restart Prometheus from the console"]
    if played.name == "memory-leak":
        assert {e.get("reason") for e in played.of("process", "exited", service="game")} >= {"oom"}
    if played.name == "retry-storm":
        why = _action(played, "flag", {"fallback": True})["why"]
        assert "no SLI moved" in why, why
    hypotheses = [h["text"] for h in team["hypotheses"]]
    notes = [
        m for m in played.team_script["moves"] if m["do"] == "note" and m["with"].get("kind") == "hypothesis"
    ]
    assert hypotheses == [m["with"]["text"] for m in notes]
