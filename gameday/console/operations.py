"""The console's side of the actions: the registry (``gameday.actions``) on the stack it acts on.

The console lists the registry's actions (never a fault), validates a request completely before
anything happens (a refused request is a 400 and changes nothing), runs one action at a time per game
day (in a thread: a restart waits until the part is healthy) and reports what it changed. Journaling
is the caller's (it knows the actor).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gameday.actions import ACTIONS, Action, ActionError, ActionUnavailable, Outcome
from gameday.console.http import ConsoleError
from service import flagfile
from service.errors import ServiceError
from stack.capabilities import FlagFile
from stack.runtime import Stack

log = logging.getLogger("gameday.console")
#: the console's own action: the "we need an action we don't have" box
UNAVAILABLE = "unavailable"
UNDO = "undo"


@dataclass(frozen=True)
class Done:
    """What became of an action: ``ok``, ``failed`` (``error`` says why) or ``not_available``."""

    result: str
    error: str | None = None
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)


class Operator:
    def __init__(self, stack: Stack | None, actions: Mapping[str, Action] = ACTIONS) -> None:
        self.stack = stack
        self.actions = actions
        self._lock = asyncio.Lock()

    # --- what the consoles show ------------------------------------------------------------------------
    def why_not(self, action: Action) -> str | None:
        if self.stack is None:
            return "the console is not attached to a stack"
        return action.unavailable(self.stack)

    def catalogue(self) -> list[dict[str, Any]]:
        return [
            {
                "name": a.name,
                "summary": a.summary,
                "params_schema": a.params_schema(),
                "undoable": a.undoable,
                "unavailable": self.why_not(a),
            }
            for a in self.actions.values()
        ]

    @property
    def flag_file(self) -> Path | None:
        return self.stack.flag_file() if isinstance(self.stack, FlagFile) else None

    def switches(self) -> dict[str, bool]:
        """The switches as the flag file says (what the game applies within a second); {} without one."""
        path = self.flag_file
        if path is None:
            return {}
        try:
            return flagfile.switches(path)
        except ServiceError as exc:
            log.warning("switches: %s", exc)
            return {}

    # --- doing ---------------------------------------------------------------------------------------
    def check(self, name: str, params: Any) -> tuple[Action, dict[str, Any]]:
        """The action and its validated params; a 400 naming the field otherwise."""
        action = self.actions.get(name)
        if action is None:
            known = ", ".join([*self.actions, UNAVAILABLE])
            raise ConsoleError(400, f"action: no action {name!r} (actions: {known})", "action")
        try:
            return action, action.validate(params)
        except ActionError as exc:
            raise ConsoleError(400, str(exc), exc.field or "params") from None

    async def run(self, action: Action, params: dict[str, Any]) -> Done:
        return await self._do(action, lambda stack: action.run(stack, params))

    async def undo(self, action: Action, params: dict[str, Any], before: Any, after: Any) -> Done:
        done = Outcome(before=dict(before or {}), after=dict(after or {}))
        return await self._do(action, lambda stack: action.undo(stack, params, done))

    async def _do(self, action: Action, call: Any) -> Done:
        why = self.why_not(action)
        if why is not None or self.stack is None:
            return Done("not_available", why)
        stack = self.stack
        async with self._lock:
            try:
                outcome: Outcome = await asyncio.to_thread(call, stack)
            except ActionUnavailable as exc:
                return Done("not_available", str(exc))
            except ActionError as exc:
                return Done("failed", str(exc))
            except Exception as exc:  # the live system failed in a way nobody foresaw: say so, go on
                log.exception("action %s failed", action.name)
                return Done("failed", f"{type(exc).__name__}: {exc}")
        return Done("ok", None, dict(outcome.before), dict(outcome.after))
