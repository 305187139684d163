"""Typed application keys shared by both apps."""

from __future__ import annotations

from aiohttp import web
from opentelemetry.sdk.trace import TracerProvider

from service.faults import FaultStore
from service.logs import JsonLog
from service.metrics import HttpMetrics
from service.settings import Settings


class ServerConnections:
    """How many client connections the HTTP server holds (filled in by the runner)."""

    def __init__(self) -> None:
        self.server: web.Server | None = None

    def count(self) -> int:
        return len(self.server.connections) if self.server is not None else 0


SETTINGS = web.AppKey("settings", Settings)
LOG = web.AppKey("log", JsonLog)
METRICS = web.AppKey("metrics", HttpMetrics)
FAULTS = web.AppKey("faults", FaultStore)
TRACER_PROVIDER = web.AppKey("tracer_provider", TracerProvider)
SERVER_CONNECTIONS = web.AppKey("server_connections", ServerConnections)
