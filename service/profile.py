"""Profiles: which resilience fixes are on. ``naive`` is the launch-day service, ``hardened`` has every fix.

A profile is a YAML file whose top-level keys are the switches of docs/contracts.md; each switch has an
``enabled`` bool and its own settings. ``CRASHLAB_SWITCH_<NAME>=true|false`` toggles one switch's
``enabled``; ``CRASHLAB_SWITCH_<NAME>_<SETTING>=value`` sets one of its settings.

:func:`load_profile` is THE merge: a profile file, then the ``CRASHLAB_SWITCH_*`` environment, then
switch overrides (a drill's ``target.switches``, ``crashlab up --switch``). Every runtime calls it once
and delivers its result to the service as one flag file (``service.flagfile``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crashlab.safe_yaml import YamlError, load_yaml_file, load_yaml_text
from service.errors import ServiceError

PROFILES_DIR = Path(__file__).parent / "profiles"
SWITCH_ENV_PREFIX = "CRASHLAB_SWITCH_"

#: The resilience switches of docs/contracts.md: a profile's top-level keys (the scenario model's too).
SwitchName = Literal[
    "deadline",
    "retry",
    "circuit_breaker",
    "bulkhead",
    "pooled_client",
    "load_shedding",
    "rate_limit",
    "fallback",
    "panic_recovery",
    "handler_cancellation",
]
SWITCHES: tuple[str, ...] = get_args(SwitchName)


class _Switch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = False


class Deadline(_Switch):
    """A per-request deadline, propagated as ``X-Request-Deadline-Ms`` and as client timeouts."""

    request_ms: int = Field(800, gt=0)
    #: the most one dependency attempt may take (also bounded by what is left of the deadline)
    attempt_ms: int = Field(400, gt=0)


class Retry(_Switch):
    """Enabled: capped exponential backoff with full jitter and a retry budget. Disabled: naive retries."""

    max_attempts: int = Field(3, ge=1)
    base_ms: int = Field(25, ge=0)
    cap_ms: int = Field(250, ge=0)
    #: retries may be at most this share of first attempts (token bucket, Finagle-style)
    budget_ratio: float = Field(0.2, ge=0, le=10)
    budget_min_per_s: float = Field(2.0, ge=0)
    #: naive behaviour when disabled: retry every ``naive_interval_ms`` up to ``naive_max_attempts``
    #: (0 = no limit: until the call succeeds or the process dies)
    naive_interval_ms: int = Field(200, ge=0)
    naive_max_attempts: int = Field(0, ge=0)


class CircuitBreaker(_Switch):
    failure_threshold: int = Field(5, ge=1)
    #: the breaker also opens when this share of the last ``window`` calls failed
    failure_rate: float = Field(0.5, gt=0, le=1)
    window: int = Field(20, ge=1)
    open_s: float = Field(2.0, gt=0)
    half_open_max_calls: int = Field(1, ge=1)


class Bulkhead(_Switch):
    max_concurrent: int = Field(32, ge=1)
    max_wait_ms: int = Field(0, ge=0)


class PooledClient(_Switch):
    limit: int = Field(64, ge=1)
    #: naive (disabled): a session whose call failed is never closed (a connection leak)
    leak_on_error: bool = True
    #: naive (disabled): background work panics when open connections pass this bound (0 = never)
    pool_exhausted_at: int = Field(0, ge=0)


class LoadShedding(_Switch):
    max_in_flight: int = Field(200, ge=1)
    retry_after_s: int = Field(1, ge=0)


class RateLimit(_Switch):
    rate_per_s: float = Field(20.0, gt=0)
    burst: int = Field(40, ge=1)
    max_players: int = Field(10000, ge=1)


class Fallback(_Switch):
    cache_ttl_s: float = Field(60.0, ge=0)
    cache_size: int = Field(10000, ge=1)
    default_win_rate: float = Field(1 / 3, ge=0, le=1)


class PanicRecovery(_Switch):
    pass


class HandlerCancellation(_Switch):
    pass


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "custom"
    deadline: Deadline = Deadline()
    retry: Retry = Retry()
    circuit_breaker: CircuitBreaker = CircuitBreaker()
    bulkhead: Bulkhead = Bulkhead()
    pooled_client: PooledClient = PooledClient()
    load_shedding: LoadShedding = LoadShedding()
    rate_limit: RateLimit = RateLimit()
    fallback: Fallback = Fallback()
    panic_recovery: PanicRecovery = PanicRecovery()
    handler_cancellation: HandlerCancellation = HandlerCancellation()
    #: every in-flight round holds a working buffer of this size (memory grows with in-flight work)
    round_buffer_kb: int = Field(64, ge=0)
    #: the share of requests traced (1.0: every request)
    trace_sample_ratio: float = Field(1.0, ge=0, le=1)

    def switches(self) -> dict[str, bool]:
        return {name: getattr(self, name).enabled for name in SWITCHES}


def _parse_scalar(text: str, where: str) -> Any:
    return load_yaml_text(text, where)


def env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    """``CRASHLAB_SWITCH_*`` variables as a nested dict to merge into a profile."""
    out: dict[str, Any] = {}
    for key, raw in env.items():
        if not key.startswith(SWITCH_ENV_PREFIX):
            continue
        rest = key[len(SWITCH_ENV_PREFIX) :].lower()
        switch = next((s for s in sorted(SWITCHES, key=len, reverse=True) if rest.startswith(s)), None)
        if switch is None:
            if rest in Profile.model_fields:
                out[rest] = _parse_scalar(raw, key)
                continue
            raise ServiceError(
                f"{key}: unknown switch; expected CRASHLAB_SWITCH_<{'|'.join(SWITCHES).upper()}>"
            )
        setting = rest[len(switch) :].lstrip("_") or "enabled"
        out.setdefault(switch, {})[setting] = _parse_scalar(raw, key)
    return out


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def switch_overrides(switches: Mapping[str, Any]) -> dict[str, Any]:
    """Switch overrides as profile sections: ``{"retry": False}`` is ``{"retry": {"enabled": False}}``,
    a mapping sets settings (and ``enabled`` when it has it); top-level knobs pass as they are."""
    out: dict[str, Any] = {}
    for name, value in switches.items():
        if name in SWITCHES:
            if isinstance(value, bool):
                out[name] = {"enabled": value}
            elif isinstance(value, Mapping):
                out[name] = dict(value)
            else:
                raise ServiceError(
                    f"switches.{name}: expected true or false (or a mapping of settings), got {value!r}"
                )
        elif name in Profile.model_fields:
            out[name] = value
        else:
            raise ServiceError(f"switches.{name}: unknown switch; expected one of {', '.join(SWITCHES)}")
    return out


def profile_path(spec: str) -> Path:
    """``naive`` and ``hardened`` are the shipped profiles; anything else is a YAML file path."""
    return PROFILES_DIR / f"{spec}.yaml" if spec in ("naive", "hardened") else Path(spec)


def load_profile(
    spec: str, env: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Profile:
    """The effective switches: the profile ``spec`` (``naive``, ``hardened`` or a YAML file path), then
    the ``CRASHLAB_SWITCH_*`` variables of ``env`` (default: the process environment), then
    ``overrides`` (see :func:`switch_overrides`). The one merge every runtime uses."""
    path = profile_path(spec)
    if not path.exists():
        raise ServiceError(f"{path}: profile not found (use naive, hardened or a YAML file)")
    try:
        raw = load_yaml_file(path) or {}
    except YamlError as exc:
        raise ServiceError(str(exc)) from None
    if not isinstance(raw, dict):
        raise ServiceError(f"{path}: a profile is a mapping of switches")
    raw.setdefault("name", path.stem)
    data = _merge(raw, env_overrides(os.environ if env is None else env))
    if overrides:
        data = _merge(data, switch_overrides(overrides))
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ServiceError(f"{path}: {where}: {err['msg']}") from None
