"""``crashlab gameday FILE``: a game day with the team in the loop (:mod:`gameday.runner`)."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from chaos.plan import plan
from chaos.runner.cli import RunArgs, run_options, run_with_signals
from chaos.scenario import ScenarioError, check_file, load_scenario
from crashlab.durations import format_duration
from gameday.runner import GameDayOptions, gameday_drill
from gameday.team_script import TeamScript, check_script


def _listen(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an IP address (e.g. 0.0.0.0 for every interface)"
        ) from None


def _dry_run(file: Path, speed: float, team: TeamScript | None, console: Console) -> None:
    """What the game day would do, for the facilitator: its end, the hints, the team's moves (the fault
    plan itself is printed by the drill's dry run)."""
    scenario = load_scenario(file)
    gameday = plan(scenario, speed).scenario.gameday
    assert gameday is not None
    end = f"ends at {format_duration(gameday.max_duration)}"
    if gameday.end_when is not None:
        when = gameday.end_when
        end += f", or once recovered for {format_duration(when.recovered_for)} after {when.after}"
    console.print(f"game day: {end}", highlight=False, markup=False)
    for hint in gameday.hints:
        console.print(f"  hint at +{format_duration(hint.at)}: {hint.text}", highlight=False, markup=False)
    for move in gameday.expected_mitigations:
        console.print(f"  expected mitigation: {move.action} {move.params}", highlight=False, markup=False)
    if team is not None:
        console.print(
            f"scripted team: {', '.join(f'{m.name} ({m.role})' for m in team.members)}", markup=False
        )
        for m in team.moves:
            trigger = f"at +{format_duration((m.at or 0) / speed)}" if m.on == "time" else f"{m.on} #{m.nth}"
            console.print(
                f"  {m.by}: {m.do} {m.with_ or ''} on {trigger}, after {format_duration(m.after)}",
                highlight=False,
                markup=False,
            )


def _team(file: Path, team_path: Path | None) -> TeamScript | None:
    """The scripted team, checked against the game day it plays; every problem of both files at once
    (the game day's alone are the drill's to report when no team is named)."""
    if team_path is None:
        return None
    scenario, problems = check_file(file)
    team, team_problems = check_script(team_path, against=scenario)
    if problems or team is None:
        raise ScenarioError([*problems, *team_problems])
    return team


@click.command("gameday")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--team",
    "team_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="a scripted team (YAML) plays through the console instead of people",
)
@click.option(
    "--listen",
    default="127.0.0.1",
    show_default=True,
    help="the team console's address: 0.0.0.0 opens it to the room (the facilitator's stays on loopback)",
)
@click.option(
    "--team-port", type=click.IntRange(0, 65535), default=0, help="the team console's port (0: free)"
)
@click.option(
    "--facilitator-port", type=click.IntRange(0, 65535), default=0, help="the facilitator console's port"
)
@run_options("game day")
@click.pass_context
def gameday_command(
    ctx: click.Context,
    /,
    file: Path,
    team_path: Path | None,
    listen: str,
    team_port: int,
    facilitator_port: int,
    **run: Any,
) -> None:
    """Run the game day FILE (a drill with a `gameday:` section): its own stack with Alertmanager paging
    the team console, the team and facilitator consoles, load for the whole game, the timeline with its
    recurring faults, until the facilitator ends it, max_duration passes or its end condition holds.
    The consoles' URLs, the join code and the facilitator's token are printed here only. Every fault
    is reverted and every switch, memory limit and silence restored on every exit path (Ctrl-C too).
    Exit codes as `crashlab drill`."""
    args = RunArgs(**run)
    options = args.options(file)
    team = _team(file, team_path)
    game = GameDayOptions(
        listen=_listen(listen),
        team_port=team_port,
        facilitator_port=facilitator_port,
        team=team,
        team_path=team_path,
    )
    console = Console(soft_wrap=True)
    drill = gameday_drill(file, options, game, console)
    result = asyncio.run(run_with_signals(drill, console))
    if args.dry_run:
        _dry_run(file, args.speed, team, console)
    args.finish(ctx, result, console)


COMMANDS: list[click.Command] = [gameday_command]
