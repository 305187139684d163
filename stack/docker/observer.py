"""Watches the stack's containers like the local supervisor watches its processes.

A detached process (``python -m stack.docker.observer``) started by :func:`stack.docker.up`: it
follows the engine's container events for one compose project, writes ``process`` events
(``started``, ``exited``, ``restarted``, ``healthy``, ``unhealthy``) to the run journal with the
exit code, signal, reason (``clean``, ``panic``, ``oom``, ``killed``, ``crash``) and restart count,
exports the ``crashlab_process_*`` metrics on a loopback port for Prometheus (job ``supervisor``),
and journals ``alert firing|resolved`` from Prometheus' alerts API. SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import docker.errors
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from crashlab.journal import Journal
from stack.alerts import AlertJournal, alerts_url
from stack.docker.engine import SERVICE_LABEL, client, containers
from stack.runtime import SERVICES, ExitReason


@dataclass(frozen=True)
class ContainerExit:
    exit_code: int
    signal: str | None
    reason: ExitReason


def classify_exit(exit_code: int, *, oom_killed: bool = False, stopping: bool = False) -> ContainerExit:
    """Map a container's exit to the contract's reasons (docs/contracts.md)."""
    sig: str | None = None
    if exit_code > 128:
        try:
            sig = signal.Signals(exit_code - 128).name
        except ValueError:
            sig = None
    if oom_killed:
        return ContainerExit(137, "SIGKILL", "oom")
    if exit_code == 0 or stopping:
        return ContainerExit(exit_code, sig, "clean")
    if exit_code == 2:
        return ContainerExit(exit_code, None, "panic")
    if sig is not None:
        return ContainerExit(exit_code, sig, "killed")
    return ContainerExit(exit_code, None, "crash")


class ProcessMetrics:
    """The supervisor's ``crashlab_process_*`` metrics, fed from container events."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.up = Gauge(
            "crashlab_process_up", "1 while the service's container runs", ["service"], registry=self.registry
        )
        self.restarts = Counter(
            "crashlab_process_restarts",
            "Restarts of the service's container",
            ["service"],
            registry=self.registry,
        )
        self.exits = Counter(
            "crashlab_process_exits",
            "Exits of the service's container",
            ["service", "reason"],
            registry=self.registry,
        )
        self.last_exit = Gauge(
            "crashlab_process_last_exit_code",
            "Exit code of the last exit",
            ["service"],
            registry=self.registry,
        )
        self.memory_limit = Gauge(
            "crashlab_process_memory_limit_bytes",
            "Container memory limit (0: none)",
            ["service"],
            registry=self.registry,
        )
        for service in SERVICES:
            self.up.labels(service).set(0)
            self.restarts.labels(service)
            self.last_exit.labels(service).set(0)


