"""``crashlab serve game|odds``: run one service in the foreground, JSON logs on stdout.
``crashlab flag list|set``: the running stack's switches (``service.flagctl``)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import click
from click.core import ParameterSource

from service import flagfile
from service.profile import SWITCHES, load_profile
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
@click.option(
    "--flag-file",
    envvar="CRASHLAB_FLAG_FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="read the switches from this flagd flag file and apply its changes while running "
    "(written from --profile and CRASHLAB_SWITCH_* when it does not exist)",
)
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
    flag_file: Path | None,
    seed: int,
    admin_allow_remote: bool,
    shutdown_timeout: float,
) -> None:
    """Run the game or the odds service (admin token from CRASHLAB_ADMIN_TOKEN)."""
    from service.runner import serve as run

    effective = load_profile(profile)
    if flag_file is not None:
        if not flag_file.exists():
            flagfile.write(flag_file, effective)
        elif click.get_current_context().get_parameter_source("profile") is ParameterSource.COMMANDLINE:
            click.echo(f"crashlab serve: {flag_file} exists; its switches apply, not --profile", err=True)
    settings = Settings(
        service=service,
        profile=effective,
        flag_file=flag_file,
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


RUNTIME = click.option(
    "--runtime",
    type=click.Choice(["local", "docker"]),
    default=None,
    help="the stack's runtime (default: the one running)",
)


@click.group("flag")
def flag() -> None:
    """The running stack's resilience switches: list them, turn one on or off.

    The game reads them from the stack's flag file (runs/<id>/flags/flags.json, flagd's format)
    through OpenFeature and applies a change within a second, without a restart.
    """


@flag.command("list")
@RUNTIME
@click.option("--json", "as_json", is_flag=True, help='print {"switch": true|false, ...} as in force')
def flag_list(runtime: str | None, as_json: bool) -> None:
    """The switches in force, as the game reports them on /healthz."""
    from service.flagctl import find, render

    flags = find(runtime)
    in_force = flags.in_force()
    if as_json:
        click.echo(json.dumps(in_force))
        return
    click.echo("\n".join(render(flags, in_force)))


@flag.command("set")
@click.argument("name")
@click.argument("state", type=click.Choice(["on", "off"]))
@RUNTIME
def flag_set(name: str, state: str, runtime: str | None) -> None:
    """Turn switch NAME on or off in the running stack (an atomic rewrite of its flag file), then
    show the switches the game reports."""
    from service.flagctl import find, render

    if name not in SWITCHES:
        raise flagfile.unknown_switch(name)
    flags = find(runtime)
    enabled = state == "on"
    previous, took = flags.set(name, enabled)
    was = "on" if previous else "off"
    click.echo(f"{name}: {was} -> {state}, in force after {took:.1f} s")
    click.echo("\n".join(render(flags, flags.in_force())))


COMMANDS: list[click.Command] = [serve, flag]
