"""The scripted team: who plays and which moves they make (``crashlab gameday FILE --team SCRIPT.yaml``).

```yaml
members: [{name: ana, role: incident_commander}, {name: bo, role: on_call}]
moves:
  - {by: bo, on: page, after: 5s, do: ack}          # on: page (count: n), crash (count: n), time (at: offset)
  - {by: ana, on: crash, count: 2, after: 2s, do: flag, with: {circuit_breaker: true}}
  - {by: ana, on: time, at: 3m, do: note, with: {text: "odds p99 at 8 s"}}
```

- ``on: page``: the ``count``-th page delivered to the pager (default the first); ``on: crash``: the
  ``count``-th crash of the game; ``on: time``: ``at`` after the game day's start (game time: ``--speed``
  divides it, like the drill's offsets).
- ``after``: how long the member takes to act once it happened (wall-clock: ``--speed`` leaves it alone,
  so a scripted reaction time is the same at every speed).
- ``do``: ``ack`` (the page that triggered the move, else the oldest unacked one), ``declare``
  (``with: {severity: SEV1..SEV4, ic: <member>}``), ``note`` (``with: {text, kind: note|hypothesis|
  decision|drop, ref}``), ``resolve`` (``with: {summary}``), or an action of :mod:`gameday.actions` with its
  params in ``with`` (``flag``, ``restart``, ``deploy``, ``memory_limit``, ``silence``, ``unavailable``).

A script is read like a drill file: the bounded YAML loader, then the model, then the checks that need
the whole script; every problem as ``file:line: field: message``, all at once, sorted by line.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chaos.scenario.errors import Problem, ScenarioError, sort_problems
from chaos.scenario.messages import convert, suggest
from chaos.scenario.validate import Findings, load_mapping, read_text
from crashlab.durations import Duration, FixedDuration, format_duration
from gameday.actions import ACTIONS
from gameday.state import Role

if TYPE_CHECKING:
    from chaos.scenario.model import Scenario

__all__ = [
    "MOVES",
    "Member",
    "Move",
    "TeamScript",
    "TeamScriptError",
    "check_script",
    "load_script",
    "parse_script",
]

#: what a scripted member can do: the console's records and the actions
MOVES = ("ack", "declare", "note", "resolve", "unavailable", *ACTIONS)
Do = Literal[
    "ack", "declare", "note", "resolve", "flag", "restart", "deploy", "memory_limit", "silence", "unavailable"
]
MAX_TEXT = 2000
Loc = tuple[str | int, ...]


class TeamScriptError(ScenarioError):
    """A team script with problems; ``problems`` lists every one (``file:line: field: message``)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=True)


class Member(_Model):
    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,31}$", description="how the member joins")
    role: Role


class Move(_Model):
    """One move of one member."""

    by: str = Field(min_length=1, description="a member's name")
    on: Literal["page", "crash", "time"]
    count: int | None = Field(None, ge=1, le=1000, description="on: page/crash: the n-th one (default 1)")
    at: Duration | None = Field(None, description="on: time: from the game day's start (game time)")
    after: FixedDuration = Field(0.0, description="the member acts this long after (wall-clock)")
    do: Do
    with_: dict[str, Any] = Field(default_factory=dict, alias="with", description="what the move does")

    @property
    def nth(self) -> int:
        return self.count or 1


class TeamScript(_Model):
    members: list[Member] = Field(min_length=1, max_length=20)
    moves: list[Move] = Field(default_factory=list, max_length=500)

    #: the file it was read from (set by :func:`load_script`)
    source: str = Field("", exclude=True)

    def member(self, name: str) -> Member:
        return next(m for m in self.members if m.name == name)


# --- the records' own params ---------------------------------------------------------------------------


class NoParams(_Model):
    pass


class DeclareWith(_Model):
    severity: Literal["SEV1", "SEV2", "SEV3", "SEV4"] = "SEV2"
    ic: str | None = Field(
        None, description="the incident commander (a member; default: the one whose role it is)"
    )


class NoteWith(_Model):
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    kind: Literal["note", "hypothesis", "decision", "drop"] = "note"
    ref: str | None = Field(None, min_length=1, description="drop: the note_id of the hypothesis dropped")


class ResolveWith(_Model):
    summary: str = Field(min_length=1, max_length=MAX_TEXT)


class UnavailableWith(_Model):
    wanted: str = Field(min_length=1, max_length=MAX_TEXT, description="the action the team needed")


#: the moves that are the console's own records (the others are actions of gameday.actions)
RECORD_PARAMS: dict[str, type[BaseModel]] = {
    "ack": NoParams,
    "declare": DeclareWith,
    "note": NoteWith,
    "resolve": ResolveWith,
    "unavailable": UnavailableWith,
}


def params_model(do: str) -> type[BaseModel]:
    return RECORD_PARAMS[do] if do in RECORD_PARAMS else ACTIONS[do].params


# --- checks --------------------------------------------------------------------------------------------


