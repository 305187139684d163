"""Leftover cleanup: ``crashlab chaos revert --all`` and the start of every drill revert the faults
that a killed runner left injected, using the journals under the runs folder and the running
stack's admin token (state file)."""

from __future__ import annotations

from pathlib import Path

from chaos.faults import FaultContext
from chaos.runner.rollback import Leftover, find_leftovers, revert_leftovers
from stack import registry
from stack.capabilities import NetworkNamespaces, SignalsProcesses
from stack.runtime import Stack


def running_stack() -> Stack | None:
    """The running stack named by a state file (the registry's runtimes in order), or None."""
    return registry.attach_any()


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


async def revert_all_leftovers(runs_root: Path, stack: Stack | None = None) -> list[tuple[Leftover, str]]:
    leftovers = find_leftovers(runs_root)
    if not leftovers:
        return []
    return await revert_leftovers(leftovers, context_for(stack if stack is not None else running_stack()))
