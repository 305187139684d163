"""What one service process was started with (CLI options / environment)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from service.profile import Profile


@dataclass
class Settings:
    service: str  # "game" or "odds"
    #: the switches at start (with ``flag_file``: what the file said when the service started)
    profile: Profile
    host: str = "127.0.0.1"
    port: int = 0
    odds_url: str = "http://127.0.0.1:8081"
    log_file: Path | None = None
    trace_file: Path | None = None
    seed: int = 42
    admin_token: str | None = None
    admin_allow_remote: bool = False
    #: largest accepted request body
    client_max_size: int = 16 * 1024
    #: seconds graceful shutdown waits for in-flight requests
    shutdown_timeout_s: float = 5.0
    log_level: str = "info"
    #: seconds a connection may take to send a complete request head (also the idle keep-alive time)
    header_timeout_s: float = 20.0
    #: seconds a request may take to send its body once its head is in
    body_timeout_s: float = 10.0
    #: the flag file the game reads its switches from (OpenFeature, changes apply while it runs);
    #: None: ``profile`` is fixed
    flag_file: Path | None = None
    #: benchmark only (bench/service.py, no option): telemetry left out to measure what it costs,
    #: any of "metrics", "server_span", "client_span"
    bench_without: frozenset[str] = frozenset()
