"""The drill engine's commands: ``validate`` and ``schema`` (chaos.scenario.cli), ``drill`` and
``chaos`` (chaos.runner.cli), ``load`` (chaos.load.cli)."""

from __future__ import annotations

import click

from chaos.load.cli import COMMANDS as LOAD_COMMANDS
from chaos.runner.cli import COMMANDS as RUNNER_COMMANDS
from chaos.scenario.cli import COMMANDS as SCENARIO_COMMANDS

COMMANDS: list[click.Command] = [*SCENARIO_COMMANDS, *RUNNER_COMMANDS, *LOAD_COMMANDS]
