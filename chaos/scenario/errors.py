"""Scenario problems and the scenario area's exception root."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from crashlab.errors import CrashlabError


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a drill file: ``path:line: field.path: message``.

    ``line`` is 1-based (``None`` when the file could not be read); ``field`` is the dotted field path
    (``timeline[3].fault.ms``; ``yaml`` for syntax errors, ``(root)`` for the document itself).
    """

    path: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.field}: {self.message}"


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.path, p.line or 0, p.field, p.message))


class ScenarioError(CrashlabError):
    """A drill file (or several) has problems; ``problems`` lists every one, sorted by file and line.

    ``str()`` is the problem (``path:line: field.path: message``) when there is one, else a heading line
    (``3 problems in x.yaml:``) and then one line per problem. A plain
    message (no file involved, e.g. a bad ``--speed``) is accepted too.
    """

    #: 2 like every invalid input (``crashlab drill`` keeps 1 for "an expectation failed");
    #: ``crashlab validate`` exits 1 on any problem, as its contract says.
    exit_code = 2

    def __init__(self, problems: Iterable[Problem] | str) -> None:
        if isinstance(problems, str):
            self.problems: list[Problem] = []
            super().__init__(problems)
            return
        self.problems = sort_problems(problems)
        lines = [str(p) for p in self.problems]
        if len(lines) > 1:
            files = ", ".join(dict.fromkeys(p.path for p in self.problems))
            lines.insert(0, f"{len(lines)} problems in {files}:")
        super().__init__("\n".join(lines) or "invalid scenario")
