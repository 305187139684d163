"""Rollback: every injected fault is remembered with its handle and reverted on every exit path;
leftovers of a runner that died (SIGKILL) are found from the journals and reverted.

The journal is the ledger: each ``fault injected`` event carries the handle, each ``fault
reverted`` / ``expired`` closes it. :func:`find_leftovers` lists the injected faults that no later
event closed; :func:`revert_leftovers` reverts them and journals the outcome in their own run's
journal, so they are not found again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from chaos.faults import FaultContext, FaultError, RevertOutcome, registry
from chaos.runner import events as ev
from chaos.runner.events import EventBus
from chaos.runner.journal_observer import write_fault_failed, write_fault_reverted
from crashlab.faultkinds import MAX_TTL_S
from crashlab.journal import Journal, read_journal
from crashlab.timeutil import utcnow

log = logging.getLogger("crashlab.drill")
T = TypeVar("T")


#: families reverted first: they can make a service unable to answer the other reverts
FIRST_FAMILIES = ("process", "container")


def waves(items: list[T], fault_type: Callable[[T], str]) -> list[list[T]]:
    first = [i for i in items if fault_type(i).split(".", 1)[0] in FIRST_FAMILIES]
    rest = [i for i in items if i not in first]
    return [wave for wave in (first, rest) if wave]


@dataclass
class ActiveFault:
    name: str
    fault_type: str
    target: str
    handle: dict[str, Any]
    planned_end: float | None = None


@dataclass
class Rollback:
    """The faults this drill has injected and not yet reverted."""

    ctx: FaultContext
    bus: EventBus
    active: dict[str, ActiveFault] = field(default_factory=dict)

    async def inject(
        self,
        name: str,
        fault_type: str,
        params: dict[str, Any],
        ttl_s: float,
        *,
        lag_ms: float = 0.0,
        planned_at_s: float = 0.0,
        duration_s: float | None = None,
        baseline: bool = False,
    ) -> ActiveFault | None:
        """Inject one fault; returns None when it failed (the failure is an event)."""
        fault = registry.get(fault_type)
        typed = registry.validate(fault_type, params, where=name)
        target = fault.target(typed)
        try:
            handle = await fault.inject(typed, ttl_s, self.ctx, label=name)
        except FaultError as exc:
            self.bus.emit(ev.FaultFailed(name, fault_type, target, "inject", str(exc)))
            return None
        active = ActiveFault(name, fault_type, target, handle)
        if fault.revertible:
            self.active[name] = active
        self.bus.emit(
            ev.FaultInjected(
                name, fault_type, target, params, ttl_s, handle, lag_ms, planned_at_s, duration_s, baseline
            )
        )
        return active

    async def revert(self, name: str, *, lag_ms: float = 0.0) -> str | None:
        active = self.active.pop(name, None)
        if active is None:
            return None
        fault = registry.get(active.fault_type)
        try:
            outcome = await fault.revert(active.handle, self.ctx)
        except FaultError as exc:
            self.bus.emit(
                ev.FaultFailed(name, active.fault_type, active.target, "revert", str(exc), active.handle)
            )
            return None
        self.bus.emit(
            ev.FaultReverted(name, active.fault_type, active.target, active.handle, outcome, lag_ms)
        )
        return outcome

    async def revert_all(self) -> None:
        """Revert every active fault, each on its own (one failing never stops the others): first the
        ones that freeze a service (a paused process cannot answer its admin API), then the rest in
        parallel."""
        for wave in waves(list(self.active), lambda name: self.active[name].fault_type):
            await asyncio.gather(*(self.revert(name) for name in wave), return_exceptions=True)


@dataclass(frozen=True)
class Leftover:
    journal: Path
    name: str
    fault_type: str
    target: str
    handle: dict[str, Any]
    injected_at: datetime
    ttl_s: float

    @property
    def expired(self) -> bool:
        """Its TTL has run out: the fault ended by itself at its point of injection."""
        return utcnow() > self.injected_at + timedelta(seconds=self.ttl_s)


def find_leftovers(runs_root: Path) -> list[Leftover]:
    """Faults injected in any run under ``runs_root`` and never reverted, expired or cleaned up."""
    leftovers: list[Leftover] = []
    if not runs_root.is_dir():
        return leftovers
    horizon = time.time() - MAX_TTL_S - 60
    for run in sorted(runs_root.iterdir()):
        journal = run / "journal.jsonl"
        if run.is_symlink() or not journal.is_file():
            continue
        if journal.stat().st_mtime < horizon:
            continue  # written before the longest TTL: every fault in it has ended by itself
        open_faults: dict[str, Leftover] = {}
        for event in read_journal(journal):
            if event.type != "fault":
                continue
            name = str(event.get("fault"))
            if event.event == "injected":
                fault_type = str(event.get("fault_type"))
                if fault_type in registry.CATALOGUE and not registry.get(fault_type).revertible:
                    continue
                open_faults[name] = Leftover(
                    journal,
                    name,
                    fault_type,
                    str(event.get("target")),
                    dict(event.get("handle") or {}),
                    event.ts,
                    float(event.get("ttl_s") or 3600),
                )
            elif event.event in ("reverted", "expired"):
                open_faults.pop(name, None)
        leftovers.extend(open_faults.values())
    return leftovers


async def revert_leftovers(leftovers: list[Leftover], ctx: FaultContext) -> list[tuple[Leftover, str]]:
    """Revert each leftover; returns ``(leftover, outcome or error)``. Outcomes go into its journal."""
    results: list[tuple[Leftover, str]] = []
    for wave in waves(leftovers, lambda left: left.fault_type):
        results.extend(await asyncio.gather(*(_revert_leftover(left, ctx) for left in wave)))
    return results


async def _revert_leftover(left: Leftover, ctx: FaultContext) -> tuple[Leftover, str]:
    journal = Journal(left.journal, source="revert")
    started = time.monotonic()
    try:
        outcome: RevertOutcome = (
            "expired" if left.expired else await registry.get(left.fault_type).revert(left.handle, ctx)
        )
    except FaultError as exc:
        failed = ev.FaultFailed(left.name, left.fault_type, left.target, "revert", str(exc), left.handle)
        write_fault_failed(journal, failed)
        return left, f"failed: {exc}"
    write_fault_reverted(
        journal,
        ev.FaultReverted(left.name, left.fault_type, left.target, left.handle, outcome),
        cleanup=True,
        took_ms=round((time.monotonic() - started) * 1000, 1),
    )
    return left, outcome
