"""How to run the Docker stack's compose project: the layouts' parts, host ports and images."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

#: the CI layout's parts (compose.ci.yaml: host networking, locally built images)
CORE_PARTS = ("observer", "odds", "game", "prometheus", "alertmanager")
#: the full layout's parts (compose.yaml, bridge network)
FULL_PARTS = (*CORE_PARTS, "loki", "tempo", "alloy", "grafana")
#: host ports of the full layout, taken when free (``CRASHLAB_<PART>_PORT`` or StackConfig.ports
#: name one that must be free)
FULL_PORTS = {
    "game": 18080,
    "odds": 18081,
    "prometheus": 19090,
    "alertmanager": 19093,
    "loki": 13100,
    "tempo": 13200,
    "grafana": 13000,
}
OBSERVER_PORT = 19100


@dataclass
class DockerOptions:
    """How to run the compose project (the rest comes from :class:`stack.runtime.StackConfig`)."""

    ci: bool = field(default_factory=lambda: os.environ.get("CRASHLAB_DOCKER_CI", "") not in ("", "0"))
    project: str = field(default_factory=lambda: os.environ.get("CRASHLAB_PROJECT", "crashlab"))
    service_image: str | None = None
    prometheus_image: str | None = None
    base_image: str = field(
        default_factory=lambda: os.environ.get("CRASHLAB_BASE_IMAGE", "python:3.11-slim-bookworm")
    )
    state_file: Path | None = None
    #: the compose services to start (default: the layout's; the observer always)
    parts: tuple[str, ...] | None = None

    def alertmanager_image(self) -> str | None:
        """CI: the Debian Prometheus image (it carries prometheus-alertmanager too); the full layout:
        compose.yaml's pinned prom/alertmanager (None) unless CRASHLAB_ALERTMANAGER_IMAGE names one."""
        explicit = os.environ.get("CRASHLAB_ALERTMANAGER_IMAGE")
        return explicit or (self.images()[1] if self.ci else None)

    def images(self) -> tuple[str, str]:
        if self.ci:
            return (
                self.service_image or os.environ.get("CRASHLAB_SERVICE_IMAGE", "crashlab-service:ci"),
                self.prometheus_image
                or os.environ.get("CRASHLAB_PROMETHEUS_IMAGE", "crashlab-prometheus:debian"),
            )
        return (
            self.service_image or os.environ.get("CRASHLAB_SERVICE_IMAGE", "crashlab-service:latest"),
            self.prometheus_image or os.environ.get("CRASHLAB_PROMETHEUS_IMAGE", "prom/prometheus:v3.2.1"),
        )
