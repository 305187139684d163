"""Leftover cleanup: ``crashlab chaos revert --all`` and the start of every drill revert the faults
that a killed runner left injected, using the journals under the runs folder and the running
stack's admin token (state file). Only faults whose owner is gone: a running drill's faults are its
own (the lease on its run directory), and the cleanup says whose they are."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from chaos.faults import FaultContext
from chaos.runner.rollback import Leftover, OwnedRun, mark_incomplete, revert_leftovers, scan_runs
from crashlab.errors import CrashlabError
from crashlab.rundir import ManifestError, RunDir
from stack import registry
from stack.capabilities import NetworkNamespaces, SignalsProcesses
from stack.runtime import Stack


def context_for(stack: Stack | None) -> FaultContext:
    """What faults get to know about ``stack``: its URLs and token, and, when its runtime has them,
    its parts' PIDs and network namespaces."""
    if stack is None:
        return FaultContext()
    ctx = FaultContext(urls=stack.urls, admin_token=stack.admin_token, runtime=stack.runtime, stack=stack)
    if isinstance(stack, SignalsProcesses):
        ctx.pid_of = stack.pid
    if isinstance(stack, NetworkNamespaces):
        ctx.netns_of = stack.netns_of
    return ctx


@dataclass
class Cleanup:
    """What the leftover cleanup did: the faults of dead owners it reverted (with each outcome), the
    runs of live owners it left alone, the runs it found killed (now marked incomplete)."""

    reverted: list[tuple[Leftover, str]] = field(default_factory=list)
    owned: list[OwnedRun] = field(default_factory=list)
    incomplete: list[Path] = field(default_factory=list)


async def revert_all_leftovers(runs_root: Path, stack: Stack | None = None) -> Cleanup:
    """Revert the faults whose owner is gone; leave a live owner's alone; mark killed runs incomplete."""
    scan = scan_runs(runs_root)
    done = Cleanup(owned=scan.owned, incomplete=scan.incomplete)
    for run in scan.incomplete:
        mark_incomplete(run)
    if scan.leftovers:
        stacks = [stack] if stack is not None else registry.attach_all()
        done.reverted = await revert_leftovers(scan.leftovers, lambda left: _context_of(left, stacks))
    return done


def _context_of(left: Leftover, stacks: list[Stack]) -> FaultContext | str:
    """The context of the running stack a leftover belongs to: the one serving the URL its handle
    names (admin faults), else the one of its run's runtime; a reason when none is running."""
    url = str(left.handle.get("url") or "").rstrip("/")
    run = RunDir(left.journal.parent)
    try:
        runtime = run.read_manifest().get("runtime")
    except (ManifestError, OSError):
        runtime = None
    if url:
        for stack in stacks:
            if _serves(stack, url):
                return context_for(stack)
        recovered = _recovered(runtime, run)
        if recovered is not None and _serves(recovered, url):
            return context_for(recovered)
        return f"no running stack serves {url}"
    for stack in stacks:
        if runtime is None or stack.runtime == runtime:
            return context_for(stack)
    return f"no running {runtime or ''} stack".replace("  ", " ")


def _serves(stack: Stack, url: str) -> bool:
    return url in {u.rstrip("/") for u in stack.urls.values()}


def _recovered(runtime: object, run: RunDir) -> Stack | None:
    """The stack a run used, when its runtime finds it from the run directory (a stack running
    elsewhere, which ``attach`` does not find)."""
    if not isinstance(runtime, str) or runtime not in registry.NAMES:
        return None
    try:
        return registry.get(runtime).recover(run)
    except CrashlabError:
        return None


def owned_line(owned: OwnedRun) -> str:
    """``<run>: faults a, b belong to drill x (pid N, run R), still running: left alone``"""
    faults = ", ".join(owned.faults)
    return f"{owned.run.name}: {faults} belong to {owned.owner}, still running: left alone"
