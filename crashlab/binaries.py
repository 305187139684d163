"""The external programs crashlab runs (the Prometheus server, promtool, Alertmanager, amtool), found
one way everywhere: ``$CRASHLAB_<TOOL>_BIN`` when set, else the tool's names on ``PATH``.

``find`` raises a :class:`MissingBinary` that says how to install the tool; ``which`` answers None
for optional uses (a check that is skipped without the tool).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import Literal

from crashlab.errors import CrashlabError

ToolName = Literal["prometheus", "promtool", "alertmanager", "amtool"]


@dataclass(frozen=True)
class Tool:
    name: ToolName
    #: executable names tried on PATH, in order (Debian calls Alertmanager prometheus-alertmanager)
    names: tuple[str, ...]
    #: the Debian package that brings it
    package: str
    #: the Homebrew formula
    brew: str

    @property
    def env(self) -> str:
        return f"CRASHLAB_{self.name.upper()}_BIN"


TOOLS: dict[ToolName, Tool] = {
    "prometheus": Tool("prometheus", ("prometheus",), "prometheus", "prometheus"),
    "promtool": Tool("promtool", ("promtool",), "prometheus", "prometheus"),
    "alertmanager": Tool(
        "alertmanager", ("prometheus-alertmanager", "alertmanager"), "prometheus-alertmanager", "alertmanager"
    ),
    "amtool": Tool("amtool", ("amtool",), "prometheus-alertmanager", "alertmanager"),
}


class MissingBinary(CrashlabError):
    """A program crashlab needs is not installed (or ``$CRASHLAB_<TOOL>_BIN`` names no executable)."""


def _executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def find(name: ToolName, hint: str = "") -> str:
    """The path of ``name``'s executable; :class:`MissingBinary` (saying how to get it) otherwise.
    ``hint`` is appended to the message (for example another way around it)."""
    tool = TOOLS[name]
    install = f"install it (`make setup`, or `apt-get install {tool.package}`, or `brew install {tool.brew}`)"
    extra = f", {hint}" if hint else ""
    explicit = os.environ.get(tool.env)
    if explicit:
        if not _executable(explicit):
            raise MissingBinary(
                f"{name}: {tool.env}={explicit} is not an executable file; {install}, "
                f"or point {tool.env} at it{extra}"
            )
        return explicit
    for candidate in tool.names:
        found = shutil.which(candidate)
        if found:
            return found
    missing = (
        f"the `{tool.names[0]}` binary is not"
        if len(tool.names) == 1
        else f"neither {' nor '.join(tool.names)} is"
    )
    raise MissingBinary(f"{name}: {missing} on PATH; {install}, point {tool.env} at it{extra}")


def tool_for(executable: str) -> ToolName | None:
    """The tool an executable name belongs to (``prometheus-alertmanager`` -> ``alertmanager``)."""
    return next((tool.name for tool in TOOLS.values() if executable in tool.names), None)


def which(name: ToolName) -> str | None:
    """Like :func:`find`, but None when the tool is missing (for checks that are skipped without it)."""
    try:
        return find(name)
    except MissingBinary:
        return None
