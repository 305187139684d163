"""Game-day files: the drill's `gameday:` section and `repeat.until` in the scenario model, the plan of a
recurring timeline, the commands that refuse what they cannot run, and the corpus of bad team scripts
(each rejected with file, line, field and message, every problem at once)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chaos.plan import plan
from chaos.scenario import load_scenario, parse_scenario
from gameday.model import UntilPromQL
from gameday.team_script import TeamScriptError, check_script, load_script, parse_script
from tests.helpers_scenario import ROOT, assert_expected_problems, expectations, run_cli

GAMEDAY = ROOT / "scenarios" / "gameday" / "five-crash.yaml"
TEAMS = ROOT / "scenarios" / "gameday" / "teams"
BAD_TEAMS = ROOT / "tests" / "data" / "bad-team-scripts"
PROBLEM = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): (?P<field>\S+): (?P<message>.+)$")


def _drill(extra: str) -> str:
    return (
        "name: t\ndescription: t\n"
        "timeline:\n"
        "  - name: stall\n    at: 10s\n    duration: 5s\n    fault: {type: dependency.stall, ms: 2000}\n"
        + extra
    )


def test_the_five_crash_game_day_plans_two_recurring_steps_and_scales_with_speed() -> None:
    scenario = load_scenario(GAMEDAY)
    assert scenario.gameday is not None
    the_plan = plan(scenario, 6)
    assert the_plan.steps == ()
    assert [r.name for r in the_plan.recurring] == ["odds-baseline", "handshake-timeout"]
    episode = the_plan.recurring[1]
    assert (episode.first_s, episode.every_s, episode.span_s) == (10.0, 25.0, 15.0)
    third = episode.occurrence(2)
    assert [(s.label, s.start_s, s.duration_s) for s in third] == [
        ("handshake-timeout#3/stall", 60.0, 15.0),
        ("handshake-timeout#3/reset", 60.0, 15.0),
    ]
    gameday = the_plan.scenario.gameday
    assert gameday is not None
    # game time scales; the team's targets are wall-clock and do not
    assert gameday.max_duration == 150.0
    assert [h.at for h in gameday.hints] == [60.0, 100.0]
    assert gameday.end_when is not None and gameday.end_when.recovered_for == 30.0
    assert gameday.targets.ack == 120.0


def test_a_promql_until_parses_with_its_for() -> None:
    text = (
        _drill("    repeat: {every: 30s, until: {promql: 'up == 1', for: 1m}}\n")
        + "gameday: {max_duration: 10m}\n"
    )
    scenario, problems = parse_scenario(text, "t.yaml")
    assert scenario is not None, problems
    until = scenario.timeline[0].repeat.until if scenario.timeline[0].repeat else None
    assert isinstance(until, UntilPromQL)
    assert (until.promql, until.for_) == ("up == 1", 60.0)


def test_crashlab_drill_refuses_a_timeline_that_recurs_until_the_end() -> None:
    result = run_cli("drill", str(GAMEDAY.relative_to(ROOT)), "--dry-run")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "crashlab: error: scenarios/gameday/five-crash.yaml: timeline[0].repeat.until: recurs until the game "
        "day ends; run it with `crashlab gameday`"
    ]


def test_crashlab_gameday_refuses_a_drill_without_a_gameday_section() -> None:
    result = run_cli("gameday", "scenarios/five-crash.yaml", "--dry-run")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("crashlab: error: scenarios/five-crash.yaml: no gameday section")


def test_crashlab_gameday_dry_run_prints_the_plan_the_end_and_the_team() -> None:
    result = run_cli(
        "gameday",
        str(GAMEDAY.relative_to(ROOT)),
        "--team",
        str((TEAMS / "five-crash-breaker.yaml").relative_to(ROOT)),
        "--speed",
        "6",
        "--dry-run",
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "handshake-timeout: every 25s until end, first:" in out
    assert "game day: ends at 2m30s, or once recovered for 30s after last_mitigation" in out
    assert "ana: flag {'circuit_breaker': True} on crash #2, after 2s" in out


@pytest.mark.parametrize("path", sorted(TEAMS.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_team_scripts_are_valid(path: Path) -> None:
    script = load_script(path)
    assert script.members and script.moves


def test_bad_team_script_corpus_is_large_and_says_what_it_expects() -> None:
    files = sorted(BAD_TEAMS.glob("*.yaml"))
    assert len(files) >= 8
    for path in files:
        assert expectations(path), f"{path.name} has no '# expect:' line"


@pytest.mark.parametrize("path", sorted(BAD_TEAMS.glob("*.yaml")), ids=lambda p: p.stem)
def test_bad_team_script_is_rejected_with_file_line_field_and_message(path: Path) -> None:
    script, problems = check_script(path)
    assert script is None
    assert_expected_problems(path, problems)
    with pytest.raises(TeamScriptError) as caught:
        load_script(path)
    assert caught.value.problems == problems


def test_crashlab_gameday_prints_every_problem_of_a_bad_team_script_and_starts_nothing() -> None:
    bad = BAD_TEAMS / "many-problems.yaml"
    result = run_cli(
        "gameday", str(GAMEDAY.relative_to(ROOT)), "--team", str(bad.relative_to(ROOT)), "--speed", "6"
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0] == f"crashlab: error: 6 problems in {bad.relative_to(ROOT)}:"
    assert len(lines) == 7
    for line in lines[1:]:
        match = PROBLEM.match(line)
        assert match and match["path"] == str(bad.relative_to(ROOT)), line
    assert "Traceback" not in result.stderr


def test_crashlab_gameday_lists_the_problems_of_both_files_at_once(tmp_path: Path) -> None:
    """A broken game day and a broken team script: every problem of both, not the script's alone (a
    trainer would fix one file, rerun, and only then learn about the other)."""
    bad_day = ROOT / "tests" / "data" / "bad-scenarios" / "gameday-bad-section.yaml"
    bad_team = BAD_TEAMS / "trigger-fields.yaml"
    result = run_cli("gameday", str(bad_day), "--team", str(bad_team), "--dry-run")
    assert result.returncode == 2, result.stdout + result.stderr
    said = result.stderr.strip().splitlines()
    assert said[0] == f"crashlab: error: 9 problems in {bad_day}, {bad_team}:", said
    files = [m["path"] for m in map(PROBLEM.match, said[1:]) if m]
    assert files == [str(bad_day)] * 5 + [str(bad_team)] * 4, said
    assert "Traceback" not in result.stderr


def test_a_team_move_after_the_game_day_ends_is_refused_with_its_line() -> None:
    """on: time at or beyond the game day's max_duration would never be played."""
    day = load_scenario(ROOT / "tests" / "data" / "gameday" / "short.yaml")  # max_duration: 45s
    text = (
        "members: [{name: ana, role: incident_commander}]\n"
        "moves:\n"
        "  - {by: ana, on: time, at: 30s, do: ack}\n"
        "  - {by: ana, on: time, at: 45s, do: note, with: {text: late}}\n"
    )
    script, problems = parse_script(text, "team.yaml", against=day)
    assert script is None
    assert [str(p) for p in problems] == [
        "team.yaml:4: moves[1].at: at 45s is not before the game day's max_duration (45s): "
        "the move would never be played"
    ]
    assert parse_script(text, "team.yaml")[0] is not None  # alone, the script is fine
