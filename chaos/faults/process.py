"""The ``process`` family (local runtime): signals to a service's process.

``process.kill`` / ``process.term`` are instantaneous (the supervisor's restart policy decides what
follows: a SIGTERMed service exits cleanly, which ``on-failure`` does not restart);
``process.pause`` SIGSTOPs the process and leaves a detached timer that SIGCONTs it when the TTL
ends; ``process.restart`` asks the stack to restart the service (``stack.restart(service)``) and
refuses clearly when the stack cannot.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from dataclasses import dataclass

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
from crashlab.faultkinds import Params, ProcessParams


def _pid(name: str, params: ProcessParams, ctx: FaultContext, label: str) -> int:
    pid = ctx.pid_of(params.service)
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
    """Restart the service through the stack (``stack.restart``)."""

    name: str = "process.restart"

    async def inject(self, params: Params, ttl_s: float, ctx: FaultContext, *, label: str) -> Handle:
        assert isinstance(params, ProcessParams)
        restart = getattr(ctx.stack, "restart", None)
        if not callable(restart):
            # a SIGTERM would end the service cleanly, and an on-failure policy would not restart it
            raise FaultError(
                f"{self.name} ({label!r}): this {ctx.runtime} stack cannot restart {params.service!r} on "
                "request (no restart()); use process.kill, which its supervisor restarts"
            )
        await asyncio.to_thread(restart, params.service)
        return {"kind": "restart", "service": params.service}


FAULTS: list[FaultType] = [
    SignalFault("process.kill", signal.SIGKILL),
    SignalFault("process.term", signal.SIGTERM),
    PauseFault(),
    RestartFault(),
]
