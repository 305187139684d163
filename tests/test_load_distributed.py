"""Locust's distributed mode: a drill's master with two local workers, and a worker joining from
``crashlab load worker``. The players' counters, summed by the master and scraped by the stack's real
Prometheus, equal Locust's aggregated CSV count exactly, and nothing the game served is missing."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from chaos.load.process import LoadProcess, LoadSettings, outcomes
from chaos.runner.preflight import load_settings
from chaos.scenario import load_scenario
from chaos.scenario.errors import ScenarioError
from stack.k8s.manifests import render
from stack.k8s.values import Values
from tests.helpers_drill import CRASHLAB, DrillEnv, TinyGame, drill_env, journal_events, tiny_game
from tests.helpers_report import load_summary, locust_counts
from tests.support import free_port

DRILL = """
name: two-workers
description: the players' load from a master and two worker processes
target: {runtime: local, profile: hardened}
load: {users: 10, spawn_rate: 10, duration: 8s, workers: 2, client_timeout: 10s, client_retries: 0,
       think_time: {min: 20ms, max: 50ms}}
timeline:
  - {name: slow-game, at: 2s, duration: 4s, fault: {type: service.latency, ms: 300}}
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DrillEnv]:
    with drill_env(tmp_path_factory.mktemp("distributed")) as running:
        yield running


def _game_plays(url: str) -> float:
    """The game's own count of /play answers (its /metrics, every status)."""
    with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("rps_http_requests_total{") and 'route="/play"' in line
    )


def test_a_drill_with_two_workers_counts_exactly(env: DrillEnv) -> None:
    env.healthy()
    served_before = _game_plays(env.stack.urls["game"])
    done = env.run("drill", str(env.scenario("two-workers", DRILL)), "--quiet", "--report")
    assert done.returncode == 0, done.stdout + done.stderr
    run = env.latest_run("two-workers")
    locust = run / "locust"
    assert sorted(p.name for p in locust.glob("worker-*.log")) == ["worker-0.log", "worker-1.log"]
    requests, _failures = locust_counts(run)
    # no player gives up (10 s) even on a busy machine: every request is answered (the hardened game's
    # per-player rate limit may answer 429), so the game's count of answers below is comparable
    play = outcomes(locust)["routes"]["/play"]
    assert requests > 50 and play.get("timeout", 0) == play.get("connection", 0) == 0, play

    # Prometheus (job load) scraped the master's sums; the last sample is the final count
    window = "[5m]"
    scraped = env.prom_value(f'sum(last_over_time(crashlab_client_requests_total{{job="load"}}{window}))')
    assert scraped == requests, (scraped, requests)
    per_worker = {
        s["metric"]["worker"]: float(s["value"][1])
        for s in env.prom(f'last_over_time(crashlab_load_worker_requests_total{{job="load"}}{window})')
    }
    assert set(per_worker) == {"0", "1"} and min(per_worker.values()) > 0, per_worker  # both did work
    assert sum(per_worker.values()) == requests, (per_worker, requests)
    assert env.prom_value(f'max_over_time(crashlab_load_workers{{job="load"}}{window})') == 2

    # the report's players' total, the outcomes file and Locust's JSON agree with the CSV
    assert load_summary(run)["players_requests"] == requests, (
        load_summary(run)["players_requests"],
        requests,
    )
    assert play["attempts"] == requests
    stats = json.loads((locust / "stats.json").read_text())
    assert sum(entry["num_requests"] for entry in stats) == requests
    # and every /play the game answered during the drill is in them (none lost at the end)
    assert _game_plays(env.stack.urls["game"]) - served_before == requests
    started = journal_events(run, "load", "started")
    assert len(started) == 1


