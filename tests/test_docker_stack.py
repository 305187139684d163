"""The Docker runtime against a real engine: the CI layout (host networking, loopback ports).

One stack for the module: up healthy -> a real /play in Prometheus -> a killed game container is
restarted by its policy (journal + Prometheus) -> pause stops and resumes answers -> every container
fault is reverted (and its TTL timer ends it on its own) -> netem refuses host networking -> down
leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from chaos.faults import registry
from chaos.faults.base import FaultContext
from chaos.faults.errors import FaultError
from chaos.runner.cleanup import context_for
from service.flagfile import set_switch
from service.profile import load_profile
from tests.helpers_docker import (
    BACKOFF_S,
    SWITCHES,
    docker_cli,
    docker_stack,
    http_get,
    journal_events,
    play,
    prom_query,
    restarts,
    wait_for,
)

__all__ = ["docker_cli", "docker_stack"]

pytestmark = [pytest.mark.docker, pytest.mark.timeout(240)]


def _ctx(stack: Any) -> FaultContext:
    return context_for(stack)


def _inject(stack: Any, name: str, params: dict[str, Any], ttl_s: float = 30.0) -> dict[str, Any]:
    fault = registry.get(name)
    handle: dict[str, Any] = asyncio.run(
        fault.inject(registry.validate(name, params), ttl_s, _ctx(stack), label=f"test-{name}")
    )
    return handle


def _revert(stack: Any, name: str, handle: dict[str, Any]) -> str:
    outcome: str = asyncio.run(registry.get(name).revert(handle, _ctx(stack)))
    return outcome


def test_stack_up_healthy_and_play_reaches_prometheus(docker_stack: Any) -> None:
    parts = {part.name: part for part in docker_stack.status()}
    assert set(parts) == {"game", "odds", "prometheus", "alertmanager", "observer"}
    assert all(part.healthy for part in parts.values()), [p.to_json() for p in parts.values()]
    assert all(url.startswith("http://127.0.0.1:") for url in docker_stack.urls.values())
    assert play(docker_stack.urls["game"]) == 200
    run_id = docker_stack.run_dir.run_id
    series = wait_for(
        lambda: prom_query(
            docker_stack.urls["prometheus"], f'rps_http_requests_total{{route="/play",run_id="{run_id}"}}'
        ),
        30,
        "a /play in Prometheus",
    )
    assert sum(float(s["value"][1]) for s in series) >= 1
    manifest = docker_stack.run_dir.read_manifest()
    assert manifest["runtime"] == "docker" and manifest["urls"]["game"] == docker_stack.urls["game"]
    journal = docker_stack.run_dir.journal_path
    assert journal_events(journal, "stack", "up", runtime="docker")
    # the observer follows the engine before game and odds start: both first starts are journaled
    started = journal_events(journal, "process", "started")
    assert {(e.get("service"), e.source) for e in started} >= {
        ("odds", "docker-observer"),
        ("game", "docker-observer"),
    }


def test_every_switch_setting_reaches_the_running_containers(docker_stack: Any) -> None:
    """The stack's switches (hardened, bulkhead off, settings changed) are what the game runs with: its
    /healthz switches, every setting it logged at start, and a flip of the mounted flag file, applied
    within seconds without a restart."""
    expected = load_profile("hardened", env={}, overrides=SWITCHES)
    game = docker_stack.urls["game"]

    def healthz_switches() -> dict[str, bool]:
        status, body = http_get(f"{game}/healthz")
        return dict(json.loads(body)["switches"]) if status == 200 else {}

    assert healthz_switches() == expected.switches() and expected.switches()["bulkhead"] is False
    logged = [
        json.loads(line)
        for line in (docker_stack.run_dir.logs / "game.jsonl").read_text().splitlines()
        if '"msg":"listening"' in line
    ]
    assert logged and logged[0]["settings"] == expected.model_dump(mode="json")
    assert logged[0]["settings"]["pooled_client"]["pool_exhausted_at"] == 150  # the naive default is 300
    assert set_switch(docker_stack.flag_file(), "bulkhead", True) is False
    try:
        wait_for(lambda: healthz_switches().get("bulkhead") is True, 15, "bulkhead on in the container")
    finally:
        set_switch(docker_stack.flag_file(), "bulkhead", False)
    wait_for(lambda: healthz_switches() == expected.switches(), 15, "bulkhead off again")


def test_killed_game_is_restarted_after_its_backoff_journal_and_prometheus(docker_stack: Any) -> None:
    """The observer restarts a crashed service by the policy's backoff (the engine's restart policy is
    "no"): the container stays exited for the backoff, then comes back; exit, restart, counters."""
    journal = docker_stack.run_dir.journal_path
    before = restarts(docker_stack, "game")
    assert docker_stack.container("game").attrs["HostConfig"]["RestartPolicy"]["Name"] == "no"
    handle = _inject(docker_stack, "container.kill", {"service": "game", "signal": "SIGKILL"})
    assert handle["signal"] == "SIGKILL" and handle["pid"] > 0
    exited = wait_for(
        lambda: journal_events(journal, "process", "exited", service="game", pid=handle["pid"]), 10, "exited"
    )
    assert exited[-1].get("exit_code") == 137 and exited[-1].get("reason") == "killed"
    assert exited[-1].get("signal") == "SIGKILL"
    assert docker_stack.container("game").status == "exited"  # waiting out its backoff
    restarted = wait_for(
        lambda: [
            e for e in journal_events(journal, "process", "restarted", service="game") if e.ts > exited[-1].ts
        ],
        30,
        "restarted event",
    )
    waited = (restarted[0].ts - exited[-1].ts).total_seconds()
    assert BACKOFF_S <= waited < BACKOFF_S + 5, waited
    assert restarted[0].get("restarts") == before + 1 == restarts(docker_stack, "game")
    series = wait_for(
        lambda: [
            s
            for s in prom_query(
                docker_stack.urls["prometheus"],
                'crashlab_process_restarts_total{service="game",job="supervisor"}',
            )
            if float(s["value"][1]) >= before + 1
        ],
        30,
        "crashlab_process_restarts_total in Prometheus",
    )
    assert series[0]["metric"]["run_id"] == docker_stack.run_dir.run_id
    wait_for(lambda: http_get(f"{docker_stack.urls['game']}/readyz")[0] == 200, 30, "game ready again")


def test_resident_memory_of_the_containers_reaches_prometheus(docker_stack: Any) -> None:
    def resident() -> dict[str, float]:
        query = 'crashlab_process_resident_memory_bytes{job="supervisor"}'
        found = prom_query(docker_stack.urls["prometheus"], query)
        values = {s["metric"]["service"]: float(s["value"][1]) for s in found}
        return values if all(values.get(name, 0) > 0 for name in ("game", "odds")) else {}

    rss = wait_for(resident, 30, "resident memory of game and odds in Prometheus")
    limit = docker_stack.container("game").attrs["HostConfig"]["Memory"]
    # a Python service holds tens of MB, under its container's limit
    assert 10 * 2**20 < rss["game"] < limit, rss


def test_oom_kill_is_recorded_as_oom(docker_stack: Any) -> None:
    """The game leaks memory (its admin API) past its container limit: the engine OOM-kills it,
    the journal says reason oom with exit 137, and the restart policy brings it back."""
    import urllib.request

    game = docker_stack.urls["game"]
    wait_for(lambda: http_get(f"{game}/readyz")[0] == 200, 30, "game ready before the leak")
    before = restarts(docker_stack, "game")
    # Prometheus must have seen the counter before the restarts, or increase() misses the first one
    wait_for(
        lambda: prom_query(
            docker_stack.urls["prometheus"], 'crashlab_process_restarts_total{service="game"}'
        ),
        20,
        "the restart counter scraped",
    )
    time.sleep(2)
    if before == 0:  # run alone: a first restart, so this one makes the CrashLoop alert fire
        _inject(docker_stack, "container.kill", {"service": "game"})
        wait_for(lambda: http_get(f"{game}/readyz")[0] == 200, 30, "game ready after a first restart")
        before = restarts(docker_stack, "game")
    body = json.dumps({"type": "memory_leak", "params": {"mb_per_s": 100, "max_mb": 1000}, "ttl_s": 30})
    req = urllib.request.Request(
        f"{game}/admin/faults",
        data=body.encode(),
        method="POST",
        headers={"Authorization": f"Bearer {docker_stack.admin_token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 201
    journal = docker_stack.run_dir.journal_path
    oom = wait_for(
        lambda: journal_events(journal, "process", "exited", service="game", reason="oom"), 40, "an oom exit"
    )
    assert oom[-1].get("exit_code") == 137
    wait_for(lambda: restarts(docker_stack, "game") > before, 30, "restart after OOM")
    wait_for(lambda: http_get(f"{game}/readyz")[0] == 200, 30, "game ready after the OOM restart")
    wait_for(
        lambda: [
            s
            for s in prom_query(
                docker_stack.urls["prometheus"], 'crashlab_process_exits_total{service="game",reason="oom"}'
            )
            if float(s["value"][1]) >= 1
        ],
        20,
        "the OOM exit in Prometheus",
    )
    # two restarts of the game within a minute (a kill, then this OOM): the rules' CrashLoop
    # alert fires in the stack's Prometheus and the observer journals it
    firing = wait_for(
        lambda: journal_events(journal, "alert", "firing", alert="CrashLoop"),
        30,
        "CrashLoop firing in the journal",
    )
    assert firing[-1].get("labels", {}).get("service") == "game"


def _answers(url: str) -> bool:
    return http_get(f"{url}/healthz", timeout_s=1.0)[0] == 200


def test_pause_stops_and_unpause_resumes_answers(docker_stack: Any) -> None:
    game = docker_stack.urls["game"]
    wait_for(lambda: _answers(game), 30, "game answers before the pause")
    handle = _inject(docker_stack, "container.pause", {"service": "game"})
    try:
        assert docker_stack.container("game").status == "paused"
        started = time.monotonic()
        assert not _answers(game), "a paused game must not answer"
        assert time.monotonic() - started >= 0.9  # the request hung until its timeout
    finally:
        assert _revert(docker_stack, "container.pause", handle) == "reverted"
    assert docker_stack.container("game").status == "running"
    wait_for(lambda: _answers(game), 10, "game answers after unpause")
    assert _timer_gone(handle["timer_pid"])


def _timer_gone(pid: int) -> bool:
    """The TTL helper was cancelled: gone, a zombie, or the PID now belongs to something else."""
    try:
        proc = psutil.Process(pid)
        return proc.status() == psutil.STATUS_ZOMBIE or "docker unpause" not in " ".join(proc.cmdline())
    except psutil.Error:
        return True


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("container.memory", {"service": "odds", "limit_mb": 96}),
        ("container.cpu", {"service": "odds", "cpus": 0.25}),
        ("container.stop", {"service": "odds"}),
    ],
)
def test_container_fault_is_applied_then_reverted(
    docker_stack: Any, name: str, params: dict[str, Any]
) -> None:
    def limits() -> tuple[int, int, int]:
        host = docker_stack.container("odds").attrs["HostConfig"]
        return int(host["Memory"]), int(host["MemorySwap"]), max(int(host["CpuQuota"] or 0), 0)

    before = limits()
    handle = _inject(docker_stack, name, params)
    ctr = docker_stack.container("odds")
    if name == "container.memory":
        assert ctr.attrs["HostConfig"]["Memory"] == 96 * 1024 * 1024
    elif name == "container.cpu":
        assert ctr.attrs["HostConfig"]["CpuQuota"] == 25_000
    else:
        assert ctr.status == "exited"
    assert _revert(docker_stack, name, handle) == "reverted"
    assert limits() == before
    wait_for(lambda: docker_stack.container("odds").status == "running", 15, "odds running after revert")
    wait_for(lambda: _answers(docker_stack.urls["odds"]), 30, "odds answers after revert")


def test_memory_limit_below_current_use_is_refused_at_injection(docker_stack: Any) -> None:
    """A limit under what the game holds now: a FaultError that says so (the engine's answer would be
    a 500 from runc), nothing changed, no TTL timer left behind."""
    before = docker_stack.container("game").attrs["HostConfig"]["Memory"]
    timers = _update_timers()
    with pytest.raises(
        FaultError, match=r"limit_mb 6 is below the 'game' container's current memory use \(\d+ MB\)"
    ):
        _inject(docker_stack, "container.memory", {"service": "game", "limit_mb": 6})
    assert docker_stack.container("game").attrs["HostConfig"]["Memory"] == before
    assert _update_timers() == timers
    assert _answers(docker_stack.urls["game"])


def _update_timers() -> set[int]:
    return {
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if "docker update" in " ".join(p.info["cmdline"] or [])
    }


def test_fault_ends_by_its_ttl_without_revert(docker_stack: Any) -> None:
    handle = _inject(docker_stack, "container.pause", {"service": "odds"}, ttl_s=1.5)
    assert docker_stack.container("odds").status == "paused"
    wait_for(lambda: docker_stack.container("odds").status == "running", 15, "TTL timer unpaused odds")
    assert _revert(docker_stack, "container.pause", handle) == "expired"


def test_container_faults_need_the_docker_runtime() -> None:
    ctx = FaultContext(runtime="local")
    with pytest.raises(FaultError, match="docker runtime"):
        asyncio.run(
            registry.get("container.pause").inject(
                registry.validate("container.pause", {}), 5, ctx, label="x"
            )
        )


def test_netem_refuses_a_host_networking_container(docker_stack: Any) -> None:
    # host networking: the container has no namespace of its own, so the stack offers none ...
    assert docker_stack.netns_of("odds") is None
    # ... and the network family refuses instead of touching the machine's interfaces
    with pytest.raises(FaultError, match="network namespace of its own"):
        _inject(docker_stack, "network.delay", {"service": "odds", "ms": 100})
    # nothing was put on the machine's loopback
    import subprocess

    shown = subprocess.run(["tc", "qdisc", "show", "dev", "lo"], capture_output=True, text=True, check=True)
    assert "netem" not in shown.stdout


def test_restart_fault_and_status_json(docker_stack: Any) -> None:
    before = docker_stack.container("odds").attrs["State"]["StartedAt"]
    _inject(docker_stack, "container.restart", {"service": "odds"})
    assert docker_stack.container("odds").attrs["State"]["StartedAt"] != before
    wait_for(lambda: _answers(docker_stack.urls["odds"]), 30, "odds answers after restart")
    rows = [part.to_json() for part in docker_stack.status()]
    assert json.loads(json.dumps(rows)) == rows
    assert {row["name"] for row in rows} == {"game", "odds", "prometheus", "alertmanager", "observer"}


def test_the_registry_attaches_to_it_with_the_declared_capabilities(docker_stack: Any) -> None:
    from stack import registry
    from stack.capabilities import implemented_by

    entry = registry.get("docker")
    assert isinstance(docker_stack, entry.driver().stack_class)
    assert implemented_by(type(docker_stack)) == entry.capabilities
    for capability in entry.capabilities:
        assert isinstance(docker_stack, capability.protocol), capability


def test_memory_limit_changes_at_run_time(docker_stack: Any) -> None:
    before = docker_stack.memory_limit_mb("odds")
    assert before is not None
    assert docker_stack.set_memory_limit("odds", before + 64) == before
    assert docker_stack.memory_limit_mb("odds") == before + 64
    assert docker_stack.container("odds").attrs["HostConfig"]["Memory"] == (before + 64) * 2**20
    assert docker_stack.set_memory_limit("odds", before) == before + 64


def _targets(stack: Any, job: str) -> list[dict[str, Any]]:
    status, body = http_get(f"{stack.urls['prometheus']}/api/v1/targets?state=active")
    assert status == 200, body
    return [t for t in json.loads(body)["data"]["activeTargets"] if t["labels"].get("job") == job]


def test_a_host_exporter_reaches_prometheus_through_the_observer_relay(docker_stack: Any) -> None:
    """The drill runner's and Locust's exporters bind the host's loopback, out of a bridge network's
    reach: the stack relays them through the observer, the same way in both layouts. Prometheus
    scrapes the observer's /relay/<job>/metrics (never the exporter), sees the exporter's values and
    their changes, and the target goes down when the exporter stops."""
    from prometheus_client import CollectorRegistry, Gauge, start_http_server

    registry = CollectorRegistry()
    probe = Gauge("crashlab_relay_probe", "a value set by the test", registry=registry)
    probe.set(7)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    exporter = f"http://127.0.0.1:{server.server_address[1]}"
    prometheus = docker_stack.urls["prometheus"]
    try:
        docker_stack.add_scrape_target("relaytest", exporter)
        target = wait_for(
            lambda: [t for t in _targets(docker_stack, "relaytest") if t["health"] == "up"], 30, "target up"
        )[0]
        observer = docker_stack.urls["observer"]
        assert target["scrapeUrl"] == f"{observer}/relay/relaytest/metrics"
        assert target["labels"]["run_id"] == docker_stack.run_dir.run_id
        wait_for(
            lambda: prom_query(prometheus, 'crashlab_relay_probe{job="relaytest"} == 7'), 15, "7 scraped"
        )
        probe.set(11)
        wait_for(
            lambda: prom_query(prometheus, 'crashlab_relay_probe{job="relaytest"} == 11'), 15, "11 scraped"
        )
        server.shutdown()
        server.server_close()
        thread.join(5)
        # the exporter is gone: the relay withdraws it and Prometheus marks the target down
        wait_for(
            lambda: [t for t in _targets(docker_stack, "relaytest") if t["health"] == "down"], 30, "down"
        )
    finally:
        docker_stack.remove_scrape_target("relaytest")
    assert not (docker_stack.targets_dir() / "relaytest.json").exists()
    assert http_get(f"{docker_stack.urls['observer']}/relay/relaytest/metrics")[0] == 503


def test_the_bridge_layout_scrapes_the_relay_at_the_observers_compose_name(
    docker_stack: Any, tmp_path: Path
) -> None:
    """What differs in the bridge layout is the address only: the target file names the observer by
    its compose service name and port (observer:9100), the relay path the same; the observer that
    answers there is this very process (checked through this stack's published port)."""
    from prometheus_client import CollectorRegistry, Gauge, start_http_server

    from stack.docker.running import DockerStack

    bridge = DockerStack(
        docker_stack.state.model_copy(
            update={
                "host_network": False,
                "compose_env": {**docker_stack.state.compose_env, "CRASHLAB_TARGETS_DIR": str(tmp_path)},
            }
        ),
        tmp_path / "state.json",
    )
    registry = CollectorRegistry()
    Gauge("crashlab_relay_bridge", "a value set by the test", registry=registry).set(3)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        bridge.add_scrape_target("bridgetest", f"http://127.0.0.1:{server.server_address[1]}")
        (entry,) = json.loads((tmp_path / "bridgetest.json").read_text())
        assert entry["targets"] == ["observer:9100"]
        assert entry["labels"]["__metrics_path__"] == "/relay/bridgetest/metrics"
        relayed = f"{docker_stack.urls['observer']}/relay/bridgetest/metrics"
        wait_for(lambda: b"crashlab_relay_bridge 3.0" in http_get(relayed)[1], 10, "the relayed copy")
    finally:
        bridge.remove_scrape_target("bridgetest")
        server.shutdown()
        server.server_close()
        thread.join(5)