def _check(script: TeamScript, data: dict[str, Any], against: Scenario | None) -> Iterator[tuple[Loc, str]]:
    """The checks that need the whole script (the model accepted it), and the game day it plays when
    ``against`` is one."""
    day = against.gameday if against is not None else None
    names: dict[str, int] = {}
    raw_members = data.get("members")
    for i, raw in enumerate(raw_members if isinstance(raw_members, list) else []):
        name = raw.get("name") if isinstance(raw, dict) else None
        if not isinstance(name, str):
            continue
        if name in names:
            yield ("members", i, "name"), f"duplicate member {name!r} (members[{names[name]}])"
        names.setdefault(name, i)
    raw_moves = data.get("moves") or []
    for i, move in enumerate(script.moves):
        loc: Loc = ("moves", i)
        if move.by not in names:
            hint = suggest(move.by, list(names)) or f"; members: {', '.join(names)}"
            yield (*loc, "by"), f"unknown member {move.by!r}{hint}"
        if move.on == "time" and move.at is None:
            yield (*loc, "at"), "required field missing (on: time needs the offset from the game day's start)"
        if move.on != "time" and move.at is not None:
            yield (*loc, "at"), f"only with on: time (this move is on: {move.on}; use after)"
        if move.on == "time" and move.count is not None:
            yield (*loc, "count"), "only with on: page or on: crash"
        if day is not None and move.on == "time" and move.at is not None and move.at >= day.max_duration:
            yield (
                (*loc, "at"),
                f"at {format_duration(move.at)} is not before the game day's max_duration "
                f"({format_duration(day.max_duration)}): the move would never be played",
            )
        raw_with = raw_moves[i].get("with", {}) if isinstance(raw_moves[i], dict) else {}
        model = params_model(move.do)
        try:
            model.model_validate(raw_with if raw_with is not None else {})
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                where, message = convert(err, raw_with, root=model)
                where = tuple(p for p in where if p != "root")
                yield (*loc, "with", *where), f"{message} (for do: {move.do})"
            continue
        if move.do == "declare":
            ic = move.with_.get("ic")
            if isinstance(ic, str) and ic not in names:
                yield (*loc, "with", "ic"), f"unknown member {ic!r}{suggest(ic, list(names))}"


def parse_script(
    text: str, path: str = "<string>", against: Scenario | None = None
) -> tuple[TeamScript | None, list[Problem]]:
    """The script in ``text`` (``None`` when invalid) and every problem, sorted by line; ``against``:
    the game day it plays (its moves must fit in it)."""
    data, read = load_mapping(text, path, "a mapping with members and moves")
    if data is None or not isinstance(read, Findings):
        return None, read if isinstance(read, list) else read.sorted()
    problems, add = read.problems, read.add

    try:
        script = TeamScript.model_validate({**data, "source": path})
    except ValidationError as exc:
        found = [convert(err, data, root=TeamScript) for err in exc.errors(include_url=False)]
        for loc, message in found:
            add(loc, message)
        rest = _without_bad_items(data, [loc for loc, _ in found])
        if rest is None:
            return None, sort_problems(problems)
        pruned, kept = rest
        moves = {"members": data["members"], "moves": [data["moves"][i] for i in kept["moves"]]}
        for loc, message in _check(pruned, moves, against):
            section, index, *tail = loc
            if section == "moves":
                index = kept["moves"][int(index)]
            add((section, index, *tail), message)
        return None, sort_problems(problems)
    for loc, message in _check(script, data, against):
        add(loc, message)
    if problems:
        return None, sort_problems(problems)
    return script, []


def _without_bad_items(
    data: dict[str, Any], bad: list[Loc]
) -> tuple[TeamScript, dict[str, list[int]]] | None:
    """The script without the members and moves the model rejected (to check the rest), and which of the
    file's items it kept; None when a problem is not in an item (the rest cannot be checked)."""
    drop: dict[str, set[int]] = {"members": set(), "moves": set()}
    for loc in bad:
        if len(loc) < 2 or loc[0] not in drop or not isinstance(loc[1], int):
            return None
        drop[str(loc[0])].add(loc[1])
    kept: dict[str, list[int]] = {}
    pruned: dict[str, Any] = {}
    for section in ("members", "moves"):
        items = data.get(section)
        if not isinstance(items, list):
            return None
        kept[section] = [i for i in range(len(items)) if i not in drop[section]]
        pruned[section] = [items[i] for i in kept[section]]
    if not pruned["members"]:
        return None
    try:
        return TeamScript.model_validate(pruned), kept
    except ValidationError:
        return None


def check_script(
    path: Path | str, against: Scenario | None = None
) -> tuple[TeamScript | None, list[Problem]]:
    """Read and check one team script (against the game day it plays, when given)."""
    text, unreadable = read_text(Path(path))
    if text is None:
        return None, unreadable
    return parse_script(text, str(path), against)


def load_script(path: Path | str, against: Scenario | None = None) -> TeamScript:
    """The team script of ``path``; raises :class:`TeamScriptError` listing every problem."""
    script, problems = check_script(path, against)
    if script is None:
        raise TeamScriptError(problems)
    return script
