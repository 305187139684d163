"""The team's actions on the live system: one registry (:data:`ACTIONS`) the console calls through the
seam in GAMEDAY.md ("The action registry seam"): ``validate`` (a 400 before anything happens),
``unavailable`` (what this stack lacks), ``run`` and ``undo`` (blocking; the console runs them in a
thread and journals the ``team action`` record with their before/after).

This first registry has ``flag`` only (a rewrite of the stack's flag file); `gameday-core` owns this
module and adds ``restart``, ``deploy``, ``memory_limit`` and ``silence``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from gameday.errors import GamedayError
from service import flagfile
from service.errors import ServiceError
from service.profile import SWITCHES
from stack.capabilities import FlagFile
from stack.runtime import Stack


class ActionError(GamedayError):
    """The action cannot be done as asked; ``str()`` is shown to the team, ``field`` names the params
    field at fault when there is one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ActionUnavailable(ActionError):
    """This stack lacks what the action needs (journaled ``not_available``)."""


@dataclass(frozen=True)
class Outcome:
    """What an action changed, as it was (``before``) and as it is now (``after``); JSON values."""

    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)


class Action(Protocol):
    name: str
    summary: str
    undoable: bool

    def params_schema(self) -> dict[str, Any]: ...

    def validate(self, params: Any) -> dict[str, Any]: ...

    def unavailable(self, stack: Stack) -> str | None: ...

    def run(self, stack: Stack, params: dict[str, Any]) -> Outcome: ...

    def undo(self, stack: Stack, params: dict[str, Any], done: Outcome) -> Outcome: ...


class FlagAction:
    """``{<switch>: bool, ...}``: rewrites the stack's flag file; undo: the previous values."""

    name = "flag"
    summary = "turn resilience switches on or off (in force within a second, no restart)"
    undoable = True

    def params_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {name: {"type": "boolean"} for name in SWITCHES},
            "additionalProperties": False,
            "minProperties": 1,
        }

    def validate(self, params: Any) -> dict[str, Any]:
        if not isinstance(params, dict) or not params:
            raise ActionError("params: name at least one switch", "params")
        for key, value in params.items():
            if key not in SWITCHES:
                raise ActionError(f"params.{key}: no such switch", f"params.{key}")
            if not isinstance(value, bool):
                raise ActionError(f"params.{key}: must be true or false", f"params.{key}")
        return dict(params)

    def unavailable(self, stack: Stack) -> str | None:
        return None if isinstance(stack, FlagFile) else "this stack cannot rewrite the services' flag file"

    def _set(self, stack: Stack, values: Mapping[str, Any]) -> Outcome:
        if not isinstance(stack, FlagFile):
            raise ActionUnavailable("this stack cannot rewrite the services' flag file")
        path = stack.flag_file()
        before: dict[str, Any] = {}
        try:
            for name, value in values.items():
                before[name] = flagfile.set_switch(path, name, bool(value))
        except ServiceError as exc:
            raise ActionError(str(exc)) from None
        return Outcome(before=before, after=dict(values))

    def run(self, stack: Stack, params: dict[str, Any]) -> Outcome:
        return self._set(stack, params)

    def undo(self, stack: Stack, params: dict[str, Any], done: Outcome) -> Outcome:
        return self._set(stack, done.before)


ACTIONS: Mapping[str, Action] = {"flag": FlagAction()}
