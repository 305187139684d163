"""One evaluator: a real ``crashlab drill --report`` on the local stack; its exit code, its journal, its
manifest and the post-mortem's summary.json say the same thing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers_drill import DrillEnv, drill_env, journal_events

#: odds is frozen (SIGSTOP) when the errors fault is to be injected: its admin API never answers, so
#: the injection fails; every expectation holds
FAILED_INJECTION = """
name: failed-injection
description: an injection that cannot succeed, expectations that hold
target: {runtime: local, profile: hardened}
load: {users: 2, spawn_rate: 2, duration: 10s, think_time: {min: 100ms, max: 300ms}}
timeline:
  - {name: freeze, at: 0s, duration: 8s, fault: {type: process.pause, service: odds}}
  - {name: odds-errors, at: 1s, duration: 5s, fault: {type: dependency.errors, rate: 0.5}}
expectations:
  crashes: 0
  max_p99_ms: 100000
"""

#: Prometheus is killed and restarted by the supervisor: not a crash of the system under test
PROMETHEUS_KILLED = """
name: prometheus-killed
description: the stack's Prometheus dies once; the services never do
target: {runtime: local, profile: hardened}
load: {users: 2, spawn_rate: 2, duration: 10s, think_time: {min: 100ms, max: 300ms}}
timeline:
  - {name: kill-prometheus, at: 2s, fault: {type: process.kill, service: prometheus}}
expectations:
  crashes: 0
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DrillEnv]:
    with drill_env(tmp_path_factory.mktemp("verdict")) as running:
        yield running


def _outcome(run: Path) -> tuple[dict[str, Any], dict[str, Any], Any]:
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    summary = json.loads((run / "report" / "summary.json").read_text(encoding="utf-8"))
    ended = journal_events(run, "run", "ended")
    assert len(ended) == 1
    return manifest, summary, ended[0]


@pytest.mark.slow
def test_a_failed_injection_fails_the_drill_everywhere(env: DrillEnv) -> None:
    env.healthy()
    done = env.run("drill", str(env.scenario("failed-injection", FAILED_INJECTION)), "--quiet", "--report")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "failed: fault odds-errors could not be injected" in done.stdout
    assert "verdict: failed" in done.stdout  # the headline the reporter printed
    run = env.latest_run("failed-injection")
    manifest, summary, ended = _outcome(run)
    assert journal_events(run, "fault", "inject_failed")[0].get("fault") == "odds-errors"
    assert {e.get("expectation"): e.event for e in journal_events(run, "expectation")} == {
        "crashes": "met",
        "max_p99_ms": "met",
    }
    assert manifest["verdict"] == ended.get("verdict") == summary["verdict"] == "failed"
    assert manifest["exit_code"] == 1
    assert manifest["failures"] == ended.get("failures") == summary["failures"]
    assert [e["met"] for e in summary["expectations"]] == [True, True]


@pytest.mark.slow
def test_a_prometheus_restart_is_not_a_crash(env: DrillEnv) -> None:
    env.healthy()
    done = env.run("drill", str(env.scenario("prometheus-killed", PROMETHEUS_KILLED)), "--quiet", "--report")
    run = env.latest_run("prometheus-killed")
    exited = [e.get("service") for e in journal_events(env.stack.run_dir.path, "process", "exited")]
    assert "prometheus" in exited and not {"game", "odds"} & set(exited), exited
    assert done.returncode == 0, done.stdout + done.stderr
    manifest, summary, ended = _outcome(run)
    assert manifest["verdict"] == ended.get("verdict") == summary["verdict"] == "passed"
    assert summary["crashes"] == 0 and summary["restarts"] == 0
