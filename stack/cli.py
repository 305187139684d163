"""``crashlab up``, ``crashlab down``, ``crashlab status``: the stack's lifecycle from the command line.

``--runtime local`` (the default) runs everything as local processes under a supervisor
(stack.local); ``--runtime docker`` delegates to stack.docker.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, cast

import click

from crashlab.lease import holder
from crashlab.rundir import RunDir
from stack import admintoken, attach, open_stack, registry
from stack.runtime import PartStatus, RestartPolicy, Stack, StackConfig, StackError

RUNTIME = click.option(
    "--runtime",
    type=click.Choice(registry.NAMES),
    default="local",
    show_default=True,
    envvar="CRASHLAB_RUNTIME",
    help="local processes + Prometheus binary, or the Docker stack",
)


#: ``down`` and ``status``: the named runtime's stack, or, unnamed, whichever runtime has one running
FIND_RUNTIME = click.option(
    "--runtime",
    type=click.Choice(registry.NAMES),
    default=None,
    envvar="CRASHLAB_RUNTIME",
    help="the stack of this runtime (default: the running one, whichever runtime it is)",
)


def _running(runtime: str | None) -> Stack | None:
    return attach(runtime) if runtime else registry.attach_any()


def _pairs(values: tuple[str, ...], what: str, option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key or not val:
            raise StackError(f"{option} {value!r}: expected {what}")
        out[key.strip()] = val.strip()
    return out


def _switch_value(name: str, text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "on", "1", "yes"):
        return True
    if lowered in ("false", "off", "0", "no"):
        return False
    raise StackError(f"--switch {name}={text}: expected true or false")


@click.command("up")
@RUNTIME
@click.option("--profile", default="hardened", show_default=True, help="naive, hardened or a profile YAML")
@click.option("--switch", "switches", multiple=True, metavar="NAME=true|false", help="override one switch")
@click.option("--memory-limit", "memory", multiple=True, metavar="SERVICE=MB", help="kill the service at MB")
@click.option(
    "--restart",
    type=click.Choice(["no", "on-failure", "always"]),
    default="on-failure",
    show_default=True,
    help="restart policy of the services",
)
@click.option("--max-retries", type=int, default=10, show_default=True, help="on-failure restarts in a row")
@click.option("--game-port", type=int, default=0, envvar="CRASHLAB_GAME_PORT", help="0: a free port")
@click.option("--odds-port", type=int, default=0, envvar="CRASHLAB_ODDS_PORT", help="0: a free port")
@click.option(
    "--prometheus-port", type=int, default=0, envvar="CRASHLAB_PROMETHEUS_PORT", help="0: a free port"
)
@click.option(
    "--alertmanager-port", type=int, default=0, envvar="CRASHLAB_ALERTMANAGER_PORT", help="0: a free port"
)
@click.option(
    "--supervisor-port", type=int, default=0, envvar="CRASHLAB_SUPERVISOR_PORT", help="0: a free port"
)
@click.option(
    "--alertmanager/--no-alertmanager",
    "with_alertmanager",
    default=True,
    show_default=True,
    help="route Prometheus' alerts through an Alertmanager",
)
@click.option(
    "--pager-url",
    default=None,
    envvar="CRASHLAB_PAGER_URL",
    metavar="URL",
    help="webhook that receives the pages (default: none; pages show in Alertmanager only)",
)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--alert-windows", type=click.Choice(["fast", "real"]), default="fast", show_default=True)
@click.option(
    "--runs-dir", type=click.Path(file_okay=False, path_type=Path), default=None, help="default: runs/"
)
@click.option("--health-timeout", type=float, default=20.0, show_default=True, help="seconds")
@click.option("--json", "as_json", is_flag=True, help="print the URLs as JSON")
def up_command(
    runtime: str,
    profile: str,
    switches: tuple[str, ...],
    memory: tuple[str, ...],
    restart: str,
    max_retries: int,
    game_port: int,
    odds_port: int,
    prometheus_port: int,
    alertmanager_port: int,
    supervisor_port: int,
    with_alertmanager: bool,
    pager_url: str | None,
    seed: int,
    alert_windows: str,
    runs_dir: Path | None,
    health_timeout: float,
    as_json: bool,
) -> None:
    """Start the stack (odds, game, Prometheus, Alertmanager) and wait until every part is healthy.
    The admin token: $CRASHLAB_ADMIN_TOKEN when set (a remote drill can then share it), else a new one."""
    if registry.get(runtime).connects:
        raise StackError(
            f"{runtime} runtime: nothing to bring up: it connects to a stack running elsewhere; name its "
            "URLs in a drill's target.urls (game, odds, prometheus, alertmanager) and run the drill"
        )
    running = attach(runtime) if runtime == "local" else None
    if running is not None:
        raise StackError(
            f"stack: a local stack is already running (run {running.run_dir.path}); run `crashlab down` first"
        )
    limits: dict[str, int] = {}
    for service, mb in _pairs(memory, "SERVICE=MB", "--memory-limit").items():
        if service not in ("game", "odds"):
            raise StackError(f"--memory-limit {service}={mb}: unknown service (game or odds)")
        if not mb.isdigit() or int(mb) <= 0:
            raise StackError(f"--memory-limit {service}={mb}: expected a positive number of MB")
        limits[service] = int(mb)
    switch_map: dict[str, Any] = {
        k: _switch_value(k, v) for k, v in _pairs(switches, "NAME=true|false", "--switch").items()
    }
    config = StackConfig(
        run_dir=RunDir.create("stack", runs_dir),
        runtime=runtime,
        profile=profile,
        switches=switch_map,
        memory_limits_mb=limits,
        restart_policy=RestartPolicy(name=restart, max_retries=max_retries),  # type: ignore[arg-type]
        seed=seed,
        ports={
            "game": game_port,
            "odds": odds_port,
            "prometheus": prometheus_port,
            "alertmanager": alertmanager_port,
            "supervisor": supervisor_port,
        },
        with_alertmanager=with_alertmanager,
        pager_url=pager_url,
        alert_windows=cast(Any, alert_windows),
        health_timeout_s=health_timeout,
        # shared with the drills that connect to this stack from elsewhere (runtime remote)
        admin_token=admintoken.from_env(),
    )
    started = time.monotonic()
    stack = open_stack(config)
    took = time.monotonic() - started
    if as_json:
        click.echo(
            json.dumps({"runtime": stack.runtime, "run_dir": str(stack.run_dir.path), "urls": stack.urls})
        )
        return
    click.echo(f"crashlab: {stack.runtime} stack healthy in {took:.1f} s; run directory {stack.run_dir.path}")
    for name, url in stack.urls.items():
        click.echo(f"  {name:<12} {url}")
    click.echo("stop it with `crashlab down`")


@click.command("down")
@FIND_RUNTIME
@click.option(
    "--force",
    is_flag=True,
    envvar="CRASHLAB_FORCE",
    help="stop the stack even while a drill or game day is using it (it will abort)",
)
def down_command(runtime: str | None, force: bool) -> None:
    """Stop everything `crashlab up` started; return once every part has exited. Without --runtime,
    the running stacks of every runtime. A stack a running drill holds is left alone (exit 2, naming
    the drill) unless --force."""
    stacks = [s for s in ([attach(runtime)] if runtime else _all_running()) if s is not None]
    if not stacks:
        click.echo(f"crashlab: no {runtime + ' ' if runtime else ''}stack is running")
        return
    if not force:
        for stack in stacks:
            user = holder(registry.get(stack.runtime).lease_path)
            if user is not None:
                raise StackError(
                    f"stack: the {stack.runtime} stack is in use by {user}; let it end, stop it "
                    f"(kill -INT {user.pid}), or take the stack down anyway with `crashlab down --force`"
                )
    for stack in stacks:
        stack.down()
        click.echo(f"crashlab: {stack.runtime} stack stopped (run directory {stack.run_dir.path})")


def _all_running() -> list[Stack | None]:
    return [rt.attach() for rt in registry.RUNTIMES]


@click.command("status")
@FIND_RUNTIME
@click.option(
    "--json", "as_json", is_flag=True, help="a JSON list of parts: name, pid, url, healthy, restarts"
)
def status_command(runtime: str | None, as_json: bool) -> None:
    """Each part of the running stack: PID, URL, health, restarts. Exit 0 when every part is healthy,
    1 when one is not, 2 when no stack runs."""
    stack = _running(runtime)
    if stack is None:
        if runtime and registry.get(runtime).connects:
            raise StackError(
                f"stack: the {runtime} runtime runs nothing here (its stack runs elsewhere, a drill names "
                "its URLs); `crashlab status` shows the stacks `crashlab up` started"
            )
        if runtime:
            raise StackError(
                f"stack: no {runtime} stack is running; start one with `crashlab up --runtime {runtime}`"
            )
        raise StackError("stack: no stack is running; start one with `crashlab up`")
    parts: list[PartStatus] = stack.status()
    if as_json:
        click.echo(json.dumps([p.to_json() for p in parts]))
    else:
        click.echo(f"{stack.runtime} stack, run directory {stack.run_dir.path}")
        click.echo(f"{'part':<12} {'pid':>7}  {'health':<9} {'restarts':>8}  url")
        for p in parts:
            health = "healthy" if p.healthy else "UNHEALTHY"
            click.echo(
                f"{p.name:<12} {p.pid if p.pid is not None else '-':>7}  {health:<9} {p.restarts:>8}  {p.url}"
            )
    unhealthy = [p.name for p in parts if not p.healthy]
    if unhealthy:
        click.echo(f"crashlab: not healthy: {', '.join(unhealthy)}", err=True)
        raise click.exceptions.Exit(1)


COMMANDS: list[click.Command] = [up_command, down_command, status_command]