class Observer:
    def __init__(self, project: str, journal: Journal, metrics: ProcessMetrics) -> None:
        self.project = project
        self.journal = journal
        self.metrics = metrics
        self.cli = client()
        self._stream: Any = None
        self._stopping: set[str] = set()
        self._restarts: dict[str, int] = {}
        self._pids: dict[str, int] = {}

    def _service(self, attrs: dict[str, Any]) -> str | None:
        service = attrs.get(SERVICE_LABEL)
        return service if service in SERVICES else None

    def snapshot(self) -> None:
        """Initial state: which services run, their restart counts and limits."""
        for ctr in containers(self.cli, self.project):
            service = ctr.labels.get(SERVICE_LABEL)
            if service not in SERVICES:
                continue
            ctr.reload()
            self._restarts[service] = int(ctr.attrs.get("RestartCount", 0))
            self._pids[service] = int(ctr.attrs.get("State", {}).get("Pid") or 0)
            self.metrics.up.labels(service).set(1 if ctr.status == "running" else 0)
            self.metrics.memory_limit.labels(service).set(int(ctr.attrs["HostConfig"].get("Memory") or 0))

    def handle(self, event: dict[str, Any]) -> None:
        action = str(event.get("Action") or event.get("status") or "")
        actor = event.get("Actor") or {}
        attrs: dict[str, Any] = actor.get("Attributes") or {}
        service = self._service(attrs)
        if service is None:
            return
        cid = str(actor.get("ID") or event.get("id") or "")
        if action in ("kill", "stop"):
            # a stop or kill through the API: the exit that follows is clean only for `stop`
            if action == "stop":
                self._stopping.add(cid)
            return
        if action == "die":
            ctr = self.cli.containers.get(cid)
            state = ctr.attrs.get("State", {})
            info = classify_exit(
                int(attrs.get("exitCode", state.get("ExitCode", 0)) or 0),
                oom_killed=bool(state.get("OOMKilled")),
                stopping=cid in self._stopping,
            )
            self._stopping.discard(cid)
            restarts = int(ctr.attrs.get("RestartCount", 0))
            self.metrics.up.labels(service).set(0)
            self.metrics.exits.labels(service, info.reason).inc()
            self.metrics.last_exit.labels(service).set(info.exit_code)
            self.journal.write(
                "process",
                "exited",
                service=service,
                pid=self._pids.get(service) or None,
                exit_code=info.exit_code,
                signal=info.signal,
                reason=info.reason,
                restarts=restarts,
                container=cid[:12],
            )
        elif action == "start":
            ctr = self.cli.containers.get(cid)
            restarts = int(ctr.attrs.get("RestartCount", 0))
            pid = ctr.attrs.get("State", {}).get("Pid")
            self._pids[service] = int(pid or 0)
            self.metrics.up.labels(service).set(1)
            self.metrics.memory_limit.labels(service).set(int(ctr.attrs["HostConfig"].get("Memory") or 0))
            previous = self._restarts.get(service)
            self._restarts[service] = restarts
            if previous is not None and restarts > previous:
                self.metrics.restarts.labels(service).inc(restarts - previous)
                self.journal.write(
                    "process", "restarted", service=service, pid=pid, restarts=restarts, container=cid[:12]
                )
            else:
                self.journal.write(
                    "process", "started", service=service, pid=pid, restarts=restarts, container=cid[:12]
                )
        elif action.startswith("health_status"):
            healthy = action.endswith("healthy") and not action.endswith("unhealthy")
            self.journal.write(
                "process", "healthy" if healthy else "unhealthy", service=service, container=cid[:12]
            )

    def run(self) -> None:
        self._stream = self.cli.events(
            decode=True, filters={"type": "container", "label": f"com.docker.compose.project={self.project}"}
        )
        for event in self._stream:
            try:
                self.handle(event)
            except docker.errors.NotFound:
                continue  # removed meanwhile (compose down)

    def stop(self) -> None:
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stack.docker.observer", description=__doc__)
    parser.add_argument("--project", required=True)
    parser.add_argument("--journal", required=True, type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--prometheus", default="", help="Prometheus URL whose alerts to journal")
    args = parser.parse_args(argv)

    metrics = ProcessMetrics()
    server, thread = start_http_server(args.port, addr=args.host, registry=metrics.registry)
    observer = Observer(args.project, Journal(args.journal, source="docker-observer"), metrics)
    done = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    observer.snapshot()
    worker = threading.Thread(target=observer.run, name="docker-events", daemon=True)
    worker.start()
    watcher: threading.Thread | None = None
    if args.prometheus:
        alerts = AlertWatcher(args.prometheus, observer.journal)
        watcher = threading.Thread(target=alerts.run, args=(done,), name="alerts", daemon=True)
        watcher.start()
    done.wait()
    if watcher is not None:
        watcher.join(timeout=3)
    observer.stop()
    server.shutdown()
    server.server_close()
    thread.join(timeout=2)


if __name__ == "__main__":
    main()
