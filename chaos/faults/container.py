"""The ``container`` family (docker runtime): faults on a service's container through the docker SDK.

- ``container.kill`` sends a signal to the container's main process from the host (so the engine
  sees a crash and its restart policy applies, as after a real OOM or panic); ``via: api`` uses the
  engine's kill instead, which the engine treats as a manual stop (no restart).
- ``container.stop`` / ``container.pause`` stop or freeze the container; revert starts / unpauses it.
- ``container.restart`` restarts it (nothing to revert).
- ``container.memory`` / ``container.cpu`` change its memory limit / CPU quota; revert restores the
  previous values.

Every revertible fault leaves a detached timer (``docker start|unpause|update ...``) that ends it
when its TTL runs out, even if the runner dies. Handles hold the container ID and the previous
values, so ``crashlab chaos revert --all`` can undo a leftover without the running stack.
Network faults (netem) in a container's namespace are the ``network`` family; with host networking
the container has no namespace of its own and they refuse.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar

import docker
import docker.errors

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
from crashlab.faultkinds import (
    ContainerCpuParams,
    ContainerKillParams,
    ContainerMemoryParams,
    ContainerParams,
    Params,
)
from stack.capabilities import Capability, ContainerOps
from stack.docker.engine import memory_in_use

T = TypeVar("T")
CPU_PERIOD = 100_000
MB = 1024 * 1024


async def _call(fn: Callable[[], T], what: str) -> T:
    """Run a blocking docker SDK call off the event loop; engine errors become FaultErrors."""
    try:
        return await asyncio.to_thread(fn)
    except docker.errors.NotFound as exc:
        raise FaultError(f"{what}: container not found ({exc.explanation})") from None
    except docker.errors.DockerException as exc:
        raise FaultError(f"{what}: {exc}") from None


def _container(ctx: FaultContext, service: str, what: str) -> Any:
    stack = ctx.stack
    if not isinstance(stack, ContainerOps):
        raise FaultError(
            f"{what}: container faults need the docker runtime (a runtime with containers); "
            f"this stack's runtime is {ctx.runtime!r}"
        )
    return stack.container(service)


def _client() -> Any:
    try:
        return docker.from_env(timeout=30)
    except docker.errors.DockerException as exc:
        raise FaultError(f"docker engine: not reachable ({exc})") from None


def _by_id(cid: str) -> tuple[Any, Any | None]:
    cli = _client()
    try:
        return cli, cli.containers.get(cid)
    except docker.errors.NotFound:
        return cli, None


@dataclass(frozen=True)
class KillFault(Instantaneous, Implementation):
    """Send a signal to the service container's main process (restart policy applies)."""

    name: str = "container.kill"
    needs: ClassVar[frozenset[Capability]] = frozenset({Capability.CONTAINER})

    async def inject(self, params: Params, ttl_s: float, ctx: FaultContext, *, label: str) -> Handle:
        assert isinstance(params, ContainerKillParams)
        what = f"{self.name} ({label!r})"
        ctr = await _call(lambda: _container(ctx, params.service, what), what)
        sig = signal.Signals[params.signal]  # the contract gives its name
        pid = int(ctr.attrs.get("State", {}).get("Pid") or 0)
        if params.via == "api":
            await _call(lambda: ctr.kill(signal=sig.name), what)
        else:
            if pid <= 0:
                raise FaultError(f"{what}: container of {params.service!r} is not running")
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                raise FaultError(f"{what}: process {pid} of {params.service!r} is gone") from None
        return {
            "kind": "container.kill",
            "service": params.service,
            "container": ctr.id,
            "pid": pid,
            "signal": sig.name,
        }


@dataclass(frozen=True)
class RestartFault(Instantaneous, Implementation):
    """Restart the service's container (docker restart)."""

    name: str = "container.restart"
    needs: ClassVar[frozenset[Capability]] = frozenset({Capability.CONTAINER})

    async def inject(self, params: Params, ttl_s: float, ctx: FaultContext, *, label: str) -> Handle:
        assert isinstance(params, ContainerParams)
        what = f"{self.name} ({label!r})"
        ctr = await _call(lambda: _container(ctx, params.service, what), what)
        await _call(lambda: ctr.restart(timeout=5), what)
        return {"kind": "container.restart", "service": params.service, "container": ctr.id}


@dataclass(frozen=True)
class StateFault(OnService, Implementation):
    """stop/start or pause/unpause, with a detached ``docker start|unpause`` as the TTL."""

    action: Literal["stop", "pause"]
    needs: ClassVar[frozenset[Capability]] = frozenset({Capability.CONTAINER})

    @property
    def undo(self) -> str:
        return "start" if self.action == "stop" else "unpause"

    async def inject(self, params: Params, ttl_s: float, ctx: FaultContext, *, label: str) -> Handle:
        assert isinstance(params, ContainerParams)
        what = f"{self.name} ({label!r})"
        ctr = await _call(lambda: _container(ctx, params.service, what), what)
        with detached.ttl_timer(ttl_s, ["docker", self.undo, ctr.id], f"docker {self.undo}") as timer:
            if self.action == "stop":
                await _call(lambda: ctr.stop(timeout=5), what)
            else:
                await _call(ctr.pause, what)
        return {"kind": self.name, "service": params.service, "container": ctr.id, "timer_pid": timer}

    async def revert(self, handle: Handle, ctx: FaultContext) -> RevertOutcome:
        detached.cancel_timer(int(handle["timer_pid"]), f"docker {self.undo}")
        what = f"{self.name} revert"

        def undo() -> RevertOutcome:
            cli, ctr = _by_id(str(handle["container"]))
            try:
                if ctr is None:
                    return "gone"
                state = ctr.attrs.get("State", {})
                if self.action == "pause":
                    if not state.get("Paused"):
                        return "expired"
                    ctr.unpause()
                else:
                    if state.get("Running"):
                        return "expired"
                    ctr.start()
                return "reverted"
            finally:
                cli.close()

        return await _call(undo, what)


