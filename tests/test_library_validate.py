"""Every drill in scenarios/ validates, and every library drill is a complete teaching unit whose CI run
(its ``# ci:`` line) lasts 20-40 s while the drill itself lasts 1-3 minutes."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.plan import plan
from chaos.scenario import load_scenario, validate_files
from tests.helpers_library import ROOT, all_scenario_files, ci_line, library_files, run_crashlab


def test_the_library_has_at_least_eight_drills_besides_five_crash() -> None:
    names = {p.stem for p in library_files()}
    assert len(names - {"example-latency"}) >= 8, sorted(names)


@pytest.mark.parametrize("path", all_scenario_files(), ids=lambda p: p.name)
def test_scenario_validates(path: Path) -> None:
    assert validate_files([path]) == []


def test_cli_validates_the_whole_folder(tmp_path: Path) -> None:
    done = run_crashlab(tmp_path, "validate", "scenarios", timeout_s=120)
    assert done.returncode == 0, done.stdout + done.stderr
    oks = [line for line in done.stdout.splitlines() if line.startswith("ok: scenarios/")]
    assert len(oks) == len(all_scenario_files())


@pytest.mark.parametrize("path", library_files(), ids=lambda p: p.name)
def test_drill_is_a_teaching_unit(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert scenario.title and scenario.report.title
    assert len(scenario.description.split()) >= 40, "describe what happens for a trainee"
    assert len(scenario.learning_goals) >= 2
    assert len(scenario.expected_signals) >= 1
    assert len(scenario.debrief) >= 3
    assert "slo" in scenario.report.model_fields_set, "report.slo is written out"
    assert scenario.load is not None, "every library drill has players"
    exp = scenario.expectations
    assert exp.crashes is not None, "every drill states how many crashes it expects"
    assert exp.model_fields_set - {"crashes"}, "and at least one more expectation"


@pytest.mark.parametrize("path", library_files(), ids=lambda p: p.name)
def test_ci_line_runs_the_file_in_20_to_40_seconds(path: Path) -> None:
    line = ci_line(path)
    assert line is not None, (
        f"{path.name}: no '# ci: crashlab drill scenarios/{path.name} --speed K --quiet' line"
    )
    given, speed = line
    assert (ROOT / given).resolve() == path.resolve()
    scenario = load_scenario(path)
    assert 60 <= plan(scenario, speed=1).total_s <= 180, "a drill lasts 1-3 minutes at natural speed"
    assert 20 <= plan(scenario, speed=speed).total_s <= 40, "its CI run lasts 20-40 s"
