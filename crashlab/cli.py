"""The one ``crashlab`` command. Each area contributes its subcommands from its own ``cli`` module.

Areas: ``service.cli`` (serve), ``stack.cli`` (up, down, status), ``chaos.cli`` (validate, drill,
chaos), ``gameday.cli`` (gameday), ``reports.cli`` (report, compare, runs). An area's ``cli`` module
exposes ``COMMANDS``, a list of click commands, and must not import Locust (gevent monkey-patching) at
import time; a new area's commands are imported below and listed in :data:`AREAS`. The console script is
:mod:`crashlab.entry` (a Ctrl-C while these imports run ends quietly).
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from pathlib import Path

import click

from chaos.cli import COMMANDS as CHAOS_COMMANDS
from crashlab import __version__
from crashlab.doctor import doctor
from crashlab.errors import CrashlabError
from crashlab.timeutil import utcnow
from gameday.cli import COMMANDS as GAMEDAY_COMMANDS
from reports.cli import COMMANDS as REPORT_COMMANDS
from service.cli import COMMANDS as SERVICE_COMMANDS
from stack.cli import COMMANDS as STACK_COMMANDS
from stack.k8s.cli import COMMANDS as K8S_COMMANDS

#: every area's commands, in the order ``crashlab --help`` lists them
AREAS: list[list[click.Command]] = [
    SERVICE_COMMANDS,
    STACK_COMMANDS,
    K8S_COMMANDS,
    CHAOS_COMMANDS,
    GAMEDAY_COMMANDS,
    REPORT_COMMANDS,
]


#: exit codes of every command (README, "Exit codes"); a command may document its own 0/1/2 meaning
EXIT_OK = 0
#: a check failed: ``validate`` found a problem, a drill's expectation was not met
EXIT_FAILED = 1
#: invalid input, a refused or aborted action (every CrashlabError), or a usage error
EXIT_ERROR = 2
#: an unexpected error: a bug in crashlab; the traceback is in a file the message names
EXIT_INTERNAL = 70  # sysexits.h EX_SOFTWARE
#: interrupted (Ctrl-C)
EXIT_INTERRUPTED = 130


_ARGS = "crashlab.args"


def _command_name(group: click.Group, ctx: click.Context) -> str:
    """``crashlab chaos revert``: the group's path and the subcommands named on the command line."""
    names = [ctx.command_path]
    command: click.Command | None = group
    for token in ctx.meta.get(_ARGS, []):
        if not isinstance(command, click.Group) or token not in command.commands:
            break
        names.append(token)
        command = command.commands[token]
    return " ".join(names)


def _errors_dir() -> Path:
    base = os.environ.get("CRASHLAB_STATE_DIR")
    return (Path(base) if base else Path(".crashlab")) / "errors"


def log_internal_error(command: str, exc: BaseException) -> Path | None:
    """Write the traceback of an unexpected error to a file of its own (mode 0600); its path, or None
    when no file could be written (not even in the temporary directory)."""
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    name = f"{stamp}-{command.replace(' ', '-')}-{os.getpid()}.log"
    text = f"crashlab {__version__}: internal error in `{command}`\nargv: {sys.argv!r}\n\n" + "".join(
        traceback.format_exception(exc)
    )
    for folder in (_errors_dir(), Path(tempfile.gettempdir()) / "crashlab-errors"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            return path
        except OSError:
            continue
    return None


class CrashlabGroup(click.Group):
    """Every command ends with one line on error, never a traceback: a :class:`CrashlabError` is
    printed with its own exit code; anything else is a bug, printed in one line naming the command and
    the file with the details (exit :data:`EXIT_INTERNAL`)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[_ARGS] = list(args)  # to name the command if it fails
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except CrashlabError as exc:
            click.secho(f"crashlab: error: {exc}", err=True, fg="red")
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            click.secho("crashlab: interrupted", err=True, fg="red")
            ctx.exit(EXIT_INTERRUPTED)
        except Exception as exc:
            command = _command_name(self, ctx)
            logged = log_internal_error(command, exc)
            what = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
            where = (
                f"details in {logged}" if logged is not None else "no file could be written for the details"
            )
            click.secho(
                f"crashlab: internal error in `{command}`: {what} (a bug in crashlab; {where})",
                err=True,
                fg="red",
            )
            ctx.exit(EXIT_INTERNAL)


@click.group(cls=CrashlabGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="crashlab")
def cli() -> None:
    """crashlab: chaos drills from fault to impact to detection to a written post-mortem."""


for _commands in AREAS:
    for _command in _commands:
        cli.add_command(_command)
cli.add_command(doctor)


def main() -> None:
    sys.exit(cli.main(standalone_mode=True))


if __name__ == "__main__":
    main()
