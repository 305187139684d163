"""``crashlab drill`` end to end on a real local stack with real Locust: every fault family the local
runtime has (service, dependency, process, stress) injects and reverts on time, with the effect
visible in Prometheus; a restart goes through the supervisor and is no crash; ``--dry-run`` injects
nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator

import psutil
import pytest

from tests.helpers_drill import DrillEnv, drill_env, journal_events

FAMILIES = """
name: families
description: each family of the local runtime injects and reverts
target: {runtime: local, profile: hardened}
load: {users: 5, spawn_rate: 5, duration: 14s, client_timeout: 2s, client_retries: 1,
       think_time: {min: 50ms, max: 200ms}}
steady_state:
  before: [{name: game-up, http: {url: "{game}/healthz"}}]
  during: {interval: 3s, probes: [{name: serving, promql: "sum(up{job='game'})", tolerance: {min: 0}}]}
  after: [{name: odds-up-after, http: {url: "{odds}/healthz"}}]
timeline:
  - {name: errs, at: 1s, duration: 4s, fault: {type: service.errors, rate: 0.5, status: 503}}
  - {name: slow-odds, at: 1s, duration: 4s, fault: {type: dependency.latency, ms: 100}}
  - {name: pause-odds, at: 6s, duration: 2s, fault: {type: process.pause, service: odds}}
  - {name: hog, at: 8500ms, duration: 3s, fault: {type: stress.cpu, workers: 1, load_percent: 20}}
  - {name: kill-game, at: 10s, fault: {type: process.kill, service: game}}
  - {name: restart-odds, at: 12s, fault: {type: process.restart, service: odds}}
expectations:
  crashes: {min: 1}
  availability_max: 0.999
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DrillEnv]:
    with drill_env(tmp_path_factory.mktemp("drill")) as running:
        yield running


def test_every_local_family_injects_and_reverts_with_effects_in_prometheus(env: DrillEnv) -> None:
    env.healthy()
    done = env.run("drill", str(env.scenario("families", FAMILIES)), "--quiet", "--link", "latest-families")
    assert done.returncode == 0, done.stdout + done.stderr
    run = env.latest_run("families")
    assert (env.runs / "latest-families").resolve() == run.resolve()
    assert done.stdout.strip().splitlines()[-1] == str(run)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["verdict"] == "passed" and manifest["stack_owned"] is False

    injected = {e.get("fault"): e for e in journal_events(run, "fault", "injected")}
    reverted = {e.get("fault"): e for e in journal_events(run, "fault", "reverted")}
    assert set(injected) == {"errs", "slow-odds", "pause-odds", "hog", "kill-game", "restart-odds"}
    assert set(reverted) == {"errs", "slow-odds", "pause-odds", "hog"}  # a kill has nothing to revert
    # every step started within 100 ms of its offset, and each revert too
    assert max(e.get("lag_ms") for e in [*injected.values(), *reverted.values()]) < 100
    for name, event in reverted.items():
        held = (event.ts - injected[name].ts).total_seconds()
        assert abs(held - injected[name].get("duration_s")) < 0.3, (name, held)

    window = "[2m]"
    # the runner's own metric shaded every fault window
    for name in ("errs", "slow-odds", "pause-odds", "hog", "kill-game"):
        assert env.prom_value(f'max_over_time(crashlab_fault_active{{fault="{name}"}}{window})') == 1, name
    assert env.prom_value(f"max_over_time(crashlab_fault_active{window})") is not None
    assert (
        env.prom_value(f'max_over_time(crashlab_drill_phase{{drill="families",phase="timeline"}}{window})')
        == 1
    )
    # service: the game answered 503s while errs was on; dependency: odds counted its latency fault
    assert (
        env.prom_value(f'sum(increase(rps_http_requests_total{{route="/play",status="503"}}{window}))') or 0
    ) > 0
    assert env.prom_value(f'max_over_time(odds_active_faults{{fault="latency"}}{window})') == 1
    # the players' view (job load) saw the 503s too
    assert (
        env.prom_value(f'sum(increase(crashlab_client_requests_total{{outcome="http_5xx"}}{window}))') or 0
    ) > 0
    # process: the killed game was restarted by the supervisor; odds was restarted on request (clean)
    assert (env.prom_value('crashlab_process_restarts_total{service="game"}') or 0) >= 1
    odds_exits = journal_events(env.stack.run_dir.path, "process", "exited")
    requested = [e for e in odds_exits if e.get("service") == "odds" and e.get("requested")]
    assert [e.get("reason") for e in requested] == ["clean"]
    assert requested[0].ts <= injected["restart-odds"].ts  # journaled once odds is healthy again
    # and nothing is left: no admin faults, odds running, no stress-ng
    assert env.faults() == {"game": [], "odds": []}
    # the paused odds was continued (its exit on the restart request was a clean one) ...
    assert requested[0].get("pid") == injected["pause-odds"].get("handle")["pid"]
    assert (
        psutil.Process(env.stack.pid("odds")).status() != psutil.STATUS_STOPPED
    )  # ... and its successor runs
    assert not psutil.pid_exists(injected["hog"].get("handle")["pid"]) or (
        psutil.Process(injected["hog"].get("handle")["pid"]).status() == psutil.STATUS_ZOMBIE
    )
    # Locust wrote its CSVs and the players' outcomes by kind
    assert (run / "locust" / "stats_stats_history.csv").exists()
    outcomes = json.loads((run / "locust" / "outcomes.json").read_text())
    assert outcomes["routes"]["/play"]["HTTP 503"] > 0
    expectations = {e.get("expectation"): e.event for e in journal_events(run, "expectation")}
    assert expectations == {"crashes": "met", "availability_max": "met"}
    assert [e.get("when") for e in journal_events(run, "probe", "passed")].count("during") >= 2


def test_dry_run_prints_absolute_times_and_injects_nothing(env: DrillEnv) -> None:
    runs_before = sorted(env.runs.iterdir())
    done = env.run("drill", str(env.scenario("families", FAMILIES)), "--dry-run", "--speed", "2")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "nothing is injected" in lines[0] and "speed 2" in lines[0]
    kill = next(line for line in lines if "kill-game" in line)
    assert "+5s" in kill and "process.kill" in kill  # 10s at speed 2
    assert kill[:12].count(":") == 2  # an absolute HH:MM:SS.mmm time
    assert env.faults() == {"game": [], "odds": []}
    assert sorted(env.runs.iterdir()) == runs_before
