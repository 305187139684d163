"""Injected faults: a store with TTLs (every fault expires by itself) and the effects each type has.

Types and params are the fault contract (:mod:`crashlab.faultkinds`, docs/contracts.md). The store
schedules each fault's expiry with ``loop.call_later``; background effects (memory leak, CPU burn,
event-loop blocking) run as tasks or threads that stop when their fault ends.

The rules (docs/contracts.md, "Admin API"):

- Faults of one type combine as independent faults, each drawing its own ``rate``: the delays of
  ``latency`` (and of ``stall``) add up; for ``errors`` and ``exception`` the newest fault that hits
  decides; background effects run side by side.
- No effect outlives its fault: a request held by a delay waits on the fault's ``ended`` event with
  the delay as the timeout, so a revert or the expiry releases it at once; a ``loop_block`` block ends
  at the fault's expiry at the latest.
- A request is validated completely before anything changes: a refused one (4xx) changes nothing.
- A service holds at most :data:`~crashlab.faultkinds.MAX_ACTIVE_FAULTS` faults.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NoReturn

from pydantic import ValidationError

from crashlab.faultkinds import (
    MAX_ACTIVE_FAULTS,
    MAX_TTL_S,
    CpuBurnParams,
    ErrorsParams,
    ExceptionParams,
    LatencyParams,
    LoopBlockParams,
    MemoryLeakParams,
    Params,
    admin_kinds,
)
from crashlab.timeutil import iso, utcnow

#: the admin API's fault types of each service and their parameters models (the fault contract)
GAME_KINDS = admin_kinds("game")
ODDS_KINDS = admin_kinds("odds")
GAME_FAULTS = tuple(GAME_KINDS)
ODDS_FAULTS = tuple(ODDS_KINDS)
PARAMS: dict[str, type[Params]] = {**GAME_KINDS, **ODDS_KINDS}
#: the longest fault name (a drill step's label)
MAX_NAME_LENGTH = 256
#: background effects restarted when a PUT changes their params (the others read them live)
RESTART_ON_UPDATE = frozenset({"cpu_burn"})


class FaultError(ValueError):
    """A fault request that is not valid (400); the message names the field."""


class FaultLimitError(FaultError):
    """The service already holds :data:`MAX_ACTIVE_FAULTS` faults (409)."""


@dataclass
class Fault:
    id: str
    type: str
    name: str
    params: Params
    ttl_s: float
    started_at: datetime
    expires_at: datetime
    started_mono: float
    expires_mono: float
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    handle: asyncio.TimerHandle | None = None
    stop: Callable[[], None] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "name": self.name,
            "params": self.params.model_dump(),
            "ttl_s": self.ttl_s,
            "started_at": iso(self.started_at),
            "expires_at": iso(self.expires_at),
        }

    def hits(self, rng: random.Random) -> bool:
        rate: float = getattr(self.params, "rate", 1.0)
        return rate >= 1.0 or rng.random() < rate

    def delay_s(self, rng: random.Random) -> float:
        """For latency/stall: the delay now (ramped, jittered)."""
        p = self.params
        assert isinstance(p, LatencyParams), self.type
        ms = p.delay_ms(time.monotonic() - self.started_mono)
        if p.jitter_ms:
            ms += rng.uniform(-p.jitter_ms, p.jitter_ms)
        return max(0.0, ms) / 1000.0

    def remaining_s(self) -> float:
        return max(0.0, self.expires_mono - time.monotonic())


@dataclass(frozen=True)
class _Change:
    """A validated request: what to set (None: leave as it is)."""

    params: Params | None = None
    ttl_s: float | None = None
    name: str | None = None


def _params(type_: str, params: Any) -> Params:
    try:
        return PARAMS[type_].model_validate(params)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        if not err["loc"]:
            _refuse(f"params: must be a JSON object of the {type_} params")
        _refuse(f"params.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}")


def _ttl(ttl: Any) -> float:
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        _refuse(f"ttl_s: required, a JSON number of seconds > 0 and <= {MAX_TTL_S:g}")
    if not 0 < ttl <= MAX_TTL_S:
        _refuse(f"ttl_s: must be > 0 and <= {MAX_TTL_S:g} (got {ttl})")
    return float(ttl)


def _name(name: Any) -> str:
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_LENGTH:
        _refuse(f"name: must be a string of 1 to {MAX_NAME_LENGTH} characters")
    return name


def _refuse(message: str) -> NoReturn:
    raise FaultError(message)


def _body(body: Any, allowed: tuple[str, ...], shape: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        _refuse(f"body: must be a JSON object {shape}")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        _refuse(f"{unknown[0]}: unknown field; the body is {shape}")
    return body


class FaultStore:
    """The active faults of one service."""

    def __init__(
        self,
        allowed: tuple[str, ...],
        *,
        on_change: Callable[[dict[str, int]], None],
        seed: int,
        max_active: int = MAX_ACTIVE_FAULTS,
    ) -> None:
        self.allowed = allowed
        self.max_active = max_active
        self._faults: dict[str, Fault] = {}
        #: the active faults by id (read it, do not change it): the request path skips every effect
        #: check when it is empty, as it nearly always is
        self.in_force: Mapping[str, Fault] = self._faults
        self._on_change = on_change
        self.rng = random.Random(seed ^ 0x5EED)
        #: starts a background effect for a fault; returns its stopper
        self.starters: dict[str, Callable[[Fault], Callable[[], None]]] = {}
        on_change(self.counts())

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(self.allowed, 0)
        for fault in self._faults.values():
            counts[fault.type] += 1
        return counts

    def all(self) -> list[Fault]:
        return list(self._faults.values())

    def active(self, type_: str) -> list[Fault]:
        """The active faults of ``type_``, oldest first."""
        if not self._faults:  # the request path asks four times a round, nearly always of none
            return []
        return [f for f in self._faults.values() if f.type == type_]

    # --- the effects in the request path -------------------------------------------------------------

    def hit(self, type_: str, where: str | None = None) -> Fault | None:
        """The newest active fault of ``type_`` (and ``params.where``) that hits this time, each fault
        drawing its own ``rate``; None when none does."""
        for fault in reversed(self.active(type_)):
            if where is not None and not (
                isinstance(fault.params, ExceptionParams) and fault.params.where == where
            ):
                continue
            if fault.hits(self.rng):
                return fault
        return None

    def error(self) -> ErrorsParams | None:
        """The params of the ``errors`` fault that answers this request, if one hits."""
        fault = self.hit("errors")
        if fault is None:
            return None
        assert isinstance(fault.params, ErrorsParams)
        return fault.params

    async def hold(self, type_: str) -> None:
        """Wait the delays of every active ``type_`` fault (latency, stall) that hits, one after the other
        (they add up); each part ends early when its fault is reverted or expires."""
        for fault in [f for f in self.active(type_) if f.hits(self.rng)]:
            delay = fault.delay_s(self.rng)
            if delay <= 0 or fault.ended.is_set():
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await fault.ended.wait()

    # --- the admin API -------------------------------------------------------------------------------

    def inject(self, body: Any) -> Fault:
        """A new fault from a ``POST /admin/faults`` body; FaultError (400) or FaultLimitError (409)
        before anything changes."""
        body = _body(body, ("type", "params", "ttl_s", "name"), "{type, params, ttl_s, name}")
        type_ = body.get("type")
        if not isinstance(type_, str):
            _refuse("type: required, a string")
        if type_ not in self.allowed:
            _refuse(f"type: unknown fault type {type_!r}; this service takes {', '.join(self.allowed)}")
        params = _params(type_, {} if body.get("params") is None else body["params"])
        ttl = _ttl(body.get("ttl_s"))
        name = _name(body["name"]) if body.get("name") is not None else type_
        if len(self._faults) >= self.max_active:
            raise FaultLimitError(
                f"this service already holds {self.max_active} active faults (the most it takes); "
                "revert one first"
            )
        now, mono = utcnow(), time.monotonic()
        fault = Fault(
            id=secrets.token_hex(6),
            type=type_,
            name=name,
            params=params,
            ttl_s=ttl,
            started_at=now,
            expires_at=now + timedelta(seconds=ttl),
            started_mono=mono,
            expires_mono=mono + ttl,
        )
        self._faults[fault.id] = fault
        self._schedule(fault)
        self._start_effect(fault)
        self._on_change(self.counts())
        return fault

    def update(self, fault_id: str, body: Any) -> Fault:
        """A ``PUT /admin/faults/{id}``: params merged over the current ones, a new TTL from now, a new
        name; KeyError (404) or FaultError (400) before anything changes."""
        fault = self._faults.get(fault_id)
        if fault is None:
            raise KeyError(fault_id)
        change = self._change(fault, _body(body, ("params", "ttl_s", "name"), "{params, ttl_s, name}"))
        if change.params is not None and change.params != fault.params:
            fault.params = change.params
            if fault.type in RESTART_ON_UPDATE:
                self._stop_effect(fault)
                self._start_effect(fault)
        if change.ttl_s is not None:
            now = utcnow()
            fault.ttl_s = change.ttl_s
            fault.expires_at = now + timedelta(seconds=change.ttl_s)
            fault.expires_mono = time.monotonic() + change.ttl_s
            self._schedule(fault)
        if change.name is not None:
            fault.name = change.name
        return fault

    def _change(self, fault: Fault, body: dict[str, Any]) -> _Change:
        params = None
        if "params" in body:
            if not isinstance(body["params"], dict):
                _refuse("params: must be a JSON object of the fault's params")
            params = _params(fault.type, {**fault.params.model_dump(), **body["params"]})
        ttl = _ttl(body["ttl_s"]) if "ttl_s" in body else None
        name = _name(body["name"]) if "name" in body else None
        return _Change(params, ttl, name)

    def _schedule(self, fault: Fault) -> None:
        if fault.handle is not None:
            fault.handle.cancel()
        fault.handle = asyncio.get_running_loop().call_later(fault.remaining_s(), self._expire, fault.id)

    def _start_effect(self, fault: Fault) -> None:
        starter = self.starters.get(fault.type)
        if starter is not None:
            fault.stop = starter(fault)

    def _stop_effect(self, fault: Fault) -> None:
        if fault.stop is not None:
            fault.stop()
            fault.stop = None

    def _expire(self, fault_id: str) -> None:
        if fault_id in self._faults:
            self.revert(fault_id)

    def revert(self, fault_id: str) -> Fault:
        fault = self._faults.pop(fault_id)
        if fault.handle is not None:
            fault.handle.cancel()
        self._stop_effect(fault)
        fault.ended.set()  # releases every request its delay or hang holds
        self._on_change(self.counts())
        return fault

    def revert_all(self) -> list[Fault]:
        return [self.revert(fid) for fid in list(self._faults)]


# --- background effects ------------------------------------------------------------------------


def start_memory_leak(fault: Fault) -> Callable[[], None]:
    """Grow a list of 1 MB blocks at ``mb_per_s`` up to ``max_mb`` (no cap when unset); reverting
    frees it."""
    blocks: list[bytearray] = []

    async def leak() -> None:
        allocated = 0.0
        start = time.monotonic()
        while not fault.ended.is_set():
            p = fault.params
            assert isinstance(p, MemoryLeakParams)
            target = p.mb_per_s * (time.monotonic() - start)
            if p.max_mb is not None:
                target = min(target, p.max_mb)
            while allocated + 1 <= target:
                blocks.append(bytearray(b"\x01") * (1 << 20))
                allocated += 1
            await asyncio.sleep(0.1)

    task = asyncio.get_running_loop().create_task(leak())

    def stop() -> None:
        task.cancel()
        blocks.clear()

    return stop


def start_cpu_burn(fault: Fault) -> Callable[[], None]:
    """``threads`` threads that burn ``percent`` of a core each (10 ms periods)."""
    stop_flag = threading.Event()
    params = fault.params
    assert isinstance(params, CpuBurnParams)

    def burn() -> None:
        while not stop_flag.is_set():
            p = fault.params
            assert isinstance(p, CpuBurnParams)
            busy = 0.01 * p.percent / 100.0
            end = time.perf_counter() + busy
            while time.perf_counter() < end:
                pass
            stop_flag.wait(max(0.0, 0.01 - busy))

    for _ in range(params.threads):
        threading.Thread(target=burn, daemon=True, name="cpu_burn").start()
    return stop_flag.set


def start_loop_block(fault: Fault) -> Callable[[], None]:
    """Block the event loop for ``block_ms`` every ``every_ms``; a block ends at the fault's expiry at
    the latest (a revert cannot arrive while the loop is blocked)."""

    async def block() -> None:
        while not fault.ended.is_set():
            p = fault.params
            assert isinstance(p, LoopBlockParams)
            await asyncio.sleep(p.every_ms / 1000.0)
            p = fault.params  # a PUT may have changed them meanwhile
            assert isinstance(p, LoopBlockParams)
            if fault.ended.is_set():
                break
            time.sleep(min(p.block_ms / 1000.0, fault.remaining_s()))  # noqa: ASYNC251 - blocking is the point

    task = asyncio.get_running_loop().create_task(block())

    def stop() -> None:
        task.cancel()

    return stop


BACKGROUND_STARTERS: dict[str, Callable[[Fault], Callable[[], None]]] = {
    "memory_leak": start_memory_leak,
    "cpu_burn": start_cpu_burn,
    "loop_block": start_loop_block,
}
