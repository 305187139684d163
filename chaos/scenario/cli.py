"""``crashlab validate FILE...`` and ``crashlab schema``."""

from __future__ import annotations

from pathlib import Path

import click

from chaos.plan import plan
from chaos.scenario.errors import Problem
from chaos.scenario.schema import scenario_schema_text
from chaos.scenario.validate import check_file
from crashlab.durations import format_duration


def _expand_paths(paths: tuple[Path, ...]) -> tuple[list[Path], list[Problem]]:
    """The drill files named or found in the folders named (not recursive), and a problem for each
    folder without any."""
    files: list[Path] = []
    problems: list[Problem] = []
    for path in paths:
        if path.is_dir():
            found = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
            if not found:
                problems.append(
                    Problem(str(path), None, "(file)", "no drill files (*.yaml, *.yml) in this directory")
                )
            files.extend(found)
        else:
            files.append(path)
    return files, problems


@click.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_context
def validate_command(ctx: click.Context, files: tuple[Path, ...]) -> None:
    """Check drill FILES (or folders of them) completely; print every problem, sorted by line.

    Each problem is one line, path:line: field.path: message. A good file prints
    "ok: PATH (N steps, T total)". Exit 1 when any file has a problem, else 0.
    """
    paths, problems = _expand_paths(files)
    for problem in problems:
        click.echo(str(problem))
    for path in paths:
        scenario, found = check_file(path)
        if scenario is None:
            problems.extend(found)
            for problem in found:
                click.echo(str(problem))
            continue
        drill = plan(scenario)
        if scenario.gameday is not None:
            recurring = f" + {len(drill.recurring)} recurring" if drill.recurring else ""
            length = format_duration(scenario.gameday.max_duration)
            click.echo(f"ok: {path} (game day: {len(drill.steps)} steps{recurring}, up to {length})")
            continue
        click.echo(f"ok: {path} ({len(drill.steps)} steps, {format_duration(drill.total_s)} total)")
    if problems:
        count = len(problems)
        click.echo(f"{count} problem{'s' if count != 1 else ''}", err=True)
        ctx.exit(1)


@click.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of drill files (make schema writes it to scenarios/schema.json)."""
    click.echo(scenario_schema_text(), nl=False)


COMMANDS: list[click.Command] = [validate_command, schema_command]