JOINED = """
name: joined
description: a worker from another machine joins the drill's master
target: {runtime: local, profile: hardened}
load: {users: 4, duration: 4s, think_time: {min: 50ms, max: 100ms},
       master: {bind: 127.0.0.1, port: PORT, remote_workers: 1, wait: 60s}}
"""


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_a_drill_waits_for_a_worker_joining_from_crashlab_load_worker(env: DrillEnv) -> None:
    """The drill's master waits for its remote worker longer than a single Locust takes to start, the
    load and the timeline start once it joined, and the worker quits with the master."""
    env.healthy()
    port = free_port()
    drill = env.start("drill", str(env.scenario("joined", JOINED.replace("PORT", str(port)))), "--quiet")
    try:
        deadline = time.monotonic() + 60
        while not _listening(port) and drill.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _listening(port), (env.root / "drill.out").read_text()
        # join late: after the 15 s a drill waits for one Locust process to start
        late = time.monotonic() + 17
        while time.monotonic() < late and drill.poll() is None:
            time.sleep(0.2)
        assert drill.poll() is None, (env.root / "drill.out").read_text()
        joined_at = time.time()
        worker = subprocess.run(
            [CRASHLAB, "load", "worker", "--master", f"127.0.0.1:{port}"], capture_output=True, timeout=120
        )
        assert worker.returncode == 0, worker.stderr
        assert drill.wait(timeout=120) == 0, (env.root / "drill.out").read_text()
    finally:
        if drill.poll() is None:
            drill.kill()
            drill.wait()
    run = env.latest_run("joined")
    requests, _ = locust_counts(run)
    assert requests > 0 and outcomes(run / "locust")["routes"]["/play"]["attempts"] == requests
    (timeline,) = [e for e in journal_events(run, "phase", "started") if e.get("phase") == "timeline"]
    assert timeline.ts.timestamp() > joined_at


@pytest.fixture
async def game() -> AsyncIterator[TinyGame]:
    async for state in tiny_game():
        yield state


def _players(users: int, **settings: Any) -> LoadSettings:
    """``users`` players for 4 s, no retries, short think times unless ``settings`` say otherwise."""
    fields: dict[str, Any] = {"think_min_s": 0.01, "think_max_s": 0.05, "client_retries": 0, **settings}
    return LoadSettings(users=users, spawn_rate=users, duration_s=4, **fields)


async def test_the_master_waits_for_the_requests_in_flight_when_it_quits(
    game: TinyGame, tmp_path: Path
) -> None:
    """Every player is mid-request when the run time ends (the game takes 1.5 s). Locust's master waits
    only 0.5 s for its workers' last reports; ours waits until each worker reported after its users
    stopped, so the requests the game answered after the stop are counted too."""
    game.delay_s = 1.5
    settings = _players(6, workers=2, think_min_s=0, think_max_s=0, client_timeout_s=3)
    load = LoadProcess(game.url, settings, tmp_path / "locust")
    await load.start()
    assert await load.wait(timeout_s=60) == 0
    requests, failures = locust_counts(tmp_path)
    assert failures == 0 and requests == game.plays
    assert outcomes(tmp_path / "locust")["routes"]["/play"]["ok"] == requests


