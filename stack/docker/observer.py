"""The Docker stack's supervisor: watches the services' containers like the local supervisor watches
its processes, and restarts them by the same policy.

It runs as the compose service ``observer`` (``python -m stack.docker.observer``, the service image,
the engine's socket mounted): on the compose network in the full layout (Prometheus scrapes
``observer:9100``), on the host's loopback in the CI layout. It

- follows the engine's container events for one compose project and journals ``process`` events
  (``started``, ``exited``, ``restarted``, ``healthy``, ``unhealthy``) with the exit code, signal,
  reason (``clean``, ``panic``, ``oom``, ``killed``, ``crash``) and restart count;
- restarts a crashed service itself when given a restart policy (``--restart-policy`` JSON: the
  local supervisor's rules, :mod:`stack.local.exits`: ``on-failure`` with max retries and
  exponential backoff, reset after a run of 10 s); the services then run with Docker's ``restart:
  "no"``. With ``--restart-policy engine`` (a plain ``docker compose up``) the engine restarts them
  and the observer only counts (RestartCount);
- exports the ``crashlab_process_*`` metrics (job ``supervisor``), the containers' resident memory
  included, and relays the host's exporters (:mod:`stack.docker.relay`);
- journals ``alert firing|resolved`` from Prometheus' alerts API.

HTTP: ``/metrics``, ``/healthz`` (200 once it follows the events), ``/status`` (JSON per service),
``PUT|DELETE /relay/<job>``, ``GET /relay/<job>/metrics``. SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any

import docker.errors
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from crashlab.journal import Journal
from stack.alerts import AlertJournal, alerts_url
from stack.docker.engine import SERVICE_LABEL, client, containers, memory_in_use
from stack.docker.relay import JOB_NAME, MAX_RELAY_BYTES, Relay
from stack.local.exits import ExitInfo, backoff_s, should_restart
from stack.local.metrics import SupervisorMetrics
from stack.local.spec import RestartSpec
from stack.runtime import SERVICES

#: the journal's source of the observer's events
SOURCE = "docker-observer"
MEMORY_POLL_S = 1.0


def classify_exit(
    exit_code: int, *, oom_killed: bool = False, stopping: bool = False, killed: bool = False
) -> ExitInfo:
    """Map a container's exit to the contract's reasons (docs/contracts.md). ``stopping``: a stop
    through the engine (clean); ``killed``: a kill through the engine (reason ``killed``)."""
    sig: str | None = None
    if exit_code > 128:
        try:
            sig = signal.Signals(exit_code - 128).name
        except ValueError:
            sig = None
    if oom_killed:
        return ExitInfo("oom", 137, "SIGKILL")
    if exit_code == 0 or stopping:
        return ExitInfo("clean", exit_code, sig)
    if exit_code == 2 and not killed:
        return ExitInfo("panic", exit_code, None)
    if sig is not None or killed:
        return ExitInfo("killed", exit_code, sig)
    return ExitInfo("crash", exit_code, None)


@dataclass
class ServiceState:
    """What the observer knows of one service's container."""

    up: bool = False
    pid: int | None = None
    container: str = ""
    #: restarts: the observer's own (supervising) or the engine's RestartCount
    restarts: int = 0
    #: restarts since the last run long enough to reset the backoff
    failures: int = 0
    exits: int = 0
    started_at: float = 0.0
    last_exit: dict[str, Any] = field(default_factory=dict)
    #: the next start is the observer's own restart
    restarting: bool = False
    #: the container is waiting for a restart (backoff) or was not restarted (policy exhausted)
    waiting: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "up": self.up,
            "pid": self.pid,
            "container": self.container,
            "restarts": self.restarts,
            "exits": self.exits,
            "waiting": self.waiting,
            "last_exit": self.last_exit,
        }


