"""The switches in force: a snapshot (a :class:`Profile`) that the request path reads, never one flag
evaluation per flag per request.

- :class:`FlagFileSwitchboard` reads the flag file (``service.flagfile``) through OpenFeature: the flagd
  provider in in-process FILE mode watches the file (every :data:`POLL_MS`); its configuration-change
  event re-evaluates every flag once and hands the new snapshot to the event loop, which applies it
  (listeners rebuild what changed). A change is in force within about half a second, no restart.
- :class:`StaticSwitchboard` is a fixed profile, no OpenFeature (``crashlab serve`` without
  ``--flag-file``, in-process tests, and the benchmark's "without flags" target).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.contrib.provider.flagd import FlagdProvider
from openfeature.contrib.provider.flagd.config import ResolverType
from openfeature.event import EventDetails, ProviderEvent
from openfeature.provider.no_op_provider import NoOpProvider
from pydantic import ValidationError

from service import flagfile
from service.errors import ServiceError
from service.profile import SWITCHES, Profile

#: how often the provider looks at the flag file's mtime
POLL_MS = 200
Listener = Callable[[Profile, Profile], None]
#: where a problem with the flag file is reported (level, message)
Reporter = Callable[[str, str], None]

_domains = itertools.count(1)
# the provider logs a traceback on every poll while the file is unreadable; the switchboard reports the
# problem once, in the service's JSON log
logging.getLogger("openfeature").addHandler(logging.NullHandler())
logging.getLogger("openfeature").propagate = False


class Switchboard:
    """The current switches and who wants to know when they change (listeners run on the loop)."""

    def __init__(self, profile: Profile) -> None:
        self.current = profile
        self._listeners: list[Listener] = []

    @property
    def source(self) -> str:
        return "static"

    def on_change(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def apply(self, profile: Profile) -> None:
        """Make ``profile`` the switches in force (on the event loop's thread)."""
        old, self.current = self.current, profile
        if old == profile:
            return
        for listener in self._listeners:
            listener(old, profile)

    def start(self, report: Reporter) -> None:
        """Begin following changes (listeners are called on the running loop)."""
        del report

    def close(self) -> None:
        """Stop following changes."""


class StaticSwitchboard(Switchboard):
    """A fixed profile."""


def _details_value(
    client: OpenFeatureClient, key: str, default: Any, problems: list[str], *, kind: str
) -> Any:
    if kind == "boolean":
        details: Any = client.get_boolean_details(key, default)
    else:
        details = client.get_object_details(key, default)
    if details.error_code is not None:
        problems.append(f"{key}: {details.error_code.value}: {details.error_message or ''}".strip())
        return default
    return details.value


class FlagFileSwitchboard(Switchboard):
    """The switches of a flag file, read through OpenFeature (flagd provider, in-process FILE mode)."""

    def __init__(self, path: Path, *, poll_ms: int = POLL_MS) -> None:
        self.path = path
        self.domain = f"crashlab-switches-{next(_domains)}"
        self._client = api.get_client(self.domain)
        self._provider = FlagdProvider(
            resolver_type=ResolverType.FILE, offline_flag_source_path=str(path), deadline_ms=poll_ms
        )
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._report: Reporter = lambda level, message: None
        self._last_problem = ""
        self._started = False
        if not path.is_file():
            raise ServiceError(f"{path}: no flag file")
        try:
            api.set_provider_and_wait(self._provider, self.domain)
        except Exception as exc:
            self._release()
            raise ServiceError(f"{path}: not a valid flag file: {exc}") from None
        profile, problems = self.evaluate(None)
        if profile is None or problems:
            self._release()
            raise ServiceError(f"{path}: {'; '.join(problems)}")
        super().__init__(profile)

    @property
    def source(self) -> str:
        return f"file:{self.path}"

    def evaluate(self, previous: Profile | None) -> tuple[Profile | None, list[str]]:
        """Every flag once: the profile they make, and what was wrong (missing flags keep
        ``previous``' values; an invalid result is None)."""
        base = previous or Profile()
        problems: list[str] = []
        data: dict[str, Any] = {}
        for name in SWITCHES:
            section = getattr(base, name).model_dump(mode="json")
            enabled = section.pop("enabled")
            value = _details_value(self._client, name, enabled, problems, kind="boolean")
            settings = _details_value(
                self._client, flagfile.settings_flag(name), section, problems, kind="object"
            )
            if not isinstance(settings, Mapping):
                problems.append(f"{flagfile.settings_flag(name)}: not an object")
                settings = section
            data[name] = {**settings, "enabled": value}
        knobs = base.model_dump(mode="json", exclude=set(SWITCHES))
        extra = _details_value(self._client, flagfile.PROFILE_FLAG, knobs, problems, kind="object")
        if isinstance(extra, Mapping):
            data |= dict(extra)
        try:
            return Profile.model_validate(data), problems
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                where = _flag_of(err["loc"])
                problems.append(f"{where}: {err['msg']}")
            return None, problems

    def start(self, report: Reporter) -> None:
        self._loop = asyncio.get_running_loop()
        self._report = report
        self._started = True
        self._client.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, self._changed)
        self._client.add_handler(ProviderEvent.PROVIDER_ERROR, self._error)
        # a change between the first read and now
        self._changed(None)

    def _changed(self, details: EventDetails | None) -> None:
        """On the provider's event thread: evaluate once, hand the snapshot to the loop. The lock
        keeps snapshots in the order they were evaluated."""
        del details
        with self._lock:
            loop = self._loop
            if loop is None:
                return
            profile, problems = self.evaluate(self.current)
            message = "; ".join(problems)
            if message and message != self._last_problem:
                kept = "kept the switches in force" if profile is None else "missing flags keep their value"
                self._post(loop, "error", f"flag file {self.path}: {message} ({kept})")
            self._last_problem = message
            if profile is not None:
                try:
                    loop.call_soon_threadsafe(self.apply, profile)
                except RuntimeError:  # the loop is closed: the service is stopping
                    return

    def _error(self, details: EventDetails) -> None:
        message = details.message or "unreadable"
        if message != self._last_problem and self._loop is not None:
            self._last_problem = message
            self._post(self._loop, "error", f"flag file {self.path}: {message} (kept the switches in force)")

    def _post(self, loop: asyncio.AbstractEventLoop, level: str, message: str) -> None:
        try:
            loop.call_soon_threadsafe(self._report, level, message)
        except RuntimeError:
            return

    def close(self) -> None:
        with self._lock:
            self._loop = None
        if self._started:
            self._started = False
            self._client.remove_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, self._changed)
            self._client.remove_handler(ProviderEvent.PROVIDER_ERROR, self._error)
        self._release()

    def _release(self) -> None:
        self._provider.shutdown()
        # frees the domain; OpenFeature shuts the replaced provider down in its own thread
        api.set_provider(NoOpProvider(), self.domain)


def _flag_of(loc: Sequence[int | str]) -> str:
    """A validation error's location as the flag that holds it: ``retry.settings.max_attempts``."""
    head = str(loc[0]) if loc else "?"
    if head in SWITCHES:
        rest = [str(p) for p in loc[1:]]
        if rest == ["enabled"]:
            return head
        return ".".join([flagfile.settings_flag(head), *rest])
    return ".".join([flagfile.PROFILE_FLAG, *(str(p) for p in loc)])


def read_profile(path: Path) -> Profile:
    """The flag file's switches, read once through OpenFeature (the odds service's trace settings)."""
    board = FlagFileSwitchboard(path)
    try:
        return board.current
    finally:
        board._release()


__all__ = ["FlagFileSwitchboard", "StaticSwitchboard", "Switchboard", "read_profile"]
