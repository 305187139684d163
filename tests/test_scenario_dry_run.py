"""A drill file is checked completely before anything runs: ``--dry-run`` and a bad file touch nothing.

The evidence that nothing was injected: no run directory (every injection is journaled in one), no
stack state file (no stack brought up or attached), and the plan printed instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers_scenario import BAD_DIR, EXAMPLE, ROOT


def _drill(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CRASHLAB_STATE_DIR": str(tmp_path / "state"),
        "CRASHLAB_RUNS_DIR": str(tmp_path / "runs"),
    }
    return subprocess.run(
        [sys.executable, "-m", "crashlab", "drill", *args, "--runs-dir", str(tmp_path / "runs"), "--quiet"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _nothing_happened(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    assert not runs.exists() or not any(runs.iterdir()), "a run directory was created"
    state = tmp_path / "state"
    assert not state.exists() or not any(state.iterdir()), "a stack was brought up"


def test_dry_run_prints_the_plan_and_injects_nothing(tmp_path: Path) -> None:
    result = _drill(tmp_path, str(EXAMPLE), "--dry-run", "--speed", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for label in ("slow-odds", "odds-errors#1", "odds-errors#2"):
        assert label in out
    assert "+5s" in out, "offsets are divided by --speed"
    _nothing_happened(tmp_path)


def test_a_bad_file_is_refused_before_anything_runs(tmp_path: Path) -> None:
    bad = BAD_DIR / "many-problems.yaml"
    result = _drill(tmp_path, str(bad))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "timeline[0].fault.ms: must be >= 0 (got -5)" in output
    assert "expectations.availability_min: must be <= 1 (got 99)" in output
    _nothing_happened(tmp_path)
