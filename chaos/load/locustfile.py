# mypy: disable-error-code="untyped-decorator,no-untyped-call"
"""The players: a Locust file run only as a headless subprocess (never imported by crashlab).

Each player POSTs ``/play`` with a random choice and its ``X-Player-Id``, gives up after
``--client-timeout`` seconds and tries again ``--client-retries`` times at once (no backoff), like
real players. Every attempt is a Locust request; failures are named by kind (``timeout``,
``connection``, ``HTTP <status>``) so the CSVs tell client-side from server-side failures. At the
end the counts by kind go to ``--outcomes-file`` (JSON) for the reporter.

Options (each also from its environment variable): ``--client-timeout`` (CRASHLAB_LOAD_CLIENT_TIMEOUT),
``--client-retries``, ``--think-min`` / ``--think-max`` (seconds), ``--players``, ``--request-mix``
(JSON weights of tasks ``play``, ``readyz``, ``healthz``), ``--outcomes-file``, ``--seed``,
``--metrics-port`` (serve ``crashlab_client_requests_total{route,outcome}`` and
``crashlab_client_request_duration_seconds{route}`` on 127.0.0.1 for Prometheus job ``load``). Stages:
``CRASHLAB_LOAD_STAGES`` = JSON list of ``{"duration": seconds, "users": n, "spawn_rate": r}``.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter as Tally
from typing import Any

from locust import FastHttpUser, LoadTestShape, events, task
from locust.env import Environment
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

CHOICES = ("rock", "paper", "scissors")
_lock = threading.Lock()
OUTCOMES: Tally[str] = Tally()


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


def _count(kind: str) -> None:
    with _lock:
        OUTCOMES[kind] += 1


#: the players' view for Prometheus (job ``load``): docs/contracts.md, "Load generator"
REGISTRY = CollectorRegistry()
CLIENT_REQUESTS = Counter(
    "crashlab_client_requests_total",
    "requests as the players saw them",
    ["route", "outcome"],
    registry=REGISTRY,
)
CLIENT_DURATION = Histogram(
    "crashlab_client_request_duration_seconds",
    "request duration as the players saw it (up to their timeout)",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)


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
                headers={"X-Player-Id": self.player_id},
                catch_response=True,
            ) as resp:
                _count(f"{name}:attempts")
                kind = _classify(resp)
                CLIENT_REQUESTS.labels(name, _outcome(kind)).inc()
                CLIENT_DURATION.labels(name).observe(time.monotonic() - started)
                if kind is None:
                    resp.success()
                    _count(f"{name}:ok")
                    _count(f"{name}:rounds_ok")
                    return
                resp.failure(kind)
                _count(f"{name}:{kind}")
                if attempt < opts.client_retries:
                    _count(f"{name}:retries")
        _count(f"{name}:rounds_gave_up")

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
def _configure(environment: Environment, **_kw: Any) -> None:
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
        random.seed(opts.seed)
    if opts.metrics_port:
        start_http_server(opts.metrics_port, addr="127.0.0.1", registry=REGISTRY)


@events.quitting.add_listener
def _write_outcomes(environment: Environment, **_kw: Any) -> None:
    opts = environment.parsed_options
    if opts is not None and opts.metrics_port:
        time.sleep(1.5)  # one more scrape (every second) sees the last counts
    if opts is None or not opts.outcomes_file:
        return
    by_route: dict[str, dict[str, int]] = {}
    with _lock:
        for key, value in OUTCOMES.items():
            route, kind = key.split(":", 1)
            by_route.setdefault(route, {})[kind] = value
    data = {
        "client_timeout_s": opts.client_timeout,
        "client_retries": opts.client_retries,
        "routes": by_route,
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
