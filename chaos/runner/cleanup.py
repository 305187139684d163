"""Leftover cleanup: ``crashlab chaos revert --all`` and the start of every drill revert the faults
that a killed runner left injected, using the journals under the runs folder and the running
stack's admin token (state file)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from chaos.faults import FaultContext
from chaos.runner.rollback import Leftover, find_leftovers, revert_leftovers
from stack.runtime import Stack


def running_stack() -> Stack | None:
    """The running stack named by a state file (local first, then docker), or None."""
    for runtime in ("local", "docker"):
        try:
            module: Any = importlib.import_module(f"stack.{runtime}")
        except ModuleNotFoundError:
            continue
        stack: Stack | None = module.attach()
        if stack is not None:
            return stack
    return None


def context_for(stack: Stack | None) -> FaultContext:
    if stack is None:
        return FaultContext()
    netns_of = getattr(stack, "netns_of", None)

    def pid_of(service: str) -> int | None:
        return stack.pid(service)

    return FaultContext(
        urls=stack.urls,
        admin_token=stack.admin_token,
        runtime=stack.runtime,
        pid_of=pid_of,
        netns_of=netns_of if callable(netns_of) else (lambda _s: None),
        stack=stack,
    )


async def revert_all_leftovers(runs_root: Path, stack: Stack | None = None) -> list[tuple[Leftover, str]]:
    leftovers = find_leftovers(runs_root)
    if not leftovers:
        return []
    return await revert_leftovers(leftovers, context_for(stack if stack is not None else running_stack()))