def _limits(ctr: Any) -> dict[str, int]:
    """The container's limits, normalised: ``cpu_quota`` 0 and ``cpu_period`` 0 mean unlimited."""
    host = ctr.attrs.get("HostConfig", {})
    quota = max(int(host.get("CpuQuota") or 0), 0)
    return {
        "memory": int(host.get("Memory") or 0),
        "memory_swap": int(host.get("MemorySwap") or 0),
        "cpu_quota": quota,
        "cpu_period": int(host.get("CpuPeriod") or CPU_PERIOD) if quota else 0,
    }


def _update_argv(cid: str, old: dict[str, int], kind: str) -> list[str]:
    if kind == "memory":
        return [
            "docker",
            "update",
            "--memory",
            str(old["memory"]),
            "--memory-swap",
            str(old["memory_swap"]),
            cid,
        ]
    quota = old["cpu_quota"] if old["cpu_quota"] > 0 else -1
    return [
        "docker",
        "update",
        "--cpu-quota",
        str(quota),
        "--cpu-period",
        str(old["cpu_period"] or CPU_PERIOD),
        cid,
    ]


def _restore(ctr: Any, old: dict[str, int], kind: str) -> None:
    if kind == "memory":
        ctr.update(mem_limit=old["memory"], memswap_limit=old["memory_swap"])
    else:
        ctr.update(
            cpu_quota=old["cpu_quota"] if old["cpu_quota"] > 0 else -1,
            cpu_period=old["cpu_period"] or CPU_PERIOD,
        )


def _below_usage(params: ContainerMemoryParams, in_use: int, what: str) -> FaultError:
    return FaultError(
        f"{what}: limit_mb {params.limit_mb} is below the {params.service!r} container's current memory "
        f"use ({in_use / MB:.0f} MB); the engine cannot set a limit under what the process holds: "
        f"give at least {math.ceil(in_use / MB) + 1} MB, or use service.memory_leak to make it grow"
    )


async def _check_memory_fits(ctr: Any, params: ContainerMemoryParams, what: str) -> None:
    """Refuse a limit below what the container uses now (the engine would answer with a 500)."""
    in_use = await asyncio.to_thread(memory_in_use, ctr)
    if in_use is not None and params.limit_mb * MB < in_use:
        raise _below_usage(params, in_use, what)


async def _set_memory(ctr: Any, params: ContainerMemoryParams, limit: int, what: str) -> None:
    try:
        await asyncio.to_thread(lambda: ctr.update(mem_limit=limit, memswap_limit=limit))
    except docker.errors.APIError as exc:
        # grew past the new limit since the check: runc says "unable to set memory limit to N
        # (current usage: M, ...)"
        usage = re.search(r"current usage: (\d+)", str(exc.explanation or exc))
        if usage is None:
            raise FaultError(f"{what}: {exc.explanation or exc}") from None
        raise _below_usage(params, int(usage.group(1)), what) from None
    except docker.errors.DockerException as exc:
        raise FaultError(f"{what}: {exc}") from None


@dataclass(frozen=True)
class LimitFault(OnService, Implementation):
    """A new memory limit or CPU quota; revert (or the TTL timer) restores the previous one."""

    limit: Literal["memory", "cpu"]
    needs: ClassVar[frozenset[Capability]] = frozenset({Capability.CONTAINER})

    async def inject(self, params: Params, ttl_s: float, ctx: FaultContext, *, label: str) -> Handle:
        assert isinstance(params, ContainerMemoryParams | ContainerCpuParams)
        what = f"{self.name} ({label!r})"
        ctr = await _call(lambda: _container(ctx, params.service, what), what)
        old = _limits(ctr)
        if self.limit == "memory" and old["memory"] <= 0:
            raise FaultError(
                f"{what}: the {params.service!r} container has no memory limit to change and restore"
            )
        if isinstance(params, ContainerMemoryParams):
            await _check_memory_fits(ctr, params, what)
        with detached.ttl_timer(ttl_s, _update_argv(ctr.id, old, self.limit), "docker update") as timer:
            if isinstance(params, ContainerMemoryParams):
                limit = params.limit_mb * 1024 * 1024
                await _set_memory(ctr, params, limit, what)
                new: dict[str, float] = {"limit_mb": params.limit_mb}
            else:
                quota = int(params.cpus * CPU_PERIOD)
                await _call(lambda: ctr.update(cpu_quota=quota, cpu_period=CPU_PERIOD), what)
                new = {"cpus": params.cpus}
        handle: Handle = {"kind": self.name, "service": params.service, "container": ctr.id}
        return {**handle, "previous": old, "new": new, "timer_pid": timer}

    async def revert(self, handle: Handle, ctx: FaultContext) -> RevertOutcome:
        detached.cancel_timer(int(handle["timer_pid"]), "docker update")
        old = {k: int(v) for k, v in dict(handle["previous"]).items()}

        def restore() -> RevertOutcome:
            cli, ctr = _by_id(str(handle["container"]))
            try:
                if ctr is None:
                    return "gone"
                if _limits(ctr) == old:
                    return "expired"
                _restore(ctr, old, self.limit)
                return "reverted"
            finally:
                cli.close()

        return await _call(restore, f"{self.name} revert")


FAULTS: list[FaultType] = [
    KillFault(),
    StateFault("container.stop", "stop"),
    StateFault("container.pause", "pause"),
    RestartFault(),
    LimitFault("container.memory", "memory"),
    LimitFault("container.cpu", "cpu"),
]
