"""Injected faults: a store with TTLs (every fault expires by itself) and the effects each type has.

Types and params are the fault contract (:mod:`crashlab.faultkinds`, docs/contracts.md). The store
schedules each fault's expiry with ``loop.call_later``; background effects (memory leak, CPU burn,
event-loop blocking) run as tasks or threads that stop when their fault ends.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from crashlab.faultkinds import MAX_TTL_S, LatencyParams, MemoryLeakParams, Params, admin_kinds
from crashlab.timeutil import iso, utcnow

#: the admin API's fault types of each service and their parameters models (the fault contract)
GAME_KINDS = admin_kinds("game")
ODDS_KINDS = admin_kinds("odds")
GAME_FAULTS = tuple(GAME_KINDS)
ODDS_FAULTS = tuple(ODDS_KINDS)
PARAMS: dict[str, type[Params]] = {**GAME_KINDS, **ODDS_KINDS}


class FaultError(ValueError):
    """A fault request that is not valid; the message names the field."""


@dataclass
class Fault:
    id: str
    type: str
    name: str
    params: Any  # the contract's model of its type
    ttl_s: float
    started_at: datetime
    expires_at: datetime
    started_mono: float
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
        assert isinstance(p, LatencyParams)
        ms = p.delay_ms(time.monotonic() - self.started_mono)
        if p.jitter_ms:
            ms += rng.uniform(-p.jitter_ms, p.jitter_ms)
        return max(0.0, ms) / 1000.0


def _validate(type_: str, params: Any, allowed: tuple[str, ...]) -> Params:
    if type_ not in allowed:
        raise FaultError(f"type: unknown fault type {type_!r}; this service takes {', '.join(allowed)}")
    try:
        return PARAMS[type_].model_validate(params if params is not None else {})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise FaultError(f"params.{where}: {err['msg']}") from None


def _validate_ttl(ttl: Any) -> float:
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        raise FaultError(f"ttl_s: required, a number of seconds > 0 and <= {MAX_TTL_S:g}")
    if not 0 < ttl <= MAX_TTL_S:
        raise FaultError(f"ttl_s: must be > 0 and <= {MAX_TTL_S:g}")
    return float(ttl)


class FaultStore:
    """The active faults of one service."""

    def __init__(
        self, allowed: tuple[str, ...], *, on_change: Callable[[dict[str, int]], None], seed: int
    ) -> None:
        self.allowed = allowed
        self._faults: dict[str, Fault] = {}
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
        return [f for f in self._faults.values() if f.type == type_]

    def first_hit(self, type_: str, where: str | None = None) -> Fault | None:
        """The first active fault of ``type_`` (and ``params.where``) that hits this time, by its rate."""
        for fault in self._faults.values():
            if fault.type != type_ or (where is not None and getattr(fault.params, "where", None) != where):
                continue
            if fault.hits(self.rng):
                return fault
        return None

    def inject(self, body: Any) -> Fault:
        if not isinstance(body, dict):
            raise FaultError("body: a JSON object {type, params, ttl_s, name}")
        unknown = set(body) - {"type", "params", "ttl_s", "name"}
        if unknown:
            raise FaultError(f"{sorted(unknown)[0]}: unknown field")
        type_ = body.get("type")
        if not isinstance(type_, str):
            raise FaultError("type: required, a string")
        params = _validate(type_, body.get("params"), self.allowed)
        ttl = _validate_ttl(body.get("ttl_s"))
        name = body.get("name") or type_
        if not isinstance(name, str):
            raise FaultError("name: must be a string")
        now = utcnow()
        fault = Fault(
            id=secrets.token_hex(6),
            type=type_,
            name=name,
            params=params,
            ttl_s=ttl,
            started_at=now,
            expires_at=now + timedelta(seconds=ttl),
            started_mono=time.monotonic(),
        )
        self._faults[fault.id] = fault
        self._schedule(fault)
        starter = self.starters.get(type_)
        if starter is not None:
            fault.stop = starter(fault)
        self._on_change(self.counts())
        return fault

    def update(self, fault_id: str, body: Any) -> Fault:
        fault = self._faults.get(fault_id)
        if fault is None:
            raise KeyError(fault_id)
        if not isinstance(body, dict):
            raise FaultError("body: a JSON object {params, ttl_s}")
        unknown = set(body) - {"params", "ttl_s", "name"}
        if unknown:
            raise FaultError(f"{sorted(unknown)[0]}: unknown field")
        if "params" in body:
            merged = {**fault.params.model_dump(), **(body["params"] or {})}
            fault.params = _validate(fault.type, merged, self.allowed)
        if "ttl_s" in body:
            fault.ttl_s = _validate_ttl(body["ttl_s"])
            fault.expires_at = utcnow() + timedelta(seconds=fault.ttl_s)
            self._schedule(fault)
        return fault

    def _schedule(self, fault: Fault) -> None:
        if fault.handle is not None:
            fault.handle.cancel()
        delay = max(0.0, (fault.expires_at - utcnow()).total_seconds())
        fault.handle = asyncio.get_running_loop().call_later(delay, self._expire, fault.id)

    def _expire(self, fault_id: str) -> None:
        self.revert(fault_id)

    def revert(self, fault_id: str) -> Fault:
        fault = self._faults.pop(fault_id)
        if fault.handle is not None:
            fault.handle.cancel()
        if fault.stop is not None:
            fault.stop()
        fault.ended.set()
        self._on_change(self.counts())
        return fault

    def revert_all(self) -> list[Fault]:
        return [self.revert(fid) for fid in list(self._faults)]


# --- background effects ------------------------------------------------------------------------


def start_memory_leak(fault: Fault) -> Callable[[], None]:
    """Grow a list of 1 MB blocks at ``mb_per_s`` up to ``max_mb``; reverting frees it."""
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
    """Threads that burn ``percent`` of a core each (10 ms periods)."""
    stop_flag = threading.Event()

    def burn() -> None:
        while not stop_flag.is_set():
            busy = 0.01 * fault.params.percent / 100.0
            end = time.perf_counter() + busy
            while time.perf_counter() < end:
                pass
            stop_flag.wait(max(0.0, 0.01 - busy))

    threads = [
        threading.Thread(target=burn, daemon=True, name="cpu_burn") for _ in range(fault.params.threads)
    ]
    for thread in threads:
        thread.start()

    def stop() -> None:
        stop_flag.set()

    return stop


def start_loop_block(fault: Fault) -> Callable[[], None]:
    """Block the event loop for ``block_ms`` every ``every_ms``."""

    async def block() -> None:
        while not fault.ended.is_set():
            await asyncio.sleep(fault.params.every_ms / 1000.0)
            if fault.ended.is_set():
                break
            time.sleep(fault.params.block_ms / 1000.0)  # noqa: ASYNC251 - blocking is the point

    task = asyncio.get_running_loop().create_task(block())

    def stop() -> None:
        task.cancel()

    return stop


BACKGROUND_STARTERS: dict[str, Callable[[Fault], Callable[[], None]]] = {
    "memory_leak": start_memory_leak,
    "cpu_burn": start_cpu_burn,
    "loop_block": start_loop_block,
}
