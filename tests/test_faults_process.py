"""process.* and stress.* faults on real processes: signals, pause with a TTL'd SIGCONT, stress-ng."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator

import psutil
import pytest

from chaos.faults import FaultContext, FaultError, registry


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "60"])
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def ctx_for(proc: subprocess.Popen[bytes]) -> FaultContext:
    return FaultContext(pid_of=lambda service: proc.pid if proc.poll() is None else None)


async def gone(pid: int, within_s: float = 3.0) -> bool:
    """The process has ended (a zombie waiting for init counts as ended)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        await asyncio.sleep(0.05)
    return False


def status(pid: int) -> str:
    return str(psutil.Process(pid).status())


async def test_pause_stops_the_process_and_revert_continues_it(sleeper: subprocess.Popen[bytes]) -> None:
    fault = registry.get("process.pause")
    handle = await fault.inject(registry.validate("process.pause", {}), 30, ctx_for(sleeper), label="p")
    assert status(sleeper.pid) == psutil.STATUS_STOPPED
    assert psutil.pid_exists(handle["timer_pid"])
    assert await fault.revert(handle, ctx_for(sleeper)) == "reverted"
    assert status(sleeper.pid) in (psutil.STATUS_SLEEPING, psutil.STATUS_RUNNING)
    assert await gone(handle["timer_pid"])


async def test_pause_ends_at_its_ttl_without_the_runner(sleeper: subprocess.Popen[bytes]) -> None:
    fault = registry.get("process.pause")
    handle = await fault.inject(registry.validate("process.pause", {}), 1.0, ctx_for(sleeper), label="p")
    assert status(sleeper.pid) == psutil.STATUS_STOPPED
    for _ in range(50):
        if status(sleeper.pid) != psutil.STATUS_STOPPED:
            break
        await asyncio.sleep(0.1)
    assert status(sleeper.pid) in (psutil.STATUS_SLEEPING, psutil.STATUS_RUNNING)
    assert await fault.revert(handle, ctx_for(sleeper)) == "expired"


@pytest.mark.parametrize(("fault_type", "code"), [("process.kill", -9), ("process.term", -15)])
async def test_kill_and_term_signal_the_service(
    sleeper: subprocess.Popen[bytes], fault_type: str, code: int
) -> None:
    fault = registry.get(fault_type)
    assert not fault.revertible
    handle = await fault.inject(
        registry.validate(fault_type, {"service": "odds"}), 5, ctx_for(sleeper), label="k"
    )
    assert handle["pid"] == sleeper.pid
    assert sleeper.wait(timeout=5) == code


async def test_process_fault_without_a_process_says_which_service() -> None:
    fault = registry.get("process.kill")
    with pytest.raises(FaultError, match=r"service 'game' has no running process"):
        await fault.inject(registry.validate("process.kill", {}), 5, FaultContext(), label="k")


def _stress_children(pid: int) -> list[psutil.Process]:
    try:
        return [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


async def test_stress_cpu_runs_stress_ng_and_revert_stops_it() -> None:
    fault = registry.get("stress.cpu")
    handle = await fault.inject(
        registry.validate("stress.cpu", {"workers": 1, "load_percent": 10}), 30, FaultContext(), label="cpu"
    )
    assert "stress-ng" in " ".join(psutil.Process(handle["pid"]).cmdline())
    assert await fault.revert(handle, FaultContext()) == "reverted"
    await asyncio.sleep(0.2)
    assert not [p for p in _stress_children(handle["pid"]) if p.status() != psutil.STATUS_ZOMBIE]


async def test_stress_memory_holds_memory_and_ends_at_its_ttl() -> None:
    fault = registry.get("stress.memory")
    handle = await fault.inject(
        registry.validate("stress.memory", {"mb": 64}), 2, FaultContext(), label="mem"
    )
    deadline = time.monotonic() + 5
    peak = 0
    while time.monotonic() < deadline and peak < 50 * 2**20:
        peak = max([peak, *(p.memory_info().rss for p in _stress_children(handle["pid"]))])
        await asyncio.sleep(0.1)
    assert peak >= 50 * 2**20
    for _ in range(40):
        if not _stress_children(handle["pid"]):
            break
        await asyncio.sleep(0.2)
    assert _stress_children(handle["pid"]) == []
    assert await fault.revert(handle, FaultContext()) == "expired"


async def test_stress_python_fallback_hog_when_stress_ng_is_missing() -> None:
    from chaos.faults import detached
    from chaos.faults.stress import _command
    from crashlab.faultkinds import StressCpuParams

    argv = _command(StressCpuParams(workers=1, load_percent=20), 1.0, None)
    pid = detached.spawn_detached(argv)
    assert "crashlab-stress" in psutil.Process(pid).cmdline()
    assert await gone(pid, within_s=6)


async def test_restart_needs_a_stack_that_restarts_parts() -> None:
    fault = registry.get("process.restart")
    with pytest.raises(FaultError, match=r"this local stack cannot restart 'game' on request"):
        await fault.inject(registry.validate("process.restart", {}), 5, FaultContext(), label="r")
