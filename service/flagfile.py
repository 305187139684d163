"""The flag file: a profile's switches as flag definitions in flagd's format (https://flagd.dev).

One file per stack (``runs/<id>/flags/flags.json``; in a container ``/etc/crashlab/flags/flags.json``,
the same file bind-mounted). The game reads it through OpenFeature (``service.flags``); people and
tools flip a switch by rewriting it (:func:`set_switch`, atomically: a temporary file, then a rename).

Flags, for every switch of :data:`service.profile.SWITCHES`:

- ``<switch>``: boolean, variants ``on`` (true) and ``off`` (false); ``defaultVariant`` says which
  one is in force. ``crashlab flag set <switch> on|off`` rewrites only this.
- ``<switch>.settings``: object, one variant ``active`` holding the switch's settings
  (``{"failure_threshold": 5, ...}``).

plus ``settings``: object, one variant ``active`` with the profile's name and top-level knobs
(``{"name": "naive", "round_buffer_kb": 256, "trace_sample_ratio": 1.0}``).
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from service.errors import ServiceError
from service.profile import SWITCHES, Profile

SCHEMA_URL = "https://flagd.dev/schema/v0/flags.json"
SETTINGS_SUFFIX = ".settings"
#: the object flag of the profile's name and top-level knobs
PROFILE_FLAG = "settings"
ACTIVE = "active"
VARIANTS = {"on": True, "off": False}


def settings_flag(switch: str) -> str:
    return f"{switch}{SETTINGS_SUFFIX}"


def _object_flag(value: dict[str, Any]) -> dict[str, Any]:
    return {"state": "ENABLED", "variants": {ACTIVE: value}, "defaultVariant": ACTIVE}


def document(profile: Profile) -> dict[str, Any]:
    """The flag definitions of ``profile`` (the inverse of what ``service.flags`` evaluates)."""
    flags: dict[str, Any] = {}
    for name in SWITCHES:
        section = getattr(profile, name).model_dump(mode="json")
        enabled = bool(section.pop("enabled"))
        flags[name] = {
            "state": "ENABLED",
            "variants": dict(VARIANTS),
            "defaultVariant": "on" if enabled else "off",
        }
        flags[settings_flag(name)] = _object_flag(section)
    knobs = profile.model_dump(mode="json", exclude=set(SWITCHES))
    flags[PROFILE_FLAG] = _object_flag(knobs)
    return {"$schema": SCHEMA_URL, "metadata": {"flagSetId": "crashlab"}, "flags": flags}


def _write(path: Path, data: dict[str, Any]) -> None:
    """Atomically: readers (the flag file watcher, a container's bind mount of the folder) see the old
    file or the new one, never a half-written one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2)
            out.write("\n")
        # readable by the container's service user (the folder is bind-mounted)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write(path: Path, profile: Profile) -> Path:
    """Write ``profile`` as the flag file ``path`` (atomically, after any flip in progress); returns
    ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        _write(path, document(profile))
    return path


def restore(path: Path, content: bytes) -> None:
    """Put back an earlier copy of the flag file (``content``: its bytes), atomically, after any flip
    in progress (a game day restores the switches it started with)."""
    try:
        data = json.loads(content)
    except ValueError as exc:
        raise ServiceError(f"{path}: the copy to restore is not JSON: {exc}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        _write(path, data)


def read(path: Path) -> dict[str, Any]:
    """The flag file's JSON document; a :class:`ServiceError` names the file when it is unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ServiceError(f"{path}: no flag file") from None
    except (OSError, ValueError) as exc:
        raise ServiceError(f"{path}: not a readable JSON flag file: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("flags"), dict):
        raise ServiceError(f"{path}: not a flag file (no `flags` mapping)")
    return data


def unknown_switch(name: str) -> ServiceError:
    close = difflib.get_close_matches(name, SWITCHES, n=1)
    hint = f"; did you mean {close[0]}?" if close else f"; switches: {', '.join(SWITCHES)}"
    return ServiceError(f"unknown switch {name!r}{hint}")


def switches(path: Path) -> dict[str, bool]:
    """Each switch's ``enabled`` as the file says it (its ``defaultVariant``)."""
    return _switches(path, read(path))


def _switches(path: Path, data: dict[str, Any]) -> dict[str, bool]:
    flags = data["flags"]
    out: dict[str, bool] = {}
    for name in SWITCHES:
        flag = flags.get(name)
        if not isinstance(flag, dict) or not isinstance(flag.get("variants"), dict):
            raise ServiceError(f"{path}: flags.{name}: missing or not a flag definition")
        out[name] = bool(flag["variants"].get(flag.get("defaultVariant")))
    return out


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One read-modify-write at a time (two flips of different switches must not lose one)."""
    lock = path.parent / f".{path.name}.lock"
    with lock.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def set_switch(path: Path, name: str, enabled: bool) -> bool:
    """Turn switch ``name`` on or off in the flag file (an atomic rewrite); returns the previous value."""
    return set_switches(path, {name: enabled})[name]


def set_switches(path: Path, values: Mapping[str, bool]) -> dict[str, bool]:
    """Turn several switches on or off in one atomic rewrite of the flag file; returns their previous
    values."""
    for name in values:
        if name not in SWITCHES:
            raise unknown_switch(name)
    read(path)  # a missing or broken file is an error before anything is locked or written
    with _locked(path):
        data = read(path)
        before = _switches(path, data)
        for name, enabled in values.items():
            flag = data["flags"][name]
            flag["variants"] = dict(VARIANTS)
            flag["defaultVariant"] = "on" if enabled else "off"
            flag["state"] = "ENABLED"
            flag.pop("targeting", None)
        _write(path, data)
    return {name: before[name] for name in values}
