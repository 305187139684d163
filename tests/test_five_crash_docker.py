"""The headline drill on the Docker runtime (scenarios/five-crash-docker.yaml), CI layout, at full
length as a user runs it: exactly five crashes from the mechanism, and a post-mortem whose verdict
comes from real data. The report is written while the stack's Prometheus still answers; the run's TSDB
is kept in the run directory, and a later ``crashlab report`` replays it to the same verdict. The
runner's, Locust's and the observer's metrics all reached Prometheus, the runner's and Locust's through
the observer's relay (the bridge layout's only path)."""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaos.scenario import load_scenario
from crashlab.journal import read_journal
from crashlab.prometheus import Prometheus
from reports.sources.prometheus import ReplayPrometheus
from tests.helpers_docker import require_engine
from tests.helpers_scenario import run_cli

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def drill_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[subprocess.CompletedProcess[str], Path]]:
    require_engine().close()
    runs = tmp_path_factory.mktemp("five-crash-docker")
    env = {
        "CRASHLAB_DOCKER_CI": "1",
        "CRASHLAB_STATE_DIR": str(runs / ".state"),
        "CRASHLAB_PROJECT": f"crashlab-fc-{secrets.token_hex(3)}",
    }
    drill = ("drill", "scenarios/five-crash-docker.yaml", "--quiet", "--report", "--runs-dir", str(runs))
    proc = run_cli(*drill, env=env, timeout_s=540)
    found = [p for p in runs.iterdir() if p.is_dir() and "five-crash-docker" in p.name]
    assert len(found) == 1, (proc.stdout, proc.stderr)
    yield proc, found[0]


def test_the_docker_drill_is_the_headline_drill_on_docker() -> None:
    """Same story, load, timeline, target and expectations as five-crash.yaml; only the runtime differs."""
    local = load_scenario(ROOT / "scenarios" / "five-crash.yaml").model_dump(mode="json")
    docker = load_scenario(ROOT / "scenarios" / "five-crash-docker.yaml").model_dump(mode="json")
    assert docker["target"].pop("runtime") == "docker" and local["target"].pop("runtime") == "local"
    for key in ("name", "title"):
        assert docker.pop(key).startswith(local.pop(key))
    assert docker == local


def _summary(run: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run / "report" / "summary.json").read_text(encoding="utf-8"))
    return data


def test_exactly_five_crashes_by_the_mechanism(
    drill_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    proc, run = drill_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    events = read_journal(run / "journal.jsonl")
    exits = [e for e in events if e.type == "process" and e.event == "exited" and e.get("reason") != "clean"]
    assert [(e.get("service"), e.get("reason"), e.get("exit_code")) for e in exits] == [
        ("game", "panic", 2)
    ] * 5
    # restarted by the observer after the drill's 4 s backoff, never by a fault
    restarted = [e for e in events if e.type == "process" and e.event == "restarted"]
    assert [e.get("restarts") for e in restarted] == [1, 2, 3, 4, 5]
    for crash, restart in zip(exits, restarted, strict=True):
        assert 4.0 <= (restart.ts - crash.ts).total_seconds() < 9.0
    assert not [e for e in events if e.type == "fault" and str(e.get("fault_type")).startswith("container.")]
    # both services' first starts are journaled (the observer watches before they start)
    started = {e.get("service") for e in events if e.type == "process" and e.event == "started"}
    assert started == {"game", "odds"}
    # the Go-style last words, in the game's log
    logs = [json.loads(line) for line in (run / "logs" / "game.jsonl").read_text().splitlines()]
    panics = [r["msg"] for r in logs if str(r.get("msg", "")).startswith("panic: ")]
    # at the drill's bound of 150 connections (the naive default is 300): the switch reached the game
    assert len(panics) == 5 and all(
        "PoolExhausted" in msg and "150 open connections" in msg for msg in panics
    )


def test_the_post_mortem_verdict_comes_from_the_request_counters(
    drill_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    proc, run = drill_run
    lines = proc.stdout.strip().splitlines()
    assert lines[-1].endswith("report/index.html") and Path(lines[-1]).is_file()
    summary = _summary(run)
    assert summary["runtime"] == "docker"
    assert summary["crashes"] == 5 and summary["crash_source"] == "journal"
    assert summary["verdict"] == "passed" == summary["runner_verdict"]
    assert "ErrorBudgetBurnPage" in summary["alerts_fired"]
    # the players' counters (Locust, relayed through the observer) and the game's own
    assert summary["availability_source"] == "players"
    assert summary["players_requests"] > 1000 and summary["availability_players"] < 0.99
    assert summary["requests_total"] > 100
    # the TTR is the embedded stack's test: on a loaded machine (cgroup v1, every container in one CPU
    # cgroup weighing as much as one host process) the starved game may not recover within the 20 s tail
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["verdict"] == "passed" and manifest["runtime"] == "docker"


def test_the_runs_prometheus_data_is_kept_and_replays_to_the_same_verdict(
    drill_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _proc, run = drill_run
    events = read_journal(run / "journal.jsonl")
    (down,) = [e for e in events if e.type == "stack" and e.event == "down"]
    assert down.get("telemetry") == str(run / "prometheus" / "data")
    with ReplayPrometheus(run / "prometheus" / "data") as replica:
        prom = Prometheus(replica.url)
        end = down.ts.timestamp()
        for job, metric in (
            ("runner", "crashlab_fault_active"),
            ("load", "crashlab_client_requests_total"),
            ("supervisor", "crashlab_process_restarts_total"),
            ("supervisor", "crashlab_process_resident_memory_bytes"),
        ):
            found = prom.query(f'max_over_time({metric}{{job="{job}"}}[10m])', at=end)
            assert found, f"{metric} of job {job} is not in the kept TSDB"
    again = run_cli("report", str(run), timeout_s=180)
    assert again.returncode == 0, again.stdout + again.stderr
    replayed = _summary(run)
    assert replayed["verdict"] == "passed" and replayed["crashes"] == 5
    assert replayed["availability_source"] == "players"
