"""The supervisor's Prometheus metrics (``crashlab_process_*``, names in docs/contracts.md)."""

from __future__ import annotations

from typing import get_args

from prometheus_client import CollectorRegistry, Counter, Gauge

from stack.runtime import ExitReason

EXIT_REASONS: tuple[str, ...] = get_args(ExitReason)


class SupervisorMetrics:
    """One registry per supervisor; every series of every part exists from the start (at 0)."""

    def __init__(self, services: list[str]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.up = Gauge("crashlab_process_up", "1 while the process runs", ["service"], registry=r)
        self.restarts = Counter(
            "crashlab_process_restarts", "Restarts by the supervisor", ["service"], registry=r
        )
        self.exits = Counter(
            "crashlab_process_exits", "Process exits by reason", ["service", "reason"], registry=r
        )
        self.last_exit_code = Gauge(
            "crashlab_process_last_exit_code",
            "Exit code of the last exit (128+N: signal N)",
            ["service"],
            registry=r,
        )
        self.memory_limit = Gauge(
            "crashlab_process_memory_limit_bytes", "Memory limit (0: none)", ["service"], registry=r
        )
        self.rss = Gauge(
            "crashlab_process_resident_memory_bytes",
            "Resident memory of the process",
            ["service"],
            registry=r,
        )
        for service in services:
            self.up.labels(service).set(0)
            self.restarts.labels(service)
            self.last_exit_code.labels(service).set(0)
            self.memory_limit.labels(service).set(0)
            self.rss.labels(service).set(0)
            for reason in EXIT_REASONS:
                self.exits.labels(service, reason)
