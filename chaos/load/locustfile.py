# mypy: disable-error-code="untyped-decorator,no-untyped-call"
"""The players: a Locust file run only as a subprocess (never imported by crashlab): headless in drills.

Each player POSTs ``/play`` with a random choice and its ``X-Player-Id``, gives up after
``--client-timeout`` seconds and tries again ``--client-retries`` times at once (no backoff), like
real players. Every attempt is a Locust request; failures are named by kind (``timeout``,
``connection``, ``HTTP <status>``) so the CSVs tell client-side from server-side failures. At the
end the counts by kind go to ``--outcomes-file`` (JSON) for the reporter.

Options (each also from its environment variable): ``--client-timeout`` (CRASHLAB_LOAD_CLIENT_TIMEOUT),
``--client-retries``, ``--think-min`` / ``--think-max`` (seconds), ``--players``, ``--request-mix``
(JSON weights of tasks ``play``, ``readyz``, ``healthz``), ``--outcomes-file``, ``--seed``,
``--metrics-port`` (serve ``crashlab_client_requests_total{route,outcome}`` and
``crashlab_client_request_duration_seconds{route}`` for Prometheus job ``load``), ``--metrics-host``
(default 127.0.0.1). Stages: ``CRASHLAB_LOAD_STAGES`` = JSON list of
``{"duration": seconds, "users": n, "spawn_rate": r}``.

Distributed (``--master`` / ``--worker``): the workers take the master's options when the test starts,
count the players' requests and ship them to the master inside Locust's own stats reports (every
second); the master serves the sum and writes ``--outcomes-file`` (see :mod:`chaos.load.players`).
"""

from __future__ import annotations

import json
import os
import random
import time
from typing import Any

from locust import FastHttpUser, LoadTestShape, events, runners, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner
from prometheus_client import CollectorRegistry, start_http_server

from chaos.load.players import (
    CSV_PASS_S,
    FINAL_KEY,
    LAST_REPORT_MARGIN_S,
    LAST_SCRAPE_WAIT_S,
    REPORT_KEY,
    Players,
)
from crashlab.headers import PLAYER_ID

CHOICES = ("rock", "paper", "scissors")
#: seconds between a worker's stats reports to its master (Locust's default is 3): the players'
#: metrics reach Prometheus (1 s scrapes, 5 s alert windows in drills) at most this late
REPORT_INTERVAL_S = 1.0
#: this process's players (a worker's: what it counted since its last report)
PLAYERS = Players()


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument("--client-timeout", type=float, env_var="CRASHLAB_LOAD_CLIENT_TIMEOUT", default=2.0)
    parser.add_argument("--client-retries", type=int, env_var="CRASHLAB_LOAD_CLIENT_RETRIES", default=1)
    parser.add_argument("--think-min", type=float, env_var="CRASHLAB_LOAD_THINK_MIN", default=0.1)
    parser.add_argument("--think-max", type=float, env_var="CRASHLAB_LOAD_THINK_MAX", default=0.5)
    parser.add_argument("--players", type=int, env_var="CRASHLAB_LOAD_PLAYERS", default=50)
    parser.add_argument("--request-mix", type=str, env_var="CRASHLAB_LOAD_REQUEST_MIX", default='{"play": 1}')
    parser.add_argument("--outcomes-file", type=str, env_var="CRASHLAB_LOAD_OUTCOMES_FILE", default="")
    parser.add_argument("--seed", type=int, env_var="CRASHLAB_LOAD_SEED", default=0)
    parser.add_argument("--metrics-port", type=int, env_var="CRASHLAB_LOAD_METRICS_PORT", default=0)
    parser.add_argument("--metrics-host", type=str, env_var="CRASHLAB_LOAD_METRICS_HOST", default="127.0.0.1")


def _outcome(kind: str | None) -> str:
    if kind is None:
        return "ok"
    if kind.startswith("HTTP "):
        return f"http_{kind[5]}xx"
    return kind


def _classify(resp: Any) -> str | None:
    """None for a success, else the failure kind."""
    error = getattr(resp, "error", None)
    status = resp.status_code or 0
    if error is not None and status == 0:
        text = f"{type(error).__name__} {error}".lower()
        return "timeout" if "timeout" in text or "timed out" in text else "connection"
    if status >= 400:
        return f"HTTP {status}"
    return None


class Player(FastHttpUser):
    abstract = False

    def wait_time(self) -> float:
        opts = self.environment.parsed_options
        return random.uniform(opts.think_min, max(opts.think_min, opts.think_max))

    def on_start(self) -> None:
        opts = self.environment.parsed_options
        self.player_id = f"player-{random.randrange(max(1, opts.players))}"

    def _attempts(self, method: str, path: str, name: str, body: dict[str, Any] | None) -> None:
        opts = self.environment.parsed_options
        for attempt in range(1 + max(0, opts.client_retries)):
            started = time.monotonic()
            with self.client.request(
                method,
                path,
                name=name,
                json=body,
                headers={PLAYER_ID: self.player_id},
                catch_response=True,
            ) as resp:
                # counted here, before Locust's request event fires when the block ends: no greenlet
                # switch in between, so a worker's report never holds one without the other
                PLAYERS.count(name, "attempts")
                kind = _classify(resp)
                PLAYERS.observe(name, _outcome(kind), time.monotonic() - started)
                if kind is None:
                    resp.success()
                    PLAYERS.count(name, "ok")
                    PLAYERS.count(name, "rounds_ok")
                    return
                resp.failure(kind)
                PLAYERS.count(name, kind)
                if attempt < opts.client_retries:
                    PLAYERS.count(name, "retries")
        PLAYERS.count(name, "rounds_gave_up")

    @task
    def play(self) -> None:
        self._attempts("POST", "/play", "/play", {"player_choice": random.choice(CHOICES)})

    @task
    def readyz(self) -> None:
        self._attempts("GET", "/readyz", "/readyz", None)

    @task
    def healthz(self) -> None:
        self._attempts("GET", "/healthz", "/healthz", None)


