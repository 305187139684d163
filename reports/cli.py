"""The reporter's commands: ``report``, ``compare``, ``runs``."""

from __future__ import annotations

from pathlib import Path

import click

from crashlab.rundir import runs_root
from reports.errors import ReportError


def resolve_run(value: str, runs_dir: Path | None) -> Path:
    """A run directory given as a path, or as a run id (or link name) under the runs directory."""
    path = Path(value)
    if path.is_dir():
        return path
    candidate = runs_root(runs_dir) / value
    if candidate.is_dir():
        return candidate
    raise ReportError(f"{value}: no such run directory (nor {candidate})")


def _replay_flag(replay: str) -> bool | None:
    return {"auto": None, "always": True, "never": False}[replay]


REPLAY = click.option(
    "--replay",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    help="Prometheus: ask the run's live one (auto), or start one on the run's own TSDB (always).",
)
RUNS_DIR = click.option(
    "--runs-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="default: $CRASHLAB_RUNS_DIR or runs/",
)


@click.command("report")
@click.argument("run_dir")
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), default=None, help="default: RUN_DIR/report"
)
@click.option("--prometheus-url", default=None, help="query this Prometheus instead of the manifest's")
@REPLAY
@RUNS_DIR
def report_cmd(
    run_dir: str, out: Path | None, prometheus_url: str | None, replay: str, runs_dir: Path | None
) -> None:
    """Write the post-mortem of a run: report/index.html, report.md, summary.json."""
    from reports.writer import report_run

    path = resolve_run(run_dir, runs_dir)
    written = report_run(path, out, prometheus_url=prometheus_url, replay=_replay_flag(replay))
    rep = written.report
    click.echo(
        f"verdict {rep.verdict}: {rep.impact.crashes} crash(es), availability "
        f"{'n/a' if rep.impact.availability_server is None else f'{rep.impact.availability_server:.2%}'}"
    )
    for problem in rep.problems:
        click.echo(f"missing data: {problem.name}: {problem.why}", err=True)
    click.echo(str(written.html))
    if path.resolve().parent == runs_root(runs_dir).resolve():
        from reports.index import list_runs, write_index

        write_index(path.parent, list_runs(path.parent))  # keep runs/index.html linking every report


@click.command("compare")
@click.argument("run_a")
@click.argument("run_b")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="default: RUN_B/report/compare-<run A>.html",
)
@REPLAY
@RUNS_DIR
def compare_cmd(run_a: str, run_b: str, out: Path | None, replay: str, runs_dir: Path | None) -> None:
    """Two runs of the same drill side by side (for example naive vs hardened)."""
    from reports.compare import compare_runs

    a, b = resolve_run(run_a, runs_dir), resolve_run(run_b, runs_dir)
    target = out or b / "report" / f"compare-{a.resolve().name}.html"
    click.echo(str(compare_runs(a, b, target, replay=_replay_flag(replay))))


@click.command("runs")
@RUNS_DIR
@click.option("--no-index", is_flag=True, help="only list; do not write runs/index.html")
def runs_cmd(runs_dir: Path | None, no_index: bool) -> None:
    """List the runs and write an index page linking every report."""
    from rich.console import Console
    from rich.table import Table

    from reports.index import list_runs, write_index

    root = runs_root(runs_dir)
    entries = list_runs(root)
    table = Table("run", "scenario", "start", "verdict", "crashes", "report")
    for e in entries:
        table.add_row(
            e.run_id,
            e.scenario,
            e.start,
            e.verdict,
            "" if e.crashes is None else str(e.crashes),
            str(e.report) if e.report else "",
        )
    Console().print(table)
    if not no_index:
        click.echo(str(write_index(root, entries)))


COMMANDS: list[click.Command] = [report_cmd, compare_cmd, runs_cmd]
