"""Fault specs: one pydantic model per fault type, grouped by family, a discriminated union on ``type``.

``type`` is ``<family>.<kind>``. Families and where they go (the runner's catalogue, ``chaos/faults/``,
implements one module per family):

- ``service.*``: the game's admin API (``POST /admin/faults`` with ``type=<kind>``), duration -> ``ttl_s``.
- ``dependency.*``: the odds service's admin API, same shape.
- ``process.*``: the local supervisor's processes (runtime ``local`` only).
- ``container.*``: Docker containers through the docker SDK (runtime ``docker`` only).
- ``network.*``: tc netem between game and odds inside a network namespace of the target's own.
- ``stress.*``: CPU / memory pressure on the machine running the stack.

:data:`FAULT_TYPES` maps every type name to its model so the catalogue can check it covers them all.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from chaos.scenario.durations import Duration

Rate = Annotated[float, Field(ge=0, le=1, description="probability 0..1 that a request is affected")]
Millis = Annotated[float, Field(ge=0, description="milliseconds")]
ServiceName = Literal["game", "odds"]
#: process faults also reach the stack's own Prometheus (a telemetry outage)
ProcessTarget = Literal["game", "odds", "prometheus"]
FAMILIES = ("service", "dependency", "process", "container", "network", "stress")


class FaultBase(BaseModel):
    """Common to all fault specs. ``family``/``kind`` split ``type``; ``params()`` gives the rest."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    type: str
    #: True for one-shot faults (kill, restart): nothing to revert, ``duration`` optional.
    instant: ClassVar[bool] = False

    @property
    def family(self) -> str:
        return self.type.split(".", 1)[0]

    @property
    def kind(self) -> str:
        return self.type.split(".", 1)[1]

    def params(self) -> dict[str, Any]:
        """Every parameter except ``type``, with durations in seconds."""
        return self.model_dump(exclude={"type"})


class _AdminFault(FaultBase):
    """A fault served by a service's admin API (``service.*`` -> game, ``dependency.*`` -> odds)."""

    def admin_body(self, ttl_s: float, name: str | None = None) -> dict[str, Any]:
        """The ``POST /admin/faults`` body of docs/contracts.md (``ramp`` becomes ``ramp_s``)."""
        params = self.params()
        if "ramp" in params:
            params["ramp_s"] = params.pop("ramp")
        body: dict[str, Any] = {"type": self.kind, "params": params, "ttl_s": ttl_s}
        if name is not None:
            body["name"] = name
        return body


class _LatencyParams(_AdminFault):
    ms: Millis = Field(description="added latency in ms (start of the ramp)")
    jitter_ms: Millis = 0
    rate: Rate = 1.0
    ramp_to_ms: Millis | None = Field(None, description="ramp linearly from ms to this over 'ramp'")
    ramp: Duration = Field(0.0, description="how long the ramp from ms to ramp_to_ms takes")


# --- service.* (the game) ---------------------------------------------------------------------------


class ServiceLatency(_LatencyParams):
    """Delay the game's handlers."""

    type: Literal["service.latency"]


class ServiceErrors(_AdminFault):
    """The game answers errors."""

    type: Literal["service.errors"]
    rate: Rate = 1.0
    status: int = Field(500, ge=400, le=599)
    code: str | None = None


class ServiceException(_AdminFault):
    """An unexpected exception in a handler or in background work (naive: a background one is a panic)."""

    type: Literal["service.exception"]
    rate: Rate = 1.0
    where: Literal["handler", "background"] = "handler"


class ServiceMemoryLeak(_AdminFault):
    """The game retains memory."""

    type: Literal["service.memory_leak"]
    mb_per_s: float = Field(gt=0)
    max_mb: float | None = Field(None, gt=0)


class ServiceCpuBurn(_AdminFault):
    """The game burns CPU."""

    type: Literal["service.cpu_burn"]
    percent: float = Field(gt=0, le=100, description="of one core")
    threads: int = Field(1, ge=1, le=64)


class ServiceLoopBlock(_AdminFault):
    """Block the game's event loop for block_ms every every_ms."""

    type: Literal["service.loop_block"]
    block_ms: float = Field(gt=0)
    every_ms: float = Field(gt=0)


# --- dependency.* (the odds service) ----------------------------------------------------------------


class DependencyLatency(_LatencyParams):
    """Delay the odds service's answers."""

    type: Literal["dependency.latency"]


class DependencyStall(_LatencyParams):
    """First-byte stall at the odds service (headers delayed, like a TLS handshake stall)."""

    type: Literal["dependency.stall"]


class DependencyErrors(_AdminFault):
    """The odds service answers errors."""

    type: Literal["dependency.errors"]
    rate: Rate = 1.0
    status: int = Field(500, ge=400, le=599)


class DependencyHang(_AdminFault):
    """The odds service never answers (until the fault ends or the client leaves)."""

    type: Literal["dependency.hang"]
    rate: Rate = 1.0


class DependencyReset(_AdminFault):
    """The odds service aborts connections without a response."""

    type: Literal["dependency.reset"]
    rate: Rate = 1.0


# --- process.* (local runtime) ----------------------------------------------------------------------


class ProcessKill(FaultBase):
    """SIGKILL the service process (the supervisor restarts it)."""

    type: Literal["process.kill"]
    service: ProcessTarget = "game"
    instant: ClassVar[bool] = True


