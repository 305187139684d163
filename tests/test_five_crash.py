"""The main job: the five-crash drill and its hardened rerun, at full length, exactly as `make drill` runs
them (real stack, real Prometheus, real Locust), checked against independent counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from crashlab.journal import read_journal

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def _drill(name: str, runs: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    env = {**os.environ, "CRASHLAB_STATE_DIR": str(runs / ".state")}
    command = ["drill", f"scenarios/{name}.yaml", "--quiet", "--report", "--runs-dir", str(runs)]
    proc = subprocess.run(
        [sys.executable, "-m", "crashlab", *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    run_dirs = [p for p in runs.iterdir() if p.is_dir() and name in p.name and not p.name.startswith(".")]
    assert len(run_dirs) == 1, (proc.stdout, proc.stderr)
    return proc, run_dirs[0]


def _crashes(run: Path) -> list[str]:
    return [
        str(e.get("reason"))
        for e in read_journal(run / "journal.jsonl")
        if e.type == "process"
        and e.event == "exited"
        and e.get("service") == "game"
        and e.get("reason") != "clean"
    ]


def test_naive_service_crashes_exactly_five_times_through_the_pileup(tmp_path: Path) -> None:
    proc, run = _drill("five-crash", tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[-1].endswith("report/index.html") and Path(lines[-1]).is_file()
    # the crashes come from the mechanism: unrecovered background panics, never a kill by a fault
    reasons = _crashes(run)
    assert reasons == ["panic"] * 5
    assert not [
        e
        for e in read_journal(run / "journal.jsonl")
        if e.type == "fault" and str(e.get("fault_type")).startswith("process.")
    ]
    stdout_log = (run / "logs" / "game.stdout.log").read_text(encoding="utf-8")
    # the Go-style last words on stderr, one per crash (the JSON log carries the same text too)
    panics = [line for line in stdout_log.splitlines() if line.startswith("panic: ")]
    assert len(panics) == 5 and all("PoolExhausted" in line for line in panics)
    summary = json.loads((run / "report" / "summary.json").read_text(encoding="utf-8"))
    assert summary["crashes"] == 5
    assert summary["verdict"] == "passed"
    assert "ErrorBudgetBurnPage" in summary["alerts_fired"]
    assert summary["availability_client"] < 0.99
    # 20 s of ordinary play after the last stall: the page has a time to recover
    assert summary["recovered"] is True and summary["ttr_s"] > 0
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["verdict"] == "passed"


def test_hardened_service_survives_the_same_storm(tmp_path: Path) -> None:
    proc, run = _drill("five-crash-hardened", tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _crashes(run) == []
    summary = json.loads((run / "report" / "summary.json").read_text(encoding="utf-8"))
    assert summary["crashes"] == 0
    assert summary["degraded"] > 0
    assert "DependencyCircuitOpen" in summary["alerts_fired"]
    assert summary["availability_client"] >= 0.99
