"""Typed application keys shared by both apps."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from opentelemetry.sdk.trace import TracerProvider

from service.faults import FaultStore
from service.logs import JsonLog
from service.metrics import HttpMetrics
from service.settings import Settings


class ServerConnections:
    """The HTTP server (filled in by the runner): how many client connections it holds, and whether it
    cancels the handler of a client that hung up."""

    def __init__(self) -> None:
        self.server: web.Server | None = None
        #: the game's ``handler_cancellation`` switch in force (the odds service always cancels)
        self.cancel_handlers: Callable[[], bool] = lambda: True

    def attach(self, server: web.Server) -> None:
        self.server = server
        self.sync()

    def sync(self) -> None:
        """Apply ``cancel_handlers``: aiohttp reads the server's ``handler_cancellation`` when a
        client disconnects, so a change counts from the next hang-up on."""
        if self.server is not None:
            self.server.handler_cancellation = self.cancel_handlers()

    def count(self) -> int:
        return len(self.server.connections) if self.server is not None else 0


SETTINGS = web.AppKey("settings", Settings)
LOG = web.AppKey("log", JsonLog)
METRICS = web.AppKey("metrics", HttpMetrics)
FAULTS = web.AppKey("faults", FaultStore)
TRACER_PROVIDER = web.AppKey("tracer_provider", TracerProvider)
SERVER_CONNECTIONS = web.AppKey("server_connections", ServerConnections)
