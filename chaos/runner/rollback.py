"""Rollback: every injected fault is remembered with its handle and reverted on every exit path;
leftovers of a runner that died (SIGKILL) are found from the journals and reverted; a live runner's
faults are its own (its run's lease, ``runs/<id>/owner.lock``) and nobody else reverts them.

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
from crashlab.journal import Journal, JournalEvent, read_journal
from crashlab.lease import Owner, run_owner
from crashlab.rundir import ManifestError, RunDir
from crashlab.timeutil import iso, utcnow

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
        """Revert one active fault; a revert under way when the caller is cancelled (the drill window
        ends at the very moment the step does) finishes and is recorded before the cancellation goes on,
        so the fault is never left out of both the active ones and the journal."""
        active = self.active.pop(name, None)
        if active is None:
            return None
        task = asyncio.ensure_future(self._revert(name, active, lag_ms))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            await asyncio.wait([task])
            raise

    async def _revert(self, name: str, active: ActiveFault, lag_ms: float) -> str | None:
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


@dataclass(frozen=True)
class OwnedRun:
    """A run whose owner (its drill) still runs, with the faults it holds: nobody else touches them."""

    run: Path
    owner: Owner
    faults: tuple[str, ...]


@dataclass
class RunsScan:
    """What the leftover cleanup found under a runs folder."""

    #: faults of runs whose owner is gone, never reverted or expired
    leftovers: list[Leftover] = field(default_factory=list)
    #: runs whose owner is alive and holds faults
    owned: list[OwnedRun] = field(default_factory=list)
    #: runs that started and never ended, whose owner is gone (a killed runner)
    incomplete: list[Path] = field(default_factory=list)


def scan_runs(runs_root: Path) -> RunsScan:
    """Every run under ``runs_root`` whose journal changed within the longest TTL: its open faults (a
    ``fault injected`` that no later event closed) are leftovers only when the run's owner is gone
    (:func:`crashlab.lease.run_owner`), like Chaos Mesh's finalizers keep an experiment's faults until
    the experiment itself is gone; a live owner's are listed as owned and left alone."""
    scan = RunsScan()
    if not runs_root.is_dir():
        return scan
    horizon = time.time() - MAX_TTL_S - 60
    for run in sorted(runs_root.iterdir()):
        journal = run / "journal.jsonl"
        if run.is_symlink() or not journal.is_file():
            continue
        if journal.stat().st_mtime < horizon:
            continue  # written before the longest TTL: every fault in it has ended by itself
        events = read_journal(journal)
        open_faults = _open_faults(journal, events)
        owner = run_owner(run)
        if owner is not None:
            if open_faults:
                scan.owned.append(OwnedRun(run, owner, tuple(open_faults)))
            continue
        scan.leftovers.extend(open_faults.values())
        runs = [e.event for e in events if e.type == "run"]
        if "started" in runs and not {"ended", "aborted", "incomplete"} & set(runs):
            scan.incomplete.append(run)
    return scan


def _open_faults(journal: Path, events: list[JournalEvent]) -> dict[str, Leftover]:
    open_faults: dict[str, Leftover] = {}
    for event in events:
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
    return open_faults


def find_leftovers(runs_root: Path) -> list[Leftover]:
    """Faults injected in a run under ``runs_root`` whose owner is gone, never reverted or expired."""
    return scan_runs(runs_root).leftovers


def mark_incomplete(run: Path) -> None:
    """Record that a run's runner died before the run ended: ``run incomplete`` in its journal and
    ``verdict: incomplete`` in its manifest (unless it already has a verdict)."""
    rundir = RunDir(run)
    try:
        manifest: dict[str, Any] | None = rundir.read_manifest()
    except (ManifestError, OSError):
        manifest = None  # unreadable: the journal still says it
    owner = Owner.from_json(manifest.get("owner")) if manifest is not None else None
    who = f"its runner (pid {owner.pid})" if owner is not None else "its runner"
    reason = f"{who} ended before the run did: no `run ended` in its journal"
    Journal(rundir.journal_path, source="revert").write(
        "run", "incomplete", run_id=rundir.run_id, verdict="incomplete", reason=reason
    )
    if manifest is not None and not manifest.get("verdict"):
        rundir.update_manifest(verdict="incomplete", reason=reason)


async def revert_leftovers(
    leftovers: list[Leftover], context: Callable[[Leftover], FaultContext | str]
) -> list[tuple[Leftover, str]]:
    """Revert each leftover through the context of the stack that serves it (``context`` answers a
    reason instead when no running stack does: the leftover is left to its TTL, never sent to another
    stack with that stack's token); returns ``(leftover, outcome or error)``. Outcomes go into its
    journal."""
    results: list[tuple[Leftover, str]] = []
    for wave in waves(leftovers, lambda left: left.fault_type):
        results.extend(await asyncio.gather(*(_revert_leftover(left, context(left)) for left in wave)))
    return results


async def _revert_leftover(left: Leftover, ctx: FaultContext | str) -> tuple[Leftover, str]:
    if isinstance(ctx, str) and not left.expired:
        ends = iso(left.injected_at + timedelta(seconds=left.ttl_s))
        return left, f"left to its TTL (ends at {ends}): {ctx}"
    # an expired fault is over whatever stack served it: closed in its journal, never found again
    journal = Journal(left.journal, source="revert")
    started = time.monotonic()
    try:
        outcome: RevertOutcome = (
            "expired"
            if left.expired or isinstance(ctx, str)
            else await registry.get(left.fault_type).revert(left.handle, ctx)
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
