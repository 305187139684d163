"""The ``process`` family: a part's process.

``process.kill`` / ``process.term`` / ``process.pause`` signal the process, so they need a runtime
whose parts are processes on this machine (capability ``signal``: local). The kill and the term are
instantaneous (the supervisor's restart policy decides what follows: a SIGTERMed service exits
cleanly, which ``on-failure`` does not restart); ``process.pause`` SIGSTOPs the process and leaves
a detached timer that SIGCONTs it when the TTL ends. ``process.restart`` asks the stack to restart
the part (capability ``restart``: the local supervisor, the docker engine).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from dataclasses import dataclass
from typing import ClassVar

import psutil

from chaos.faults import detached
from chaos.faults.base import (
    FaultContext,
    FaultType,
    Handle,
    Implementation,
    Instantaneous,
    OnService,
    RevertOutcome,
)
from chaos.faults.errors import FaultError
from crashlab.errors import CrashlabError
from crashlab.faultkinds import Params, ProcessParams
from stack.capabilities import Capability, RestartsParts


def _pid(name: str, params: ProcessParams, ctx: FaultContext, label: str) -> int:
    try:
        pid = ctx.pid_of(params.service)
    except CrashlabError as exc:
        raise FaultError(f"{name} ({label!r}): {exc}") from None
    if pid is None:
        raise FaultError(f"{name} ({label!r}): service {params.service!r} has no running process")
    return pid


def _signal(pid: int, sig: signal.Signals, what: str) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError as exc:
        raise FaultError(f"{what}: process {pid} is gone") from exc


@dataclass(frozen=True)
class SignalFault(Instantaneous, Implementation):
    sig: signal.Signals
    needs: ClassVar[frozenset[Capability]] = frozenset({Capability.SIGNAL})

    async def inject(self, params: Params, ttl_s: float, ctx: FaultContext, *, label: str) -> Handle:
        assert isinstance(params, ProcessParams)
        pid = _pid(self.name, params, ctx, label)
        _signal(pid, self.sig, f"{self.name} ({label!r})")
        return {"kind": "signal", "service": params.service, "pid": pid, "signal": self.sig.name}


_CONT_MARKER = "kill -CONT"


async def _wait_stopped(pid: int, within_s: float = 1.0) -> None:
    """SIGSTOP is asynchronous: wait (briefly) until the kernel reports the process stopped."""
    deadline = time.monotonic() + within_s
    with contextlib.suppress(psutil.NoSuchProcess):
        while time.monotonic() < deadline:
            if psutil.Process(pid).status() == psutil.STATUS_STOPPED:
                return
            await asyncio.sleep(0.01)


@dataclass(frozen=True)
class PauseFault(OnService, Implementation):
    """SIGSTOP the service for the duration, SIGCONT on revert (or when the TTL ends)."""

    name: str = "process.pause"
    needs: ClassVar[frozenset[Capability]] = frozenset({Capability.SIGNAL})

    async def inject(self, params: Params, ttl_s: float, ctx: FaultContext, *, label: str) -> Handle:
        assert isinstance(params, ProcessParams)
        pid = _pid(self.name, params, ctx, label)
        # the timer first: a SIGSTOPped process must never be left without its SIGCONT
        with detached.ttl_timer(ttl_s, ["kill", "-CONT", str(pid)], _CONT_MARKER) as timer:
            _signal(pid, signal.SIGSTOP, f"{self.name} ({label!r})")
        await _wait_stopped(pid)
        return {"kind": "pause", "service": params.service, "pid": pid, "timer_pid": timer}

    async def revert(self, handle: Handle, ctx: FaultContext) -> RevertOutcome:
        detached.cancel_timer(int(handle["timer_pid"]), _CONT_MARKER)
        pid = int(handle["pid"])
        try:
            stopped = psutil.Process(pid).status() == psutil.STATUS_STOPPED
            os.kill(pid, signal.SIGCONT)
        except (ProcessLookupError, psutil.NoSuchProcess):
            return "gone"
        return "reverted" if stopped else "expired"


@dataclass(frozen=True)
class RestartFault(Instantaneous, Implementation):
    """Restart the part through the stack (the supervisor's or the engine's restart)."""

    name: str = "process.restart"
    needs: ClassVar[frozenset[Capability]] = frozenset({Capability.RESTART})

    async def inject(self, params: Params, ttl_s: float, ctx: FaultContext, *, label: str) -> Handle:
        assert isinstance(params, ProcessParams)
        stack = ctx.stack
        if not isinstance(stack, RestartsParts):
            # a SIGTERM would end the service cleanly, and an on-failure policy would not restart it
            raise FaultError(
                f"{self.name} ({label!r}): this {ctx.runtime} stack cannot restart {params.service!r} on "
                "request; use process.kill, which its supervisor restarts"
            )
        try:
            await asyncio.to_thread(stack.restart, params.service)
        except CrashlabError as exc:
            raise FaultError(f"{self.name} ({label!r}): {exc}") from None
        return {"kind": "restart", "service": params.service}


FAULTS: list[FaultType] = [
    SignalFault("process.kill", signal.SIGKILL),
    SignalFault("process.term", signal.SIGTERM),
    PauseFault(),
    RestartFault(),
]
