"""The runner's own metrics for Prometheus (job ``runner``): which faults are active, by name, and
the drill's phase, so dashboards and reports can shade fault windows."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, start_http_server

from chaos.runner import events as ev


class RunnerMetrics:
    """A prometheus_client HTTP server on a free loopback port; an observer of the drill's events."""

    def __init__(self, drill: str, run_id: str, host: str = "127.0.0.1") -> None:
        self.drill = drill
        self.registry = CollectorRegistry()
        self.fault_active = Gauge(
            "crashlab_fault_active",
            "1 while a drill's fault is injected",
            ["fault", "type", "target"],
            registry=self.registry,
        )
        self.phase = Gauge(
            "crashlab_drill_phase",
            "1 for the drill's current phase",
            ["drill", "phase"],
            registry=self.registry,
        )
        self.info = Gauge(
            "crashlab_drill_info", "the drill being run", ["drill", "run_id"], registry=self.registry
        )
        self.info.labels(drill, run_id).set(1)
        self._server, self._thread = start_http_server(0, addr=host, registry=self.registry)
        self.url = f"http://{host}:{self._server.server_port}"
        self._phase: str | None = None
        self._faults: set[tuple[str, str, str]] = set()

    def on_event(self, event: ev.Event) -> None:
        match event:
            case ev.PhaseStarted():
                if self._phase is not None:
                    self.phase.labels(self.drill, self._phase).set(0)
                self._phase = event.phase
                self.phase.labels(self.drill, event.phase).set(1)
            case ev.FaultInjected():
                key = (event.name, event.fault_type, event.target)
                self._faults.add(key)
                self.fault_active.labels(*key).set(1)
            case ev.FaultReverted():
                self.fault_active.labels(event.name, event.fault_type, event.target).set(0)
            case ev.DrillEnded():
                for key in self._faults:
                    self.fault_active.labels(*key).set(0)
            case _:
                pass

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