def _get(url: str) -> str:
    """The body of a GET, or an empty string while nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return str(resp.read().decode())
    except OSError:
        return ""


def _metrics(url: str) -> str:
    return _get(url + "/metrics")


async def test_a_worker_from_crashlab_load_worker_joins_the_master(game: TinyGame, tmp_path: Path) -> None:
    master_port = free_port()
    settings = _players(
        4, workers=1, remote_workers=1, master_port=master_port, metrics_port=free_port(), workers_wait_s=30
    )
    load = LoadProcess(game.url, settings, tmp_path / "locust")
    await load.start()
    with (tmp_path / "joined.out").open("wb") as out:
        joined = await asyncio.create_subprocess_exec(
            CRASHLAB, "load", "worker", "--master", f"127.0.0.1:{master_port}", stdout=out, stderr=out
        )
    try:
        assert load.metrics_url is not None
        last = ""
        while load.exit_code is None:
            last = await asyncio.to_thread(_metrics, load.metrics_url) or last
            await asyncio.sleep(0.2)
        assert await load.wait(timeout_s=60) == 0
        # the joined worker quits with its master
        assert await asyncio.wait_for(joined.wait(), 30) == 0
    finally:
        if joined.returncode is None:
            joined.kill()
            await joined.wait()
    per_worker = dict(re.findall(r'crashlab_load_worker_requests_total\{worker="(\d+)"\} (\S+)', last))
    assert set(per_worker) == {"0", "1"} and min(float(n) for n in per_worker.values()) > 0
    requests, _ = locust_counts(tmp_path)
    assert sum(float(n) for n in per_worker.values()) == requests == game.plays
    assert outcomes(tmp_path / "locust")["routes"]["/play"]["attempts"] == requests


def test_load_workers_and_the_master_address_come_from_the_drill(tmp_path: Path) -> None:
    drill = tmp_path / "d.yaml"
    drill.write_text(
        "name: d\ndescription: x\nload:\n  users: 4\n  duration: 5s\n  workers: 3\n"
        "  master: {bind: 0.0.0.0, port: 6000, remote_workers: 2, wait: 2m}\n"
    )
    load = load_scenario(drill).load
    assert load is not None
    settings = load_settings(load, None)
    assert (settings.workers, settings.remote_workers) == (3, 2)
    assert (settings.master_bind, settings.master_port, settings.workers_wait_s) == ("0.0.0.0", 6000, 120)
    local = load_settings(load.model_copy(update={"master": None}), None)
    assert (local.master_bind, local.master_port, local.remote_workers) == ("127.0.0.1", 0, 0)

    drill.write_text("name: d\ndescription: x\nload:\n  users: 4\n  duration: 5s\n  master: {port: 6000}\n")
    with pytest.raises(
        ScenarioError, match=r"d\.yaml:6: load\.master: needs 'load\.workers' or 'remote_workers'"
    ):
        load_scenario(drill)


def _manifest_env(deployment: dict[str, Any], **loopback: str) -> dict[str, str]:
    """A Deployment's container environment, with ``loopback`` values replacing the cluster's."""
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    return {**os.environ, **env, **loopback}


async def test_the_kubernetes_locust_pods_commands_and_env_run_the_players(
    game: TinyGame, tmp_path: Path
) -> None:
    """The locust-master and locust-worker containers' commands and environment, as rendered, with
    loopback addresses for the cluster's: the web UI answers, a worker joins and plays once the load
    autostarts, the master serves the players' metrics, and both stop on SIGTERM."""
    values = Values.model_validate({"locust": {"autostart": {"users": 4, "spawnRate": 4}}})
    deployments = {m["metadata"]["name"]: m for m in render(values) if m["kind"] == "Deployment"}
    ports = {name: str(free_port()) for name in ("workers", "web", "metrics")}
    master_env = _manifest_env(
        deployments["locust-master"],
        LOCUST_HOST=game.url,
        LOCUST_MASTER_BIND_HOST="127.0.0.1",
        LOCUST_MASTER_BIND_PORT=ports["workers"],
        LOCUST_WEB_HOST="127.0.0.1",
        LOCUST_WEB_PORT=ports["web"],
        CRASHLAB_LOAD_METRICS_HOST="127.0.0.1",
        CRASHLAB_LOAD_METRICS_PORT=ports["metrics"],
    )
    worker_env = _manifest_env(
        deployments["locust-worker"], CRASHLAB_LOAD_MASTER=f"127.0.0.1:{ports['workers']}"
    )
    procs = []
    for name, env in (("locust-master", master_env), ("locust-worker", worker_env)):
        (container,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        argv = [
            CRASHLAB if container["command"] == ["crashlab"] else container["command"][0],
            *container["args"],
        ]
        with (tmp_path / f"{name}.out").open("wb") as out:
            procs.append(await asyncio.create_subprocess_exec(*argv, env=env, stdout=out, stderr=out))
    try:
        metrics = f"http://127.0.0.1:{ports['metrics']}"
        played = ""
        for _ in range(300):
            text = await asyncio.to_thread(_metrics, metrics)
            if re.search(r'crashlab_load_worker_requests_total\{worker="0"\} [1-9]', text):
                played = text
                break
            await asyncio.sleep(0.1)
        assert played, (tmp_path / "locust-master.out").read_text()
        assert "crashlab_load_workers 1.0" in played and game.plays > 0
        ui = await asyncio.to_thread(_get, f"http://127.0.0.1:{ports['web']}/")
        assert "locust" in ui.lower()
    finally:
        procs[0].send_signal(signal.SIGTERM)
        codes = [await asyncio.wait_for(p.wait(), 30) for p in procs]
    assert codes == [0, 0]
