"""Load and check drill files completely: YAML syntax, the model, then semantic checks; every problem
with its file and line, sorted by line."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from chaos.scenario import semantics
from chaos.scenario.errors import Problem, ScenarioError, sort_problems
from chaos.scenario.messages import convert, format_loc
from chaos.scenario.model import Scenario
from chaos.scenario.timeline import MAX_PLANNED_STEPS, planned_count
from chaos.scenario.yaml_lines import LineMap, YamlSyntaxError, load_yaml
from crashlab.safe_yaml import YamlError, read_yaml_text

Loc = tuple[str | int, ...]
#: Stand-ins for required top-level scalars while the rest of a broken file is checked.
_STAND_INS = {"name": "x", "description": "x"}
_MAX_PRUNE_ROUNDS = 4


def _prune_point(path: Loc) -> Loc | None:
    """What to leave out so the rest of a broken file can still be checked: the top-level timeline step,
    else the innermost list item, else the field of a section."""
    if not path:
        return None
    if path[0] == "timeline" and len(path) >= 2 and isinstance(path[1], int):
        return path[:2]
    indexes = [i for i, part in enumerate(path) if isinstance(part, int)]
    if indexes:
        return path[: indexes[-1] + 1]
    return path[:2]


def _without(data: Any, points: set[Loc]) -> tuple[Any, dict[Loc, list[int]]]:
    """``data`` without the pruned points; ``kept[list path]`` maps new list indexes to the file's."""
    kept: dict[Loc, list[int]] = {}

    def copy(node: Any, path: Loc) -> Any:
        if isinstance(node, dict):
            out: dict[Any, Any] = {}
            for key, value in node.items():
                here = (*path, key)
                if here in points:
                    if len(here) == 1 and key in _STAND_INS:
                        out[key] = _STAND_INS[key]
                    continue
                out[key] = copy(value, here)
            return out
        if isinstance(node, list):
            indexes = [i for i in range(len(node)) if (*path, i) not in points]
            kept[path] = indexes
            return [copy(node[i], (*path, i)) for i in indexes]
        return node

    return copy(data, ()), kept


def _translate(loc: Loc, kept: dict[Loc, list[int]]) -> Loc:
    out: list[str | int] = []
    for part in loc:
        indexes = kept.get(tuple(out))
        if isinstance(part, int) and indexes is not None and 0 <= part < len(indexes):
            part = indexes[part]
        out.append(part)
    return tuple(out)


def _errors(exc: ValidationError, data: Any) -> list[tuple[Loc, str]]:
    return [convert(err, data) for err in exc.errors(include_url=False)]


def _partial(
    data: dict[str, Any], first: list[tuple[Loc, str]]
) -> tuple[Scenario, set[Loc], dict[Loc, list[int]]] | None:
    """The scenario without the parts that failed, to run the semantic checks on the rest."""
    points: set[Loc] = set()
    found = first
    kept: dict[Loc, list[int]] = {}
    for _ in range(_MAX_PRUNE_ROUNDS):
        for loc, _message in found:
            point = _prune_point(_translate(loc, kept))
            if point is None:
                return None
            points.add(point)
        pruned, kept = _without(data, points)
        try:
            return Scenario.model_validate(pruned), points, kept
        except ValidationError as exc:
            found = _errors(exc, pruned)
    return None


@dataclass
class Findings:
    """The problems of one YAML file, each at the line of its field; a problem is kept once."""

    path: str
    lines: LineMap
    problems: list[Problem] = field(default_factory=list)

    def add(self, loc: Loc, message: str) -> None:
        problem = Problem(self.path, self.lines.line(loc), format_loc(loc), message)
        if problem not in self.problems:
            self.problems.append(problem)

    def sorted(self) -> list[Problem]:
        return sort_problems(self.problems)


def load_mapping(text: str, path: str, what: str) -> tuple[dict[str, Any] | None, Findings | list[Problem]]:
    """The YAML mapping in ``text`` (a drill file, a team script) and its :class:`Findings` so far
    (duplicate keys); when it is no mapping (``what`` it must be) or not YAML: ``None`` and the problems."""
    try:
        data, lines = load_yaml(text)
    except YamlSyntaxError as exc:
        return None, [Problem(path, exc.line, "yaml", exc.message)]
    found = Findings(path, lines)
    for loc, line in lines.duplicates:
        found.problems.append(
            Problem(path, line, format_loc(loc), f"duplicate key {loc[-1]!r} (the later one would win)")
        )
    if not isinstance(data, dict):
        kind = "empty file" if data is None else f"got {type(data).__name__}"
        found.problems.append(Problem(path, lines.line(()), "(root)", f"must be {what} ({kind})"))
        return None, found.sorted()
    return data, found


