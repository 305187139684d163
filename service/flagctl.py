"""``crashlab flag list|set``: the running stack's switches, from a terminal.

The stack is found through its state file (local first, then Docker); its flag file is
``runs/<id>/flags/flags.json``. A flip rewrites that file atomically and waits until the game reports
the change on ``GET /healthz``; it is journaled as ``flag set`` in the stack's run directory.
"""

from __future__ import annotations

import getpass
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from crashlab.journal import Journal
from service import flagfile
from service.errors import ServiceError
from service.profile import SWITCHES

#: how long ``flag set`` waits for the game to report the change (it applies within about 0.5 s)
CONFIRM_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class RunningFlags:
    """Where the running stack's switches live and who reports them."""

    runtime: str
    flag_file: Path
    game_url: str
    journal: Path

    def in_force(self, timeout_s: float = 2.0) -> dict[str, bool]:
        """The switches the game reports on ``/healthz``."""
        url = f"{self.game_url}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as resp:
                body = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            exc.close()
            raise ServiceError(f"game at {self.game_url}: /healthz answered {exc.code}") from None
        except (OSError, ValueError) as exc:
            raise ServiceError(f"game at {self.game_url}: /healthz does not answer ({exc})") from None
        switches = body.get("switches") if isinstance(body, dict) else None
        if not isinstance(switches, dict):
            raise ServiceError(f"game at {self.game_url}: /healthz reports no switches")
        return {str(k): bool(v) for k, v in switches.items()}

    def in_file(self) -> dict[str, bool]:
        return flagfile.switches(self.flag_file)

    def set(self, name: str, enabled: bool, timeout_s: float = CONFIRM_TIMEOUT_S) -> tuple[bool, float]:
        """Flip ``name`` in the flag file, journal it, and wait until the game reports it; returns the
        previous value and how long the game took."""
        if name not in SWITCHES:
            raise flagfile.unknown_switch(name)
        started = time.monotonic()
        previous = flagfile.set_switch(self.flag_file, name, enabled)
        Journal(self.journal, source="flag").write(
            "flag",
            "set",
            flag=name,
            enabled=enabled,
            previous=previous,
            actor=_actor(),
            flag_file=str(self.flag_file),
        )
        deadline = started + timeout_s
        last = ""
        while True:
            try:
                if self.in_force(timeout_s=1.0).get(name) is enabled:
                    return previous, time.monotonic() - started
                last = "it still reports the old value"
            except ServiceError as exc:
                last = str(exc)
            if time.monotonic() >= deadline:
                raise ServiceError(
                    f"{self.flag_file}: {name} set {_word(enabled)}, but the game did not report it within "
                    f"{timeout_s:.0f} s ({last}); it applies when the game reads the file"
                )
            time.sleep(0.05)


def _word(enabled: bool) -> str:
    return "on" if enabled else "off"


def _actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def find(runtime: str | None = None) -> RunningFlags:
    """The running stack's flags (``runtime`` None: the first runtime with a running stack)."""
    from stack import registry
    from stack.capabilities import FlagFile

    for name in (runtime,) if runtime else registry.NAMES:
        stack = registry.get(name).attach()
        if stack is None:
            continue
        if not isinstance(stack, FlagFile):
            raise ServiceError(f"the running {name} stack has no flag file")
        flag_file = stack.flag_file()
        if not flag_file.is_file():
            raise ServiceError(
                f"{flag_file}: the running {name} stack has no flag file (started by an older crashlab?)"
            )
        return RunningFlags(name, flag_file, stack.urls["game"], stack.run_dir.journal_path)
    which = f"{runtime} " if runtime else ""
    raise ServiceError(
        f"no {which}stack is running; start one with `crashlab up` (or a drill with --keep-up)"
    )


def render(flags: RunningFlags, in_force: dict[str, bool]) -> list[str]:
    """The table ``crashlab flag list`` prints: each switch in force, and the file's value when the
    game has not applied it yet."""
    in_file = flags.in_file()
    lines = [f"{flags.runtime} stack: game {flags.game_url}, flag file {flags.flag_file}"]
    lines.append(f"{'switch':<22} in force")
    for name in SWITCHES:
        line = f"{name:<22} {_word(in_force.get(name, False))}"
        if name in in_file and in_file[name] != in_force.get(name):
            line += f"   (file: {_word(in_file[name])}, not applied yet)"
        lines.append(line)
    return lines