class Observer:
    """Container events -> journal, metrics and (with a policy) restarts."""

    def __init__(
        self, project: str, journal: Journal, metrics: SupervisorMetrics, policy: RestartSpec | None
    ) -> None:
        self.project = project
        self.journal = journal
        self.metrics = metrics
        #: None: the engine restarts (Docker's restart policy); the observer only counts
        self.policy = policy
        self.cli = client()
        self.services = {name: ServiceState() for name in SERVICES}
        self.watching = threading.Event()
        self.done = threading.Event()
        self._lock = threading.RLock()
        self._stream: Any = None
        #: containers stopped or killed through the engine (not a crash: never restarted)
        self._stopping: set[str] = set()
        self._killing: set[str] = set()
        self._oom: set[str] = set()

    def _service(self, attrs: dict[str, Any]) -> str | None:
        service = attrs.get(SERVICE_LABEL)
        return service if service in SERVICES else None

    def subscribe(self) -> None:
        """Follow the events from now on, then take the state they will change (nothing is missed)."""
        self._stream = self.cli.events(
            decode=True, filters={"type": "container", "label": f"com.docker.compose.project={self.project}"}
        )
        for ctr in containers(self.cli, self.project):
            service = self._service(ctr.labels)
            if service is None:
                continue
            ctr.reload()
            state = self.services[service]
            running = ctr.status == "running"
            state.up, state.container = running, ctr.id
            state.pid = int(ctr.attrs.get("State", {}).get("Pid") or 0) or None
            state.started_at = time.monotonic()
            if self.policy is None:
                state.restarts = int(ctr.attrs.get("RestartCount", 0))
            self.metrics.up.labels(service).set(1 if running else 0)
            self.metrics.memory_limit.labels(service).set(int(ctr.attrs["HostConfig"].get("Memory") or 0))
        self.watching.set()

    def run(self) -> None:
        assert self._stream is not None, "subscribe() first"
        for event in self._stream:
            try:
                self.handle(event)
            except docker.errors.NotFound:
                continue  # removed meanwhile (compose down)

    def handle(self, event: dict[str, Any]) -> None:
        action = str(event.get("Action") or event.get("status") or "")
        actor = event.get("Actor") or {}
        attrs: dict[str, Any] = actor.get("Attributes") or {}
        service = self._service(attrs)
        if service is None:
            return
        cid = str(actor.get("ID") or event.get("id") or "")
        with self._lock:
            if action == "kill":
                # `docker stop` (and compose down, a restart) sends SIGTERM first: a stop, clean;
                # any other signal through the engine is a manual kill. Neither is restarted.
                term = str(attrs.get("signal", "")) in (str(int(signal.SIGTERM)), "SIGTERM", "TERM")
                (self._stopping if term else self._killing).add(cid)
            elif action == "oom":
                self._oom.add(cid)
            elif action == "die":
                self._died(service, cid, attrs)
            elif action == "start":
                self._started(service, cid)
            elif action == "update":
                ctr = self.cli.containers.get(cid)
                self.metrics.memory_limit.labels(service).set(int(ctr.attrs["HostConfig"].get("Memory") or 0))
            elif action.startswith("health_status"):
                healthy = action.endswith("healthy") and not action.endswith("unhealthy")
                self.journal.write(
                    "process", "healthy" if healthy else "unhealthy", service=service, container=cid[:12]
                )

    def _died(self, service: str, cid: str, attrs: dict[str, Any]) -> None:
        ctr = self.cli.containers.get(cid)
        ctr_state = ctr.attrs.get("State", {})
        manual = cid in self._stopping or cid in self._killing
        info = classify_exit(
            int(attrs.get("exitCode", ctr_state.get("ExitCode", 0)) or 0),
            oom_killed=cid in self._oom or bool(ctr_state.get("OOMKilled")),
            stopping=cid in self._stopping,
            killed=cid in self._killing,
        )
        self._stopping.discard(cid)
        self._killing.discard(cid)
        self._oom.discard(cid)
        state = self.services[service]
        if self.policy is None:
            state.restarts = int(ctr.attrs.get("RestartCount", 0))
        state.up, state.exits = False, state.exits + 1
        state.last_exit = {"exit_code": info.exit_code, "signal": info.signal, "reason": info.reason}
        self.metrics.up.labels(service).set(0)
        self.metrics.exits.labels(service, info.reason).inc()
        self.metrics.last_exit_code.labels(service).set(info.exit_code)
        self.metrics.rss.labels(service).set(0)
        self.journal.write(
            "process",
            "exited",
            service=service,
            pid=state.pid,
            exit_code=info.exit_code,
            signal=info.signal,
            reason=info.reason,
            restarts=state.restarts,
            container=cid[:12],
        )
        if self.policy is None or manual or self.done.is_set():
            return
        if time.monotonic() - state.started_at >= self.policy.reset_after_s:
            state.failures = 0
        if not should_restart(self.policy, info, state.failures):
            state.waiting = True
            self.journal.write(
                "process", "unhealthy", service=service, pid=None, reason=info.reason,
                restarts=state.restarts, detail="not restarted (restart policy)",
            )  # fmt: skip
            return
        delay = backoff_s(self.policy, state.failures)
        state.failures += 1
        state.waiting = True
        timer = threading.Timer(delay, self._restart, args=(service, cid))
        timer.daemon = True
        timer.start()

    def _restart(self, service: str, cid: str) -> None:
        """Start the container again after its backoff, unless someone else did or it is gone."""
        with self._lock:
            state = self.services[service]
            if self.done.is_set() or state.up or state.container != cid:
                state.waiting = False
                return
            state.restarting = True
            state.restarts += 1
            self.metrics.restarts.labels(service).inc()
        try:
            self.cli.containers.get(cid).start()
        except docker.errors.DockerException as exc:
            with self._lock:
                state.restarting, state.waiting = False, False
                self.journal.write(
                    "process", "unhealthy", service=service, pid=None, restarts=state.restarts,
                    detail=f"restart failed: {exc}",
                )  # fmt: skip

    def _started(self, service: str, cid: str) -> None:
        for marks in (self._stopping, self._killing, self._oom):
            marks.discard(cid)
        ctr = self.cli.containers.get(cid)
        pid = int(ctr.attrs.get("State", {}).get("Pid") or 0) or None
        state = self.services[service]
        state.up, state.pid, state.container, state.waiting = True, pid, cid, False
        state.started_at = time.monotonic()
        self.metrics.up.labels(service).set(1)
        self.metrics.memory_limit.labels(service).set(int(ctr.attrs["HostConfig"].get("Memory") or 0))
        if self.policy is None:
            previous, state.restarts = state.restarts, int(ctr.attrs.get("RestartCount", 0))
            restarted = state.restarts > previous
            if restarted:
                self.metrics.restarts.labels(service).inc(state.restarts - previous)
        else:
            restarted, state.restarting = state.restarting, False
        self.journal.write(
            "process",
            "restarted" if restarted else "started",
            service=service,
            pid=pid,
            restarts=state.restarts,
            container=cid[:12],
        )

    def poll_memory(self) -> None:
        """Each running service's resident memory (``crashlab_process_resident_memory_bytes``)."""
        while not self.done.wait(MEMORY_POLL_S):
            for service, state in list(self.services.items()):
                if not state.up or not state.container:
                    continue
                try:
                    rss = memory_in_use(self.cli.containers.get(state.container))
                except docker.errors.DockerException:
                    continue
                if rss is not None and state.up:
                    self.metrics.rss.labels(service).set(rss)

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "project": self.project,
                "supervising": self.policy is not None,
                "services": {name: state.to_json() for name, state in self.services.items()},
            }

    def stop(self) -> None:
        self.done.set()
        if self._stream is not None:
            self._stream.close()
        self.cli.close()


