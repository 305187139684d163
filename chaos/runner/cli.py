"""``crashlab drill FILE`` and ``crashlab chaos revert --all`` / ``crashlab chaos list``."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from chaos.faults import registry
from chaos.runner.cleanup import owned_line, revert_all_leftovers
from chaos.runner.drill import Drill, DrillOptions, DrillResult
from chaos.runner.errors import DrillError
from crashlab.rundir import runs_root


async def run_with_signals(drill: Drill, console: Console) -> DrillResult:
    """Run the drill; SIGINT and SIGTERM cancel it, which reverts every fault (a second signal while
    reverting is ignored: the rollback finishes first)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None

    def on_signal(sig: signal.Signals) -> None:
        if drill.cleaning or drill.interrupted_by:
            console.print(f"{sig.name}: still reverting faults and cleaning up, please wait", highlight=False)
            return
        drill.interrupted_by = sig.name
        console.print(f"{sig.name}: aborting the drill, reverting every fault", highlight=False)
        task.cancel()

    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        return await drill.run()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


def link_run(run_path: Path, root: Path, name: str) -> Path:
    link = root / name
    if link.is_symlink() or not link.exists():
        link.unlink(missing_ok=True)
        link.symlink_to(run_path.name)
        return link
    raise DrillError(f"--link {name}: {link} exists and is not a symlink; remove it or pick another name")


def write_report(run_path: Path) -> list[str]:
    """The post-mortem of ``run_path`` (the drill calls it before its stack goes down, so the live
    Prometheus answers); five lines that say what happened, then the page's path."""
    from reports.headline import headline
    from reports.writer import report_run

    written = report_run(run_path)
    return [*headline(written.report), str(written.html)]


F = TypeVar("F", bound=Callable[..., Any])


def run_options(what: str) -> Callable[[F], F]:
    """The options of every command that runs a drill (``crashlab drill``, ``crashlab gameday``):
    ``--speed``, ``--dry-run``, ``--quiet``, ``--runs-dir``, ``--report``, ``--link``, ``--keep-up``."""
    options = [
        click.option(
            "--speed",
            type=float,
            default=1.0,
            show_default=True,
            help="divide every offset and duration by K",
        ),
        click.option("--dry-run", is_flag=True, help="print the plan with absolute times; inject nothing"),
        click.option("--quiet", is_flag=True, help="no live panel: event lines only (CI)"),
        click.option(
            "--runs-dir",
            type=click.Path(path_type=Path, file_okay=False),
            default=None,
            help="where run directories go (default: $CRASHLAB_RUNS_DIR or runs/)",
        ),
        click.option("--report", "with_report", is_flag=True, help=f"write the post-mortem after the {what}"),
        click.option("--link", "link_name", default=None, help="make RUNS_DIR/NAME a symlink to this run"),
        click.option("--keep-up", is_flag=True, help=f"leave a stack this {what} brought up running"),
    ]

    def decorate(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


@dataclass(frozen=True)
class RunArgs:
    """The values of :func:`run_options`."""

    speed: float
    dry_run: bool
    quiet: bool
    runs_dir: Path | None
    with_report: bool
    link_name: str | None
    keep_up: bool

    def options(self, file: Path) -> DrillOptions:
        if not file.exists():
            raise DrillError(f"{file}: no such drill file")
        return DrillOptions(
            speed=self.speed,
            dry_run=self.dry_run,
            quiet=self.quiet,
            runs_dir=self.runs_dir,
            keep_up=self.keep_up,
            report=write_report if self.with_report else None,
        )

    def finish(self, ctx: click.Context, result: DrillResult, console: Console) -> None:
        """After a run: the link, the failures, the run's path, the report's lines; exit with the
        verdict's code."""
        if result.run_dir is not None:
            root = runs_root(self.runs_dir)
            if self.link_name:
                link_run(result.run_dir.path, root, self.link_name)
            for failure in result.failures:
                console.print(f"failed: {failure}", highlight=False, markup=False)
            click.echo(str(result.run_dir.path))
            # last, so that the page's path is the last line
            for line in result.report_lines:
                console.print(line, highlight=False, markup=False, soft_wrap=True)
        ctx.exit(result.exit_code)


@click.command("drill")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@run_options("drill")
@click.pass_context
def drill_command(ctx: click.Context, /, file: Path, **run: Any) -> None:
    """Run the drill FILE: stack, steady state, Locust load, timeline of faults, probes, guardrails,
    expectations; write runs/<run-id>/. Exit 0 when every expectation holds, 1 when one fails, 2 on
    invalid input or an aborted drill. Every injected fault is reverted on every exit path."""
    args = RunArgs(**run)
    console = Console(soft_wrap=True)
    drill = Drill(file, args.options(file), console)
    args.finish(ctx, asyncio.run(run_with_signals(drill, console)), console)


@click.group("chaos")
def chaos_group() -> None:
    """The fault catalogue and leftover cleanup."""


@chaos_group.command("revert")
@click.option("--all", "all_", is_flag=True, required=True, help="revert every leftover fault of every run")
@click.option("--runs-dir", type=click.Path(path_type=Path, file_okay=False), default=None)
def revert_command(all_: bool, runs_dir: Path | None) -> None:
    """Revert the faults that a killed drill left injected (found from the runs' journals). A running
    drill's faults are its own: they are named, never touched."""
    root = runs_root(runs_dir)
    done = asyncio.run(revert_all_leftovers(root))
    for owned in done.owned:
        click.echo(owned_line(owned))
    if not done.reverted:
        click.echo(f"no leftover faults under {root}")
        return
    failed = 0
    for left, outcome in done.reverted:
        click.echo(f"{left.journal.parent.name}: {left.name} ({left.fault_type} -> {left.target}): {outcome}")
        failed += outcome.startswith("failed")
    if failed:
        raise DrillError(
            f"{failed} leftover fault(s) could not be reverted (see above); their TTL still ends them"
        )


@chaos_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="machine-readable")
def list_command(as_json: bool) -> None:
    """The fault types of the catalogue with their params."""
    rows = registry.describe()
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    for row in rows:
        click.echo(f"{row['name']:<20} {row['summary']}")
        for p in row["params"]:
            default = "required" if p["required"] else f"default {p['default']}"
            click.echo(f"    {p['name']:<12} {default:<16} {p['help'] or ''}")


COMMANDS: list[click.Command] = [drill_command, chaos_group]