class ProcessTerm(FaultBase):
    """SIGTERM the service process."""

    type: Literal["process.term"]
    service: ProcessTarget = "game"
    instant: ClassVar[bool] = True


class ProcessPause(FaultBase):
    """SIGSTOP the service for the step's duration, SIGCONT on revert."""

    type: Literal["process.pause"]
    service: ProcessTarget = "game"


class ProcessRestart(FaultBase):
    """Ask the supervisor to restart the service."""

    type: Literal["process.restart"]
    service: ProcessTarget = "game"
    instant: ClassVar[bool] = True


# --- container.* (docker runtime) -------------------------------------------------------------------


def _signal_text(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class ContainerKill(FaultBase):
    """Send a signal to the service's container."""

    type: Literal["container.kill"]
    service: ServiceName = "game"
    signal: Annotated[str, BeforeValidator(_signal_text)] = Field(
        "SIGKILL", pattern=r"^((SIG)?[A-Z0-9]+|[0-9]+)$", description="signal name or number"
    )
    via: Literal["process", "api"] = Field(
        "process", description="process: signal the main process (restart policy applies); api: docker kill"
    )
    instant: ClassVar[bool] = True


class ContainerStop(FaultBase):
    """Stop the container for the step's duration, start it on revert."""

    type: Literal["container.stop"]
    service: ServiceName = "game"


class ContainerPause(FaultBase):
    """Pause the container (cgroup freezer) for the step's duration."""

    type: Literal["container.pause"]
    service: ServiceName = "game"


class ContainerRestart(FaultBase):
    """Restart the container."""

    type: Literal["container.restart"]
    service: ServiceName = "game"
    instant: ClassVar[bool] = True


class ContainerMemory(FaultBase):
    """Lower the container's memory limit for the step's duration."""

    type: Literal["container.memory"]
    service: ServiceName = "game"
    limit_mb: int = Field(gt=0)


class ContainerCpu(FaultBase):
    """Limit the container's CPUs for the step's duration."""

    type: Literal["container.cpu"]
    service: ServiceName = "game"
    cpus: float = Field(gt=0, le=64)


# --- network.* (between game and odds, in a network namespace) --------------------------------------


class _NetworkFault(FaultBase):
    """Where the qdisc goes: the service's own network namespace (or an explicit one), never the host's."""

    service: ServiceName = Field("odds", description="the service whose network namespace gets the fault")
    netns: str | None = Field(None, min_length=1, description="explicit network namespace name (ip netns)")
    pid: int | None = Field(None, ge=1, description="explicit process whose network namespace to use")
    dev: str = Field("lo", pattern=r"^[A-Za-z0-9_.:@-]{1,15}$", description="device inside the namespace")


class NetworkDelay(_NetworkFault):
    """tc netem delay on the game <-> odds path."""

    type: Literal["network.delay"]
    ms: Millis
    jitter_ms: Millis = 0


class NetworkLoss(_NetworkFault):
    """tc netem packet loss on the game <-> odds path."""

    type: Literal["network.loss"]
    percent: float = Field(gt=0, le=100)


class NetworkRate(_NetworkFault):
    """tc rate limit on the game <-> odds path."""

    type: Literal["network.rate"]
    kbit: int = Field(gt=0)


# --- stress.* ---------------------------------------------------------------------------------------


class StressCpu(FaultBase):
    """CPU pressure on the machine running the stack."""

    type: Literal["stress.cpu"]
    workers: int = Field(1, ge=1, le=64)
    load_percent: float = Field(100, gt=0, le=100)


class StressMemory(FaultBase):
    """Memory pressure: hold mb megabytes."""

    type: Literal["stress.memory"]
    mb: int = Field(gt=0)


FAULT_MODELS: tuple[type[FaultBase], ...] = (
    ServiceLatency,
    ServiceErrors,
    ServiceException,
    ServiceMemoryLeak,
    ServiceCpuBurn,
    ServiceLoopBlock,
    DependencyLatency,
    DependencyStall,
    DependencyErrors,
    DependencyHang,
    DependencyReset,
    ProcessKill,
    ProcessTerm,
    ProcessPause,
    ProcessRestart,
    ContainerKill,
    ContainerStop,
    ContainerPause,
    ContainerRestart,
    ContainerMemory,
    ContainerCpu,
    NetworkDelay,
    NetworkLoss,
    NetworkRate,
    StressCpu,
    StressMemory,
)

#: Every fault type name -> its model.
FAULT_TYPES: dict[str, type[FaultBase]] = {
    m.model_fields["type"].annotation.__args__[0]: m  # type: ignore[union-attr]
    for m in FAULT_MODELS
}

FaultSpec = Annotated[
    ServiceLatency
    | ServiceErrors
    | ServiceException
    | ServiceMemoryLeak
    | ServiceCpuBurn
    | ServiceLoopBlock
    | DependencyLatency
    | DependencyStall
    | DependencyErrors
    | DependencyHang
    | DependencyReset
    | ProcessKill
    | ProcessTerm
    | ProcessPause
    | ProcessRestart
    | ContainerKill
    | ContainerStop
    | ContainerPause
    | ContainerRestart
    | ContainerMemory
    | ContainerCpu
    | NetworkDelay
    | NetworkLoss
    | NetworkRate
    | StressCpu
    | StressMemory,
    Field(discriminator="type"),
]
