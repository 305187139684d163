"""The corpus of broken drill files: each is rejected with the right file, line, field and message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chaos.scenario import ScenarioError, check_file, load_scenario, validate_files
from tests.helpers_scenario import (
    BAD_DIR,
    EXAMPLE,
    ROOT,
    assert_expected_problems,
    bad_files,
    expectations,
    run_cli,
)

PROBLEM_LINE = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): (?P<field>\S+): (?P<message>.+)$")


def test_corpus_is_large_and_every_file_says_what_it_expects() -> None:
    files = bad_files()
    assert len(files) >= 30
    for path in files:
        assert expectations(path), f"{path.name} has no '# expect:' line"


@pytest.mark.parametrize("path", bad_files(), ids=lambda p: p.stem)
def test_bad_file_is_rejected_with_file_line_field_and_message(path: Path) -> None:
    assert_expected_problems(path, validate_files([path]))


@pytest.mark.parametrize("path", bad_files(), ids=lambda p: p.stem)
def test_load_scenario_refuses_a_bad_file_with_every_problem(path: Path) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    problems = caught.value.problems
    assert len(problems) == len(expectations(path))
    lines = str(caught.value).splitlines()
    if len(problems) == 1:
        assert lines == [str(problems[0])]
    else:
        assert lines == [f"{len(problems)} problems in {path}:", *(str(p) for p in problems)]


def test_problems_are_sorted_by_line() -> None:
    problems = validate_files([BAD_DIR / "many-problems.yaml"])
    lines = [p.line or 0 for p in problems]
    assert len(problems) == 7
    assert lines == sorted(lines)


def test_unreadable_file_is_a_problem_without_a_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    scenario, problems = check_file(missing)
    assert scenario is None
    assert [str(p) for p in problems] == [f"{missing}: (file): cannot read: No such file or directory"]


def test_cli_validate_prints_every_problem_and_exits_1() -> None:
    files = [str(p.relative_to(ROOT)) for p in bad_files()]
    result = run_cli("validate", *files, str(EXAMPLE.relative_to(ROOT)))
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert "ok: scenarios/example-latency.yaml (3 steps, 1m30s total)" in lines
    problems = [line for line in lines if not line.startswith("ok: ")]
    assert len(problems) == sum(len(expectations(p)) for p in bad_files())
    for line in problems:
        match = PROBLEM_LINE.match(line)
        assert match, line
        assert match["path"] in files
    per_file: dict[str, list[int]] = {}
    for line in problems:
        match = PROBLEM_LINE.match(line)
        assert match
        per_file.setdefault(match["path"], []).append(int(match["line"]))
    assert all(lines == sorted(lines) for lines in per_file.values())
    assert f"{len(problems)} problems" in result.stderr


def test_cli_validate_exits_0_for_good_files() -> None:
    result = run_cli("validate", "scenarios")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok: scenarios/example-latency.yaml (3 steps, 1m30s total)" in result.stdout.splitlines()
    assert result.stderr == ""
