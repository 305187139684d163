"""The local stack end to end: up -> healthy -> a real /play in Prometheus -> kill -9 of the game ->
restarted, visible in Prometheus and the journal -> down -> no process left."""

from __future__ import annotations

import json
import os
import signal

from crashlab.waits import wait_until
from stack.local import LocalStack, attach
from tests.helpers_stack import (
    active_jobs,
    assert_nothing_left,
    events,
    exemplar_trace_ids,
    local_stack,
    play,
    prom_value,
    stack_dirs,
    stack_processes,
)

__all__ = ["local_stack", "stack_dirs"]


def test_up_play_kill_restart_down(local_stack: LocalStack) -> None:
    stack = local_stack
    parts = {p.name: p for p in stack.status()}
    assert set(parts) == {"supervisor", "odds", "game", "prometheus", "alertmanager"}
    assert all(p.healthy and p.pid for p in parts.values()), parts
    assert all(url.startswith("http://127.0.0.1:") for url in stack.urls.values())
    assert attach() is not None and attach().state.supervisor_pid == stack.state.supervisor_pid  # type: ignore[union-attr]

    stack.wait_scraped(20)
    assert play(stack) == 200
    seen = wait_until(
        lambda: prom_value(stack, 'sum(rps_http_requests_total{job="game", route="/play", status="200"})'),
        30,
        "the /play request in Prometheus",
    )
    assert seen >= 1
    # the latency histogram's trace_id exemplars reach Prometheus (OpenMetrics scrape, exemplar storage)
    trace_ids = wait_until(
        lambda: exemplar_trace_ids(stack, 'rps_http_request_duration_seconds_bucket{route="/play"}'),
        10,
        "a /play exemplar",
    )
    assert all(len(t) == 32 for t in trace_ids)
    run_id = stack.run_dir.run_id
    assert wait_until(
        lambda: prom_value(stack, f'up{{job="supervisor", run_id="{run_id}"}}'), 10, "supervisor up"
    )
    assert prom_value(stack, f'up{{job="alertmanager", run_id="{run_id}"}}') == 1

    # a target added at run time (the drill runner's) is scraped with job and run_id, and removed again
    stack.add_scrape_target("runner", stack.urls["supervisor"])
    assert wait_until(
        lambda: prom_value(stack, f'up{{job="runner", run_id="{run_id}"}}'), 20, "runner target"
    )
    stack.remove_scrape_target("runner")
    wait_until(lambda: not active_jobs(stack) & {"runner"}, 20, "runner target gone")

    old_pid = parts["game"].pid
    assert old_pid is not None
    os.kill(old_pid, signal.SIGKILL)

    def restarted() -> bool:
        game = stack.part("game")
        return bool(game["restarts"] == 1 and game["healthy"] and game["pid"] not in (None, old_pid))

    wait_until(restarted, 20, "the game restarted and healthy")
    exited = events(stack, "process", "exited", service="game")
    assert [(e.get("reason"), e.get("exit_code"), e.get("signal"), e.get("pid")) for e in exited] == [
        ("killed", 137, "SIGKILL", old_pid)
    ]
    assert events(stack, "process", "restarted", service="game", restarts=1)
    assert (
        wait_until(
            lambda: prom_value(stack, 'crashlab_process_restarts_total{job="supervisor", service="game"}'),
            15,
            "the restart counter in Prometheus",
        )
        == 1
    )
    # job="supervisor": the same exporter was scraped as job "runner" above, and that series may not
    # be marked stale yet
    assert (
        prom_value(stack, 'crashlab_process_exits_total{job="supervisor", service="game", reason="killed"}')
        == 1
    )
    assert prom_value(stack, 'crashlab_process_last_exit_code{job="supervisor", service="game"}') == 137
    assert play(stack) == 200

    procs = stack_processes(stack)
    stack.down()
    assert_nothing_left(stack, procs)
    assert attach() is None
    assert events(stack, "stack", "down")
    # logs and traces of both services, as JSON lines in the run directory; Prometheus' data too
    run = stack.run_dir
    for service in ("game", "odds"):
        first_log = json.loads((run.logs / f"{service}.jsonl").read_text().splitlines()[0])
        assert first_log["service"] == service
        assert (run.logs / f"{service}.stdout.log").exists()
    spans = [json.loads(line) for line in (run.traces / "game.jsonl").read_text().splitlines()]
    assert spans and "resourceSpans" in spans[0]
    assert any((run.prometheus / "data").iterdir())