class AlertWatcher:
    """Polls Prometheus' ``/api/v1/alerts`` for the :class:`AlertJournal` (as the local supervisor)."""

    def __init__(self, prometheus_url: str, journal: Journal, interval_s: float = 1.0) -> None:
        self.url = alerts_url(prometheus_url)
        self.alerts = AlertJournal(journal)
        self.interval_s = interval_s

    def poll(self) -> None:
        try:
            with urllib.request.urlopen(self.url, timeout=2.0) as resp:
                body = json.loads(resp.read())
        except (OSError, ValueError):
            return
        self.alerts.update(body)

    def run(self, done: threading.Event) -> None:
        while not done.wait(self.interval_s):
            self.poll()


def _handler(observer: Observer, relay: Relay) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "crashlab-observer"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per scrape would drown the log

        def _send(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _job(self, suffix: str = "") -> str | None:
            parts = self.path.split("?", 1)[0].strip("/").split("/")
            want = 3 if suffix else 2
            if len(parts) != want or parts[0] != "relay" or (suffix and parts[2] != suffix):
                return None
            return parts[1] if JOB_NAME.match(parts[1]) else None

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(observer.metrics.registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                ok = observer.watching.is_set()
                self._send(200 if ok else 503, b"ok\n" if ok else b"not watching the events yet\n")
            elif path == "/status":
                self._send(200, json.dumps(observer.status()).encode(), "application/json")
            elif (job := self._job("metrics")) is not None:
                held = relay.get(job)
                if held is None:
                    self._send(503, f"relay {job}: no recent copy\n".encode())
                else:
                    self._send(200, held[0], held[1])
            else:
                self._send(404, b"not found\n")

        def do_PUT(self) -> None:
            job = self._job()
            length = int(self.headers.get("Content-Length") or 0)
            if job is None or length > MAX_RELAY_BYTES:
                self._send(400 if job is None else 413, b"PUT /relay/<job> with at most 4 MiB\n")
                return
            body = self.rfile.read(length)
            relay.put(job, body, self.headers.get("Content-Type") or "text/plain; version=0.0.4")
            self._send(204, b"")

        def do_DELETE(self) -> None:
            job = self._job()
            if job is None:
                self._send(400, b"DELETE /relay/<job>\n")
                return
            relay.drop(job)
            self._send(204, b"")

    return Handler


def _policy(text: str) -> RestartSpec | None:
    if text in ("", "engine"):
        return None
    return RestartSpec.model_validate_json(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stack.docker.observer", description=__doc__)
    parser.add_argument("--project", required=True)
    parser.add_argument("--journal", required=True, type=Path)
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--prometheus", default="", help="Prometheus URL whose alerts to journal")
    parser.add_argument(
        "--restart-policy",
        default="engine",
        help='"engine" (Docker restarts) or the JSON of stack.local.spec.RestartSpec (the observer does)',
    )
    args = parser.parse_args(argv)

    metrics = SupervisorMetrics(list(SERVICES))
    observer = Observer(
        args.project, Journal(args.journal, source=SOURCE), metrics, _policy(args.restart_policy)
    )
    relay = Relay()
    server = ThreadingHTTPServer((args.host, args.port), _handler(observer, relay))
    server.daemon_threads = True
    serving = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    serving.start()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        observer.done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    observer.subscribe()
    threads = [
        threading.Thread(target=observer.run, name="docker-events", daemon=True),
        threading.Thread(target=observer.poll_memory, name="memory", daemon=True),
    ]
    if args.prometheus:
        alerts = AlertWatcher(args.prometheus, observer.journal)
        threads.append(threading.Thread(target=alerts.run, args=(observer.done,), name="alerts", daemon=True))
    for thread in threads:
        thread.start()
    observer.done.wait()
    observer.stop()
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    main()
