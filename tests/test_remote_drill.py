"""The ``remote`` runtime against a stack started separately on loopback: ``crashlab up`` (its admin
token from ``$CRASHLAB_ADMIN_TOKEN``) in one folder, a drill with ``runtime: remote`` pointed at its
URLs from another (its own state and runs folders, as from another machine). The drill injects a
service and a dependency fault through the admin APIs and reverts them, runs Locust against the
game's URL, judges from the stack's Prometheus, writes the report, and leaves the stack running.
Connecting checks each URL and the token, naming what answered."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from crashlab.rundir import RunDir
from crashlab.waits import wait_until
from stack import remote
from stack.runtime import StackConfig, StackError
from tests.helpers_drill import CRASHLAB, admin_faults, journal_events
from tests.helpers_stack import http

DRILL = """
name: remote-loopback
description: HTTP faults, load and a verdict against a stack crashlab did not start
target:
  runtime: remote
  urls:
    game: {game}
    odds: {odds}
    prometheus: {prometheus}
    alertmanager: {alertmanager}
load: {{users: 4, spawn_rate: 4, duration: 10s, client_timeout: 2s, think_time: {{min: 50ms, max: 150ms}}}}
steady_state:
  before: [{{name: game-up, http: {{url: "{{game}}/healthz"}}}}]
  during:
    interval: 2s
    probes: [{{name: scraped, promql: "sum(up{{job='game'}})", tolerance: {{min: 1}}}}]
  after: [{{name: odds-up, http: {{url: "{{odds}}/healthz"}}}}]
guardrails:
  - name: game-memory
    promql: "max(process_resident_memory_bytes{{job='game'}})"
    abort_when: {{above: 2e9}}
timeline:
  - {{name: errs, at: 1s, duration: 3s, fault: {{type: service.errors, rate: 0.5, status: 503}}}}
  - {{name: slow-odds, at: 1s, duration: 3s, fault: {{type: dependency.latency, ms: 100}}}}
expectations:
  crashes: {{max: 0}}
  availability_max: 0.999
"""


@dataclass
class Started:
    """A stack started by ``crashlab up`` in its own folder."""

    root: Path
    token: str
    urls: dict[str, str]
    run_dir: Path

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CRASHLAB_STATE_DIR": str(self.root / "state"),
            "CRASHLAB_RUNS_DIR": str(self.root / "runs"),
            "CRASHLAB_ADMIN_TOKEN": self.token,
        }

    def crashlab(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CRASHLAB, *args], cwd=self.root, env=env or self.env, capture_output=True, text=True, timeout=120
        )


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Started]:
    root = tmp_path_factory.mktemp("stack")
    token = secrets.token_urlsafe(24)
    stack = Started(root, token, {}, root)
    done = stack.crashlab("up", "--profile", "hardened", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    up = json.loads(done.stdout)
    stack.urls, stack.run_dir = up["urls"], Path(up["run_dir"])
    try:
        yield stack
    finally:
        down = stack.crashlab("down")
        assert down.returncode == 0, down.stdout + down.stderr


def parts_of(started: Started) -> dict[str, str]:
    """What a remote drill names: the stack's parts but its supervisor (a local detail)."""
    return {name: started.urls[name] for name in ("game", "odds", "prometheus", "alertmanager")}


def remote_config(tmp: Path, urls: dict[str, str], **fields: Any) -> StackConfig:
    return StackConfig(run_dir=RunDir.create("remote", tmp / "runs"), runtime="remote", urls=urls, **fields)


def test_crashlab_up_takes_the_admin_token_from_the_environment(started: Started) -> None:
    # the services run with the token of $CRASHLAB_ADMIN_TOKEN: it opens both admin APIs
    assert admin_faults(started.urls["game"], started.token) == []
    assert admin_faults(started.urls["odds"], started.token) == []
    state = json.loads((started.root / "state" / "stack.json").read_text())
    assert state["admin_token"] == started.token


