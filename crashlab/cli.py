"""The one ``crashlab`` command. Each area contributes its subcommands from its own ``cli`` module.

Areas: ``service.cli`` (serve), ``stack.cli`` (up, down, status), ``chaos.cli`` (validate, drill,
chaos), ``reports.cli`` (report, compare, runs). An area's ``cli`` module exposes ``COMMANDS``, a
list of click commands, and must not import Locust (gevent monkey-patching) at import time.
"""

from __future__ import annotations

import importlib
import sys

import click

from crashlab import __version__
from crashlab.doctor import doctor
from crashlab.errors import CrashlabError

AREAS = ("service.cli", "stack.cli", "stack.k8s.cli", "chaos.cli", "reports.cli")


class CrashlabGroup(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except CrashlabError as exc:
            click.secho(f"crashlab: error: {exc}", err=True, fg="red")
            ctx.exit(exc.exit_code)


@click.group(cls=CrashlabGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="crashlab")
def cli() -> None:
    """crashlab: chaos drills from fault to impact to detection to a written post-mortem."""


def _register() -> None:
    for name in AREAS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        for command in getattr(module, "COMMANDS", []):
            cli.add_command(command)


_register()
cli.add_command(doctor)


def main() -> None:
    sys.exit(cli.main(standalone_mode=True))


if __name__ == "__main__":
    main()
