"""The drill engine's commands: ``validate`` and ``schema`` (chaos.scenario.cli), ``drill`` and
``chaos`` (chaos.runner.cli), ``load`` (chaos.load.cli)."""

from __future__ import annotations

import importlib

import click

COMMANDS: list[click.Command] = []

for _name in ("chaos.scenario.cli", "chaos.runner.cli", "chaos.load.cli"):
    try:
        _module = importlib.import_module(_name)
    except ModuleNotFoundError as _exc:
        if _exc.name != _name:
            raise
        continue
    COMMANDS.extend(getattr(_module, "COMMANDS", []))
