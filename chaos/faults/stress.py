"""The ``stress`` family: CPU and memory pressure on the machine the stack runs on.

``stress-ng`` when installed (its ``--timeout`` is the TTL), else a detached Python hog that
stops itself at the TTL. Both run in their own session, so they end on time even if the runner
dies; revert terminates them early.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from typing import ClassVar

import psutil

from chaos.faults import detached
from chaos.faults.base import FaultContext, FaultType, Handle, Implementation, RevertOutcome, check_ttl
from chaos.faults.errors import FaultError
from crashlab.faultkinds import Params, StressCpuParams, StressMemoryParams
from stack.capabilities import Capability

_MARKER = "crashlab-stress"


_HOG = """
import sys, time, os
kind, amount, load, ttl = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
end = time.monotonic() + ttl
if kind == "memory":
    hold = bytearray(amount * 1024 * 1024)
    for i in range(0, len(hold), 4096):
        hold[i] = 1
    while time.monotonic() < end:
        time.sleep(0.2)
else:
    for _ in range(amount - 1):
        if os.fork() == 0:
            break
    while time.monotonic() < end:
        start = time.monotonic()
        while time.monotonic() - start < load / 1000:
            pass
        time.sleep((100 - load) / 1000)
"""


def _command(params: Params, ttl_s: float, stress_ng: str | None) -> list[str]:
    if stress_ng:
        common = [stress_ng, "--timeout", f"{max(1, round(ttl_s))}s", "--quiet", "--temp-path", "/tmp"]
        if isinstance(params, StressCpuParams):
            return [*common, "--cpu", str(params.workers), "--cpu-load", str(round(params.load_percent))]
        assert isinstance(params, StressMemoryParams)
        return [*common, "--vm", "1", "--vm-bytes", f"{params.mb}M", "--vm-keep"]
    if isinstance(params, StressCpuParams):
        args = ["cpu", str(params.workers), str(round(params.load_percent))]
    else:
        assert isinstance(params, StressMemoryParams)
        args = ["memory", str(params.mb), "0"]
    return [sys.executable, "-c", _HOG, *args, f"{ttl_s:.3f}", _MARKER]


@dataclass(frozen=True)
class StressFault(Implementation):
    """A detached hog (stress-ng, or Python) that stops itself at the TTL, on this machine: the stack's
    parts must run here."""

    needs: ClassVar[frozenset[Capability]] = frozenset({Capability.MACHINE})

    def target(self, params: Params) -> str:
        return "host"

    async def inject(self, params: Params, ttl_s: float, ctx: FaultContext, *, label: str) -> Handle:
        argv = _command(params, check_ttl(ttl_s), shutil.which("stress-ng"))
        try:
            pid = detached.spawn_detached(argv)
        except (OSError, ValueError) as exc:
            raise FaultError(f"{self.name} ({label!r}): starting {argv[0]} failed: {exc}") from exc
        return {"kind": "stress", "pid": pid, "exe": argv[0]}

    async def revert(self, handle: Handle, ctx: FaultContext) -> RevertOutcome:
        # stress-ng takes a moment to stop its workers: wait in a thread, not on the event loop
        return await asyncio.to_thread(_stop, int(handle["pid"]), str(handle["exe"]))


def _stop(pid: int, exe: str) -> RevertOutcome:
    """SIGKILL the hog's whole process group (it leads its own session: stress-ng and its workers)."""
    try:
        proc = psutil.Process(pid)
        cmdline = proc.cmdline()
        ours = cmdline and (
            os.path.basename(cmdline[0]).startswith(os.path.basename(exe)) or _MARKER in cmdline
        )
        if not ours or proc.status() == psutil.STATUS_ZOMBIE:
            return "expired"
        members = [proc, *proc.children(recursive=True)]
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
        for member in members:
            with contextlib.suppress(psutil.NoSuchProcess):
                member.kill()
    except (psutil.NoSuchProcess, ProcessLookupError):
        return "expired"
    deadline = time.monotonic() + 3
    while any(_running(m) for m in members) and time.monotonic() < deadline:
        time.sleep(0.02)
    return "reverted"


def _running(proc: psutil.Process) -> bool:
    """Alive and not a zombie (a zombie waits only for init to reap it)."""
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


FAULTS: list[FaultType] = [StressFault("stress.cpu"), StressFault("stress.memory")]
