"""The team's actions on the live system: one registry (:data:`ACTIONS`), each action with a typed params
model, ``run``, ``undo`` and the stack capabilities it needs (:mod:`stack.capabilities`).

- ``flag`` ``{<switch>: bool, ...}``: rewrites the stack's flag file (one atomic rewrite); undo: the
  previous values.
- ``restart`` ``{service: game}``: the stack restarts the part (returns once it is healthy); no undo.
- ``deploy`` ``{profile: initial|naive|hardened|<file>}``: the flag file rebuilt from that build, then a
  restart; undo: the previous flag file, then a restart.
- ``memory_limit`` ``{service: game, mb: int}``: the part's memory limit, in force at once; undo: the
  previous limit.
- ``silence`` ``{alert, duration, comment}``: an Alertmanager silence (API v2); undo: expire it.

The console (GAMEDAY.md, "The action registry seam") validates a request with :meth:`Action.validate`,
lists only what :meth:`Action.unavailable` allows, runs ``run``/``undo`` in a thread and journals the
``team action`` record (actor, params, result, before/after); ``undo`` gets the journaled params and
before/after, so it works after a console restart. The ``unavailable`` box ("we need an action we do
not have") is the console's own record, not an action here.

``deploy``'s builds: ``initial`` is the one the game day started with (the drill's ``target.profile``
and switch overrides, from the stack's manifest), ``naive`` and ``hardened`` the service's profiles, a
file a ``.yaml`` profile in the drill file's folder.

:class:`Snapshot` is the runner's: the flag file and memory limits taken when the game day starts and
put back on every exit path, with the team's silences expired.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, StrictBool, ValidationError

from chaos.scenario.messages import convert, format_loc
from crashlab.durations import PositiveFixedDuration
from crashlab.errors import CrashlabError
from crashlab.journal import JournalEvent
from crashlab.rundir import ManifestError
from crashlab.timeutil import iso, utcnow
from gameday.errors import GamedayError
from gameday.model import ACTION_NAMES
from service import flagfile
from service.profile import SwitchName
from stack.capabilities import AlertmanagerUrl, Capability, FlagFile, MemoryLimits, RestartsParts
from stack.http import http_call
from stack.runtime import Stack
from stack.switches import rebuild_flag_file

__all__ = [
    "ACTIONS",
    "Action",
    "ActionError",
    "ActionUnavailable",
    "Outcome",
    "Snapshot",
    "missing",
]

#: ``deploy``: the build the game day started with (the drill's profile and switch overrides)
INITIAL = "initial"
BUILTIN_PROFILES = ("naive", "hardened")
#: the services the team may restart or limit (odds is the third party's)
TeamService = Literal["game"]
#: the longest silence (a day; a game day needs less)
MAX_SILENCE_S = 24 * 3600.0
MAX_TEXT = 500


class ActionError(GamedayError):
    """The action cannot be done as asked; ``str()`` is shown to the team, ``field`` names the params
    field at fault (a 400 before anything happens) when there is one."""

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


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Action:
    """One kind of action: its params model, the capabilities it needs, ``run`` and (maybe) ``undo``."""

    name: ClassVar[str]
    summary: ClassVar[str]
    params: ClassVar[type[BaseModel]]
    needs: ClassVar[frozenset[Capability]] = frozenset()
    undoable: ClassVar[bool] = False

    def params_schema(self) -> dict[str, Any]:
        return self.params.model_json_schema()

    def validate(self, params: Any) -> dict[str, Any]:
        """The params checked and normalised (JSON); an :class:`ActionError` naming the first bad field."""
        return self.typed(params).model_dump(mode="json")

    def typed(self, params: Any) -> BaseModel:
        data = {} if params is None else params
        try:
            return self.params.model_validate(data)
        except ValidationError as exc:
            loc, message = convert(exc.errors(include_url=False)[0], data, root=self.params)
            where = format_loc(("params", *(p for p in loc if p != "root")))
            raise ActionError(f"{where}: {message}", where) from None

    def unavailable(self, stack: Stack) -> str | None:
        """Why this stack cannot do the action (the capabilities it lacks), None when it can."""
        lacking = [c for c in sorted(self.needs, key=lambda c: c.value) if not isinstance(stack, c.protocol)]
        if not lacking:
            return None
        return f"this stack cannot {' or '.join(c.means for c in lacking)}"

    def run(self, stack: Stack, params: dict[str, Any]) -> Outcome:
        self._check(stack)
        try:
            return self.do(stack, self.typed(params))
        except ActionError:
            raise
        except CrashlabError as exc:
            raise ActionError(str(exc)) from None

    def undo(self, stack: Stack, params: dict[str, Any], done: Outcome) -> Outcome:
        if not self.undoable:
            raise ActionError(f"{self.name} cannot be undone")
        self._check(stack)
        try:
            return self.revert(stack, self.typed(params), done)
        except ActionError:
            raise
        except CrashlabError as exc:
            raise ActionError(str(exc)) from None

    def _check(self, stack: Stack) -> None:
        why = self.unavailable(stack)
        if why is not None:
            raise ActionUnavailable(why)

    # what each action does (typed params; a CrashlabError becomes an ActionError)
    def do(self, stack: Stack, params: Any) -> Outcome:
        raise NotImplementedError

    def revert(self, stack: Stack, params: Any, done: Outcome) -> Outcome:
        raise ActionError(f"{self.name} cannot be undone")


# --- flag ---------------------------------------------------------------------------------------------


class FlagParams(RootModel[dict[SwitchName, StrictBool]]):
    """``{<switch>: true|false, ...}``: at least one switch."""

    root: dict[SwitchName, StrictBool] = Field(min_length=1)


def _flag_file(stack: Stack) -> Path:
    assert isinstance(stack, FlagFile)
    return stack.flag_file()


class FlagAction(Action):
    name = "flag"
    summary = "turn resilience switches on or off (in force within a second, no restart)"
    params = FlagParams
    needs = frozenset({Capability.FLAGS})
    undoable = True

    def do(self, stack: Stack, params: Any) -> Outcome:
        values = {str(k): bool(v) for k, v in params.root.items()}
        before = flagfile.set_switches(_flag_file(stack), values)
        return Outcome(before=before, after=values)

    def revert(self, stack: Stack, params: Any, done: Outcome) -> Outcome:
        values = {str(k): bool(v) for k, v in done.before.items()}
        if not values:
            raise ActionError("nothing to undo: the action recorded no switch values")
        current = flagfile.set_switches(_flag_file(stack), values)
        return Outcome(before=current, after=values)


# --- restart ------------------------------------------------------------------------------------------


class ServiceParams(Params):
    service: TeamService = "game"


def _pid(stack: Stack, part: str) -> int | None:
    for status in stack.status():
        if status.name == part:
            return status.pid
    return None


def _restart(stack: Stack, part: str) -> None:
    assert isinstance(stack, RestartsParts)
    stack.restart(part)


class RestartAction(Action):
    name = "restart"
    summary = "restart the game (a new process; waits until it answers)"
    params = ServiceParams
    needs = frozenset({Capability.RESTART})

    def do(self, stack: Stack, params: Any) -> Outcome:
        before = _pid(stack, params.service)
        _restart(stack, params.service)
        return Outcome(before={"pid": before}, after={"pid": _pid(stack, params.service)})


# --- deploy -------------------------------------------------------------------------------------------


class DeployParams(Params):
    profile: str = Field(
        min_length=1,
        max_length=200,
        description="initial (the build the game day started with), naive, hardened, or a .yaml profile "
        "file in the drill's folder",
    )


def _build_name(document: dict[str, Any]) -> str | None:
    settings = document.get("flags", {}).get(flagfile.PROFILE_FLAG, {})
    name = settings.get("variants", {}).get(flagfile.ACTIVE, {}).get("name")
    return name if isinstance(name, str) else None


def _build(stack: Stack, profile: str) -> tuple[str, Mapping[str, Any] | None]:
    """What ``load_profile`` reads for build ``profile``, and its switch overrides (``initial``'s)."""
    try:
        manifest = stack.run_dir.read_manifest()
    except (OSError, ManifestError):
        manifest = {}
    scenario_file = manifest.get("scenario_file")
    folder = Path(scenario_file).resolve().parent if isinstance(scenario_file, str) else None
    if profile == INITIAL:
        target = manifest.get("stack_target")
        if not isinstance(target, dict) or not isinstance(target.get("profile"), str):
            raise ActionError("the stack does not record the build it started with", "params.profile")
        ref = str(target["profile"])
        if ref not in BUILTIN_PROFILES and folder is not None and not Path(ref).is_absolute():
            ref = str(folder / ref)
        switches = target.get("switches")
        return ref, switches if isinstance(switches, dict) else None
    if profile in BUILTIN_PROFILES:
        return profile, None
    path = (folder / profile).resolve() if folder is not None else None
    if (
        path is None
        or folder is None
        or Path(profile).is_absolute()
        or not path.is_relative_to(folder)
        or path.suffix not in (".yaml", ".yml")
        or not path.is_file()
    ):
        where = f" in {folder}" if folder is not None else ""
        raise ActionError(
            f"params.profile: {profile!r} is not initial, naive, hardened or a .yaml profile file{where}",
            "params.profile",
        )
    return str(path), None


class DeployAction(Action):
    name = "deploy"
    summary = "restart the game as another build: initial, naive, hardened or a profile file"
    params = DeployParams
    needs = frozenset({Capability.FLAGS, Capability.RESTART})
    undoable = True

    def do(self, stack: Stack, params: Any) -> Outcome:
        path = _flag_file(stack)
        ref, overrides = _build(stack, params.profile)
        previous = flagfile.read(path)
        before = {
            "profile": _build_name(previous),
            "switches": flagfile.switches(path),
            "flag_file": previous,
        }
        try:
            rebuild_flag_file(path, ref, overrides, env={})
        except CrashlabError as exc:
            raise ActionError(f"params.profile: {exc}", "params.profile") from None
        _restart(stack, "game")
        return Outcome(before=before, after={"profile": params.profile, "switches": flagfile.switches(path)})

    def revert(self, stack: Stack, params: Any, done: Outcome) -> Outcome:
        previous = done.before.get("flag_file")
        if not isinstance(previous, dict):
            raise ActionError("nothing to undo: the deploy recorded no earlier flag file")
        path = _flag_file(stack)
        current = flagfile.read(path)
        flagfile.restore(path, json.dumps(previous).encode())
        _restart(stack, "game")
        return Outcome(
            before={"profile": _build_name(current), "switches": flagfile.switches(path)},
            after={"profile": _build_name(previous), "switches": flagfile.switches(path)},
        )


# --- memory_limit -------------------------------------------------------------------------------------


class MemoryLimitParams(Params):
    service: TeamService = "game"
    mb: int = Field(ge=32, le=65536, description="the new limit in MB")


def _limits(stack: Stack) -> MemoryLimits:
    assert isinstance(stack, MemoryLimits)
    return stack


class MemoryLimitAction(Action):
    name = "memory_limit"
    summary = "change the game's memory limit (in force at once)"
    params = MemoryLimitParams
    needs = frozenset({Capability.MEMORY_LIMIT})
    undoable = True

    def do(self, stack: Stack, params: Any) -> Outcome:
        previous = _limits(stack).set_memory_limit(params.service, params.mb)
        return Outcome(before={"mb": previous}, after={"mb": params.mb})

    def revert(self, stack: Stack, params: Any, done: Outcome) -> Outcome:
        limit = done.before.get("mb")
        if limit is not None and not isinstance(limit, int):
            raise ActionError(f"nothing to undo: the action recorded no limit (got {limit!r})")
        current = _limits(stack).set_memory_limit(params.service, limit)
        return Outcome(before={"mb": current}, after={"mb": limit})


# --- silence ------------------------------------------------------------------------------------------


class SilenceParams(Params):
    alert: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$", description="the alert's name")
    duration: PositiveFixedDuration = Field(le=MAX_SILENCE_S, description="how long, e.g. 30m")
    comment: str = Field(min_length=1, max_length=MAX_TEXT)


def _alertmanager(stack: Stack) -> str:
    assert isinstance(stack, AlertmanagerUrl)
    return stack.alertmanager_url().rstrip("/")


def expire_silence(alertmanager_url: str, silence_id: str) -> None:
    """Expire a silence (Alertmanager's API v2)."""
    http_call("DELETE", f"{alertmanager_url}/api/v2/silence/{silence_id}", timeout_s=10.0)


class SilenceAction(Action):
    name = "silence"
    summary = "silence an alert in Alertmanager for a while"
    params = SilenceParams
    needs = frozenset({Capability.ALERTMANAGER})
    undoable = True

    def do(self, stack: Stack, params: Any) -> Outcome:
        now = utcnow()
        ends = now + timedelta(seconds=params.duration)
        body = {
            "matchers": [{"name": "alertname", "value": params.alert, "isRegex": False, "isEqual": True}],
            "startsAt": iso(now),
            "endsAt": iso(ends),
            "createdBy": "crashlab game day",
            "comment": params.comment,
        }
        answer = http_call("POST", f"{_alertmanager(stack)}/api/v2/silences", body, timeout_s=10.0)
        silence_id = answer.get("silenceID") if isinstance(answer, dict) else None
        if not isinstance(silence_id, str):
            raise ActionError(f"Alertmanager answered without a silence id: {answer!r}")
        return Outcome(before={}, after={"silence_id": silence_id, "ends_at": iso(ends)})

    def revert(self, stack: Stack, params: Any, done: Outcome) -> Outcome:
        silence_id = done.after.get("silence_id")
        if not isinstance(silence_id, str) or not silence_id:
            raise ActionError("nothing to undo: the silence's id was not recorded")
        expire_silence(_alertmanager(stack), silence_id)
        return Outcome(before={"silence_id": silence_id}, after={"silence_id": silence_id, "expired": True})


ACTIONS: dict[str, Action] = {
    action.name: action
    for action in (FlagAction(), RestartAction(), DeployAction(), MemoryLimitAction(), SilenceAction())
}
assert tuple(ACTIONS) == ACTION_NAMES, "gameday.model.ACTION_NAMES and ACTIONS must list the same actions"


def missing(name: str, capabilities: Iterable[Capability]) -> list[Capability]:
    """What action ``name`` needs that ``capabilities`` (a runtime's) lacks."""
    have = set(capabilities)
    return sorted((c for c in ACTIONS[name].needs if c not in have), key=lambda c: c.value)


# --- what a game day restores -------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """The flag file and memory limits a game day started with, put back on every exit path."""

    flag_file: Path | None
    flags: bytes | None
    memory_limits_mb: dict[str, int | None]

    @classmethod
    def take(cls, stack: Stack, parts: Iterable[str] = ("game",)) -> Snapshot:
        path = stack.flag_file() if isinstance(stack, FlagFile) else None
        flags = path.read_bytes() if path is not None and path.is_file() else None
        limits: dict[str, int | None] = {}
        if isinstance(stack, MemoryLimits):
            limits = {part: stack.memory_limit_mb(part) for part in parts}
        return cls(path, flags, limits)

    def restore(self, stack: Stack, events: Iterable[JournalEvent] = ()) -> list[str]:
        """Put back the flag file and the memory limits and expire the team's silences still on; what was
        done, a line each. Each part on its own: one failing never stops the others (its line says why)."""
        done: list[str] = []
        if self.flag_file is not None and self.flags is not None:
            try:
                if self.flag_file.read_bytes() != self.flags:
                    flagfile.restore(self.flag_file, self.flags)
                    done.append(f"flag file {self.flag_file} restored")
            except (OSError, CrashlabError) as exc:
                done.append(f"flag file {self.flag_file}: restore failed: {exc}")
        if isinstance(stack, MemoryLimits):
            for part, limit in self.memory_limits_mb.items():
                try:
                    if stack.memory_limit_mb(part) != limit:
                        stack.set_memory_limit(part, limit)
                        done.append(
                            f"{part} memory limit restored to {'none' if limit is None else f'{limit} MB'}"
                        )
                except CrashlabError as exc:
                    done.append(f"{part} memory limit: restore failed: {exc}")
        if isinstance(stack, AlertmanagerUrl):
            done.extend(_expire_silences(stack, list(events)))
        return done


def _expire_silences(stack: AlertmanagerUrl, events: list[JournalEvent]) -> list[str]:
    actions = [e for e in events if e.type == "team" and e.event == "action" and e.get("result") == "ok"]
    undone = {e.get("undo_of") for e in actions if e.get("undo_of")}
    done = []
    now = iso(utcnow())
    for event in actions:
        after = event.get("after")
        if (
            event.get("action") != "silence"
            or event.get("action_id") in undone
            or not isinstance(after, dict)
        ):
            continue
        silence_id, ends = after.get("silence_id"), after.get("ends_at")
        if not isinstance(silence_id, str) or (isinstance(ends, str) and ends <= now):
            continue
        params = event.get("params")
        alert = params.get("alert") if isinstance(params, dict) else None
        try:
            expire_silence(stack.alertmanager_url().rstrip("/"), silence_id)
            done.append(f"silence {silence_id} ({alert}) expired")
        except CrashlabError as exc:
            done.append(f"silence {silence_id}: expiring it failed: {exc}")
    return done