_TASKS = {"play": Player.play, "readyz": Player.readyz, "healthz": Player.healthz}


@events.init.add_listener
def _roles(environment: Environment, **_kw: Any) -> None:
    """Wire the players' counters for this process's role; serve them unless it is a worker."""
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        _as_worker(environment)
        return
    if isinstance(runner, MasterRunner):
        _as_master(environment, runner)
    opts = environment.parsed_options
    if opts is not None and opts.metrics_port:
        registry = CollectorRegistry(auto_describe=True)
        registry.register(PLAYERS)
        start_http_server(opts.metrics_port, addr=opts.metrics_host, registry=registry)


def _as_worker(environment: Environment) -> None:
    runners.WORKER_REPORT_INTERVAL = REPORT_INTERVAL_S
    stopped = [False]

    def ship(client_id: str, data: dict[str, Any]) -> None:
        data[REPORT_KEY] = PLAYERS.take()
        if stopped[0]:
            data[FINAL_KEY] = True  # every user has stopped: nothing is counted after this report

    def started(**_kw: Any) -> None:
        stopped[0] = False

    def ended(**_kw: Any) -> None:
        stopped[0] = True

    environment.events.report_to_master.add_listener(ship)
    environment.events.test_start.add_listener(started)
    environment.events.test_stop.add_listener(ended)


def _as_master(environment: Environment, master: MasterRunner) -> None:
    finals: set[str] = set()
    PLAYERS.workers = lambda: int(master.worker_count)

    def merge(client_id: str, data: dict[str, Any]) -> None:
        if REPORT_KEY in data:
            PLAYERS.merge(data[REPORT_KEY], worker=str(master.get_worker_index(client_id)))
        if data.get(FINAL_KEY):
            finals.add(client_id)

    def last_reports(**_kw: Any) -> None:
        """A headless master ends a test only by quitting, and Locust's master waits just 0.5 s for
        its workers' last reports: the requests still in flight then (a hung service: all of them)
        would be missing from both Locust's stats and the players' counters. Tell the workers to quit
        now, and wait until each sent its report after its users stopped."""
        opts = environment.parsed_options
        if opts is None or not opts.headless:
            return
        pending = {client.id for client in master.clients.all}
        for client_id in pending:
            master.send_message("quit", client_id=client_id)
        deadline = time.monotonic() + (environment.stop_timeout or 0) + LAST_REPORT_MARGIN_S
        while pending - finals and time.monotonic() < deadline:
            time.sleep(0.05)  # gevent's: the master keeps receiving meanwhile

    environment.events.worker_report.add_listener(merge)
    environment.events.test_stop.add_listener(last_reports)


@events.test_start.add_listener
def _configure(environment: Environment, **_kw: Any) -> None:
    """At the start of a test: on a worker, the options are the master's by then."""
    opts = environment.parsed_options
    if opts is None:
        return
    Player.network_timeout = opts.client_timeout
    Player.connection_timeout = opts.client_timeout
    Player.max_retries = 0
    mix = json.loads(opts.request_mix)
    tasks: list[Any] = [_TASKS[name] for name, weight in mix.items() for _ in range(int(weight))]
    Player.tasks = tasks or [Player.play]
    if opts.seed:
        runner = environment.runner
        # each worker its own stream: the same seed on every worker would replay the same players
        random.seed(f"{opts.seed}/{runner.worker_index}" if isinstance(runner, WorkerRunner) else opts.seed)


@events.quitting.add_listener
def _last_counts_out(environment: Environment, **_kw: Any) -> None:
    opts = environment.parsed_options
    if opts is None or isinstance(environment.runner, WorkerRunner):
        return  # a worker's counts are its master's by now (its last report went out when it quit)
    # Locust rewrites its CSVs every second and not at exit: one more pass writes the last counts
    csv_written = time.monotonic() + CSV_PASS_S if opts.csv_prefix else 0.0
    if opts.metrics_port:
        PLAYERS.wait_scraped(timeout_s=LAST_SCRAPE_WAIT_S)  # Prometheus keeps the last counts
    time.sleep(max(0.0, csv_written - time.monotonic()))
    if not opts.outcomes_file:
        return
    data = {
        "client_timeout_s": opts.client_timeout,
        "client_retries": opts.client_retries,
        "routes": PLAYERS.outcomes_by_route(),
    }
    tmp = opts.outcomes_file + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
    os.replace(tmp, opts.outcomes_file)


_STAGES = os.environ.get("CRASHLAB_LOAD_STAGES", "")

if _STAGES:

    class Stages(LoadTestShape):
        """Users by stage: each ``{"duration": s, "users": n, "spawn_rate": r}`` in turn, then stop."""

        stages: list[dict[str, Any]] = json.loads(_STAGES)

        def tick(self) -> tuple[int, float] | None:
            elapsed = self.get_run_time()
            end = 0.0
            for stage in self.stages:
                end += float(stage["duration"])
                if elapsed < end:
                    users = int(stage["users"])
                    return users, float(stage.get("spawn_rate") or max(1, users))
            return None
