"""``crashlab serve game|odds``: run one service in the foreground, JSON logs on stdout."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import click

from service.profile import load_profile
from service.settings import Settings

DEFAULT_PORTS = {"game": 8080, "odds": 8081}


@click.command("serve")
@click.argument("service", type=click.Choice(["game", "odds"]))
@click.option("--host", envvar="CRASHLAB_HOST", default="127.0.0.1", show_default=True)
@click.option(
    "--port", envvar="CRASHLAB_PORT", type=int, default=None, help="default 8080 (game), 8081 (odds)"
)
@click.option(
    "--profile",
    envvar="CRASHLAB_PROFILE",
    default="hardened",
    show_default=True,
    help="naive, hardened or a profile YAML file",
)
@click.option("--odds-url", envvar="CRASHLAB_ODDS_URL", default="http://127.0.0.1:8081", show_default=True)
@click.option("--log-file", envvar="CRASHLAB_LOG_FILE", type=click.Path(path_type=Path), default=None)
@click.option("--trace-file", envvar="CRASHLAB_TRACE_FILE", type=click.Path(path_type=Path), default=None)
@click.option("--seed", envvar="CRASHLAB_SEED", type=int, default=42, show_default=True)
@click.option(
    "--admin-allow-remote",
    is_flag=True,
    envvar="CRASHLAB_ADMIN_ALLOW_REMOTE",
    help="let non-loopback peers use /admin (still with the token)",
)
@click.option(
    "--shutdown-timeout",
    type=float,
    default=5.0,
    show_default=True,
    help="seconds to drain in-flight requests on SIGTERM",
)
def serve(
    service: str,
    host: str,
    port: int | None,
    profile: str,
    odds_url: str,
    log_file: Path | None,
    trace_file: Path | None,
    seed: int,
    admin_allow_remote: bool,
    shutdown_timeout: float,
) -> None:
    """Run the game or the odds service (admin token from CRASHLAB_ADMIN_TOKEN)."""
    from service.runner import serve as run

    settings = Settings(
        service=service,
        profile=load_profile(profile),
        host=host,
        port=DEFAULT_PORTS[service] if port is None else port,
        odds_url=odds_url,
        log_file=log_file,
        trace_file=trace_file,
        seed=seed,
        admin_token=os.environ.get("CRASHLAB_ADMIN_TOKEN") or None,
        admin_allow_remote=admin_allow_remote,
        shutdown_timeout_s=shutdown_timeout,
    )
    raise SystemExit(asyncio.run(run(settings)))


COMMANDS: list[click.Command] = [serve]