def read_text(path: Path) -> tuple[str | None, list[Problem]]:
    """A YAML file's text within the bounds of :mod:`crashlab.safe_yaml`, or the problem."""
    try:
        return read_yaml_text(path), []
    except YamlError as exc:
        field = "yaml" if exc.line is not None else "(file)"
        return None, [Problem(str(path), exc.line, field, exc.message)]


def parse_scenario(
    text: str, path: str = "<string>", base_dir: Path | None = None
) -> tuple[Scenario | None, list[Problem]]:
    """The scenario in ``text`` (``None`` when invalid) and every problem found, sorted by line.

    When the model rejects parts of the file, the semantic checks still run on the rest (the broken
    timeline steps, probes and fields left out), so one run shows every problem.
    """
    data, read = load_mapping(text, path, "a mapping of drill fields")
    if data is None or not isinstance(read, Findings):
        return None, read if isinstance(read, list) else read.sorted()
    lines, problems, add = read.lines, read.problems, read.add

    def too_many_steps(scenario: Scenario) -> bool:
        count = planned_count(scenario.timeline)
        if count > MAX_PLANNED_STEPS:
            add(("timeline",), f"expands to {count} fault steps (at most {MAX_PLANNED_STEPS}): fewer repeats")
        return count > MAX_PLANNED_STEPS

    scenario: Scenario | None = None
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        found = _errors(exc, data)
        for loc, message in found:
            add(loc, message)
        partial = _partial(data, found)
        if partial is not None and not too_many_steps(partial[0]):
            rest, points, kept = partial

            def intact(prefix: Loc) -> bool:
                return not any(p[: len(prefix)] == prefix or prefix[: len(p)] == p for p in points)

            def where(loc: Loc) -> str:
                return f"on line {lines.line(_translate(loc, kept))}"

            for loc, message in semantics.check(rest, base_dir, intact, where):
                add(_translate(loc, kept), message)
        return None, sort_problems(problems)
    if too_many_steps(scenario):
        return None, sort_problems(problems)
    for loc, message in semantics.check(scenario, base_dir, where=lambda loc: f"on line {lines.line(loc)}"):
        add(loc, message)
    if problems:
        return None, sort_problems(problems)
    return scenario, []


def check_file(path: Path | str) -> tuple[Scenario | None, list[Problem]]:
    """Read and check one drill file: the scenario (``None`` when invalid) and its problems."""
    path = Path(path)
    text, unreadable = read_text(path)
    if text is None:
        return None, unreadable
    scenario, problems = parse_scenario(text, str(path), path.parent)
    if scenario is not None:
        scenario = _with_paths_from(scenario, path.parent)
        scenario._source = path
    return scenario, problems


def _with_paths_from(scenario: Scenario, base_dir: Path) -> Scenario:
    """The scenario with ``target.admin_token_file`` made absolute (``~`` expanded, else relative to the
    drill file's folder), so the runner, the manifest and the leftover cleanup read the same file."""
    token_file = scenario.target.admin_token_file
    if token_file is None:
        return scenario
    path = Path(token_file).expanduser()
    resolved = str(path if path.is_absolute() else (base_dir / path).absolute())
    if resolved == token_file:
        return scenario
    target = scenario.target.model_copy(update={"admin_token_file": resolved})
    return scenario.model_copy(update={"target": target})


def load_scenario(path: Path | str) -> Scenario:
    """The scenario of a drill file; raises :class:`ScenarioError` listing every problem."""
    scenario, problems = check_file(path)
    if scenario is None:
        raise ScenarioError(problems)
    return scenario


def validate_files(paths: Iterable[Path | str]) -> list[Problem]:
    """Every problem of every file, sorted by file and line (empty: all good)."""
    problems: list[Problem] = []
    for path in paths:
        problems.extend(check_file(path)[1])
    return sort_problems(problems)