def test_a_remote_drill_injects_through_the_admin_api_and_leaves_the_stack_running(
    started: Started, tmp_path: Path
) -> None:
    parts = parts_of(started)
    drill = tmp_path / "remote-loopback.yaml"
    drill.write_text(DRILL.format(**parts), encoding="utf-8")
    # another folder, another state dir: nothing of the stack's is known here but its URLs and token
    env = {
        **os.environ,
        "CRASHLAB_STATE_DIR": str(tmp_path / "state"),
        "CRASHLAB_RUNS_DIR": str(tmp_path / "runs"),
        "CRASHLAB_ADMIN_TOKEN": started.token,
    }
    done = started.crashlab("drill", str(drill), "--quiet", "--report", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    [run] = [p for p in (tmp_path / "runs").glob("*-remote-loopback-*") if p.is_dir() and not p.is_symlink()]
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["verdict"] == "passed", manifest
    assert manifest["runtime"] == "remote" and manifest["urls"] == parts
    assert manifest["remote"] == {"urls": parts, "admin_token_file": None}  # never the token
    assert started.token not in (run / "manifest.json").read_text()

    # both faults went through the stack's admin APIs, and were reverted there
    injected = {e.get("fault"): e for e in journal_events(run, "fault", "injected")}
    reverted = {e.get("fault"): e for e in journal_events(run, "fault", "reverted")}
    assert set(injected) == set(reverted) == {"errs", "slow-odds"}
    assert injected["errs"].get("handle")["url"] == parts["game"]
    assert injected["slow-odds"].get("handle")["url"] == parts["odds"]
    assert admin_faults(parts["game"], started.token) == []
    assert admin_faults(parts["odds"], started.token) == []
    prom = started.urls["prometheus"]
    query = urllib.parse.urlencode({"query": 'max_over_time(rps_active_faults{fault="errors"}[2m])'})
    seen = http("GET", f"{prom}/api/v1/query?{query}")
    assert [float(r["value"][1]) for r in seen["data"]["result"]] == [1.0]

    # the verdict came from the stack's Prometheus: the 503s of the load put availability below 99.9 %
    measured = {e.get("expectation"): e for e in journal_events(run, "expectation")}
    assert measured["availability_max"].event == "met"
    assert 0.2 < float(measured["availability_max"].get("measured")) < 0.999
    assert measured["crashes"].event == "met"
    assert (run / "locust" / "stats_stats_history.csv").exists()
    summary = json.loads((run / "report" / "summary.json").read_text())
    assert summary["verdict"] == "passed" and summary["availability_source"] == "server"
    assert (run / "report" / "index.html").exists()

    # the stack is still running, untouched: its own status, the same supervisor, healthy parts
    [down] = journal_events(run, "stack", "down")
    assert down.get("runtime") == "remote" and down.get("left_running") is True
    status = started.crashlab("status", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    assert all(part["healthy"] for part in json.loads(status.stdout))
    assert not journal_events(started.run_dir, "stack", "down")

    # the run's series were copied into its own TSDB: once the remote Prometheus is gone (here: a
    # copy of the run whose manifest points at a closed port), the report replays them, same figures
    assert "samples copied from" in down.get("telemetry"), down.get("telemetry")
    assert list((run / "prometheus" / "data").glob("*/index"))
    copy = tmp_path / "copy" / run.name
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("report"))
    moved = json.loads((copy / "manifest.json").read_text())
    moved["urls"]["prometheus"] = "http://127.0.0.1:9"
    (copy / "manifest.json").write_text(json.dumps(moved))
    again = started.crashlab("report", str(copy), env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    replayed = json.loads((copy / "report" / "summary.json").read_text())
    assert "replayed from the run's TSDB" in (copy / "report" / "report.md").read_text()
    for key in ("verdict", "requests_total", "requests_failed", "status_counts", "availability", "crashes"):
        assert replayed[key] == summary[key], key


def test_connecting_names_each_url_that_does_not_answer_as_its_part(started: Started, tmp_path: Path) -> None:
    urls = parts_of(started)
    swapped = {**urls, "game": urls["odds"]}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRASHLAB_ADMIN_TOKEN", started.token)
        with pytest.raises(StackError) as caught:
            remote.up(remote_config(tmp_path, swapped, health_timeout_s=0.5))
        assert f"game at {started.urls['odds']}/healthz: answered as 'odds', not the game service" in str(
            caught.value
        )
        # Alertmanager answers /-/ready too: a swapped Prometheus is caught by its API, not after the
        # drill's 30 s wait for scrapes and a probe's JSON error
        crossed = {**urls, "prometheus": urls["alertmanager"], "alertmanager": urls["prometheus"]}
        with pytest.raises(StackError) as swapped_parts:
            remote.up(remote_config(tmp_path, crossed, health_timeout_s=0.5))
        said = str(swapped_parts.value)
        assert f"prometheus at {urls['alertmanager']}: answered, but not as Prometheus" in said
        assert f"alertmanager at {urls['prometheus']}: answered, but not as Alertmanager" in said
        closed = {**urls, "prometheus": "http://127.0.0.1:9"}
        with pytest.raises(StackError, match=r"prometheus at http://127.0.0.1:9/-/ready: connection refused"):
            remote.up(remote_config(tmp_path, closed, health_timeout_s=0.5))
        with pytest.raises(StackError, match=r"needs game, odds, prometheus .*missing: odds"):
            remote.up(remote_config(tmp_path, {"game": urls["game"], "prometheus": urls["prometheus"]}))

        mp.setenv("CRASHLAB_ADMIN_TOKEN", "not-the-token")
        with pytest.raises(StackError) as refused:
            remote.up(remote_config(tmp_path, urls))
        assert (
            f"game admin API at {started.urls['game']}/admin/faults: refused the token from "
            "$CRASHLAB_ADMIN_TOKEN (HTTP 401)"
        ) in str(refused.value)

        mp.delenv("CRASHLAB_ADMIN_TOKEN")
        with pytest.raises(StackError, match=r"no admin token: export CRASHLAB_ADMIN_TOKEN"):
            remote.up(remote_config(tmp_path, urls))
        # a token file named in the drill wins over the environment
        token_file = tmp_path / "admin-token"
        token_file.write_text(started.token + "\n", encoding="utf-8")
        stack = remote.up(remote_config(tmp_path, urls, admin_token_file=token_file))
    assert stack.admin_token == started.token and stack.token_from == f"the file {token_file}"
    assert [part.name for part in stack.status() if part.healthy] == list(urls)
    stack.down()
    assert admin_faults(started.urls["game"], started.token) == []  # down touched nothing


LONG_FAULT = """
name: remote-killed
description: a remote drill killed while its fault is injected
target:
  runtime: remote
  admin_token_file: token.txt
  urls: {{game: "{game}", odds: "{odds}", prometheus: "{prometheus}"}}
timeline:
  - {{name: slow-odds, at: 0s, duration: 2m, fault: {{type: dependency.latency, ms: 50}}}}
"""


def test_a_killed_remote_drills_fault_is_reverted_by_the_leftover_cleanup(
    started: Started, tmp_path: Path
) -> None:
    """The remote stack outlives the drill and no state file names it: ``crashlab chaos revert --all``
    finds it from the killed run (its manifest's URLs, the token from the same file)."""
    urls = parts_of(started)
    (tmp_path / "token.txt").write_text(started.token, encoding="utf-8")
    drill = tmp_path / "remote-killed.yaml"
    drill.write_text(LONG_FAULT.format(**urls), encoding="utf-8")
    env = {
        **os.environ,
        "CRASHLAB_STATE_DIR": str(tmp_path / "state"),
        "CRASHLAB_RUNS_DIR": str(tmp_path / "runs"),
    }
    env.pop("CRASHLAB_ADMIN_TOKEN", None)
    with (tmp_path / "drill.out").open("w") as out:
        proc = subprocess.Popen(
            [CRASHLAB, "drill", str(drill), "--quiet"], cwd=tmp_path, env=env, stdout=out, stderr=out
        )

    def journaled() -> bool:  # killed once its journal has the fault (an unjournaled one is left to its TTL)
        runs = [p for p in (tmp_path / "runs").glob("*-remote-killed-*") if not p.is_symlink()]
        return any(journal_events(run, "fault", "injected") for run in runs)

    try:
        wait_until(journaled, 30, "the drill's fault in its journal")
    finally:
        proc.kill()
        proc.wait(timeout=10)
    [fault] = admin_faults(urls["odds"], started.token)
    assert fault["name"] == "slow-odds"
    done = started.crashlab("chaos", "revert", "--all", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "slow-odds (dependency.latency -> odds): reverted" in done.stdout, done.stdout
    assert admin_faults(urls["odds"], started.token) == []
