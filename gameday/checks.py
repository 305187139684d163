"""The checks of a drill file's game-day parts that need the whole scenario (``crashlab validate`` runs
them with the drill's own, :mod:`chaos.scenario.semantics`): recurring steps, hints, the end
condition, the expected mitigations (their params, and the capabilities the target runtime has)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from chaos.scenario.messages import convert
from chaos.scenario.model import Scenario, Step
from crashlab.durations import format_duration
from gameday.actions import ACTIONS, BUILTIN_PROFILES, INITIAL, missing
from gameday.model import UntilPromQL
from stack import registry
from stack.runtime import StackError

Loc = tuple[str | int, ...]
Finding = tuple[Loc, str]


def check(
    scenario: Scenario,
    steps: list[tuple[Step, Loc]],
    base_dir: Path | None,
    intact: Callable[[Loc], bool],
) -> Iterator[Finding]:
    """Every game-day problem; ``steps``: every step of the timeline with its place (nested ones too)."""
    for step, loc in steps:
        if step.repeat is None or step.repeat.until is None:
            continue
        where = (*loc, "repeat", "until")
        until = step.repeat.until
        if isinstance(until, UntilPromQL) and not until.promql.strip():
            yield (*where, "promql"), "must not be empty"
        gameday = scenario.gameday
        if isinstance(until, UntilPromQL) and gameday is not None and until.for_ >= gameday.max_duration:
            yield (
                (*where, "for"),
                f"{format_duration(until.for_)} is not shorter than max_duration "
                f"({format_duration(gameday.max_duration)}): the condition could never hold that long",
            )
        if len(loc) > 2:
            yield where, "only a top-level step may recur until something (move the group's repeat up)"
        elif scenario.gameday is None and intact(("gameday",)):
            yield (
                where,
                "recurs until the game day ends: needs a gameday section (run it with crashlab gameday)",
            )
    gameday = scenario.gameday
    if gameday is None:
        return
    runtime = scenario.target.runtime
    if intact(("target", "runtime")) and runtime in registry.NAMES and registry.get(runtime).connects:
        yield (
            ("target", "runtime"),
            f"a game day brings its own stack up (its Alertmanager pages the team console); runtime "
            f"{runtime!r} connects to one running elsewhere: use local or docker",
        )
    for i, hint in enumerate(gameday.hints):
        if hint.at >= gameday.max_duration:
            yield (
                ("gameday", "hints", i, "at"),
                f"at {format_duration(hint.at)} is not before max_duration "
                f"({format_duration(gameday.max_duration)})",
            )
    if gameday.end_when is not None and gameday.end_when.recovered_for >= gameday.max_duration:
        yield (
            ("gameday", "end_when", "recovered_for"),
            f"{format_duration(gameday.end_when.recovered_for)} is not shorter than max_duration "
            f"({format_duration(gameday.max_duration)}): the game day could never end early",
        )
    capabilities = _capabilities(scenario.target.runtime) if intact(("target", "runtime")) else None
    for i, expected in enumerate(gameday.expected_mitigations):
        loc = ("gameday", "expected_mitigations", i)
        yield from _params(loc, expected.action, expected.params, base_dir)
        if capabilities is not None:
            lacking = missing(expected.action, capabilities)
            if lacking:
                can = ", ".join(c.means for c in lacking)
                others = ", ".join(
                    name
                    for name in registry.NAMES
                    if not missing(expected.action, registry.get(name).capabilities)
                )
                yield (
                    (*loc, "action"),
                    f"{expected.action} needs a runtime that can {can}; target.runtime "
                    f"{scenario.target.runtime!r} cannot (runtimes that can: {others or 'none'})",
                )


def promql(scenario: Scenario) -> list[tuple[str, Loc]]:
    """The PromQL of the ``repeat.until`` conditions, with their places (checked with the probes')."""
    found: list[tuple[str, Loc]] = []
    for i, step in enumerate(scenario.timeline):
        until = step.repeat.until if step.repeat is not None else None
        if isinstance(until, UntilPromQL) and until.promql.strip():
            found.append((until.promql, ("timeline", i, "repeat", "until", "promql")))
    return found


def _capabilities(runtime: str) -> frozenset[Any] | None:
    try:
        return registry.get(runtime).capabilities
    except StackError:
        return None


def _params(loc: Loc, action: str, params: dict[str, Any], base_dir: Path | None) -> Iterator[Finding]:
    model = ACTIONS[action].params
    try:
        model.model_validate(params)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            where, message = convert(err, params, root=model)
            yield (*loc, "params", *(p for p in where if p != "root")), message
        return
    profile = params.get("profile")
    if action == "deploy" and isinstance(profile, str) and profile not in (INITIAL, *BUILTIN_PROFILES):
        path = Path(profile) if base_dir is None else base_dir / profile
        if Path(profile).is_absolute() or ".." in Path(profile).parts or not path.is_file():
            yield (
                (*loc, "params", "profile"),
                f"must be initial, naive, hardened or a profile file in the drill's folder (got {profile!r})",
            )
