"""The fault contract: every fault kind, its parameters model, and the limits all parts share.

One entry of :data:`KINDS` per fault type (``<family>.<kind>``): its parameters model, a one-line
summary and whether it is instant. Three parts use it and define no parameters of their own:

- the scenario model (``chaos/scenario/fault_specs.py``): a step's ``fault`` is the type plus that
  model, flat in the YAML (``{type: dependency.stall, ms: 120, ...}``);
- the fault catalogue (``chaos/faults/*``): one implementation (inject/revert) per type;
- the services' admin API (``service/faults.py``): ``service.*`` types are the game's admin types
  (``POST /admin/faults`` with ``type`` = the part after the dot), ``dependency.*`` the odds service's.

So ``crashlab validate`` accepts a parameter exactly when the admin API does. Every model is strict
(JSON/YAML types as documented: ``"10"`` is not a number, ``true`` is not a rate), forbids unknown
fields and non-finite numbers. docs/contracts.md ("Fault contract") has the table and says how to
add a fault kind.
"""

from __future__ import annotations

import builtins
import signal
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from crashlab.durations import Duration, format_duration

#: the longest TTL a fault may have, in seconds (admin API ``ttl_s``, a drill step's ``duration``)
MAX_TTL_S = 3600.0
#: the most faults one service keeps active at once; the admin API answers 409 beyond it
MAX_ACTIVE_FAULTS = 32
#: fault families, in the order ``crashlab chaos list`` shows them
FAMILIES = ("service", "dependency", "process", "container", "network", "stress")
#: families carried out by a service's admin API, and which service's
ADMIN_FAMILIES: dict[str, Literal["game", "odds"]] = {"service": "game", "dependency": "odds"}
#: JSON Schema / pydantic error type of a rule between two parameters (shown as its message alone)
RULE_ERROR = "fault_rule"

ServiceName = Literal["game", "odds"]
#: process faults also reach the stack's own Prometheus (a telemetry outage)
ProcessTarget = Literal["game", "odds", "prometheus"]
Rate = Annotated[float, Field(ge=0, le=1, description="probability 0..1 that a request is affected")]
#: milliseconds of added delay (at most 10 minutes)
Millis = Annotated[float, Field(ge=0, le=600_000)]


class Params(BaseModel):
    """Base of every parameters model: strict JSON types, no unknown fields, finite numbers."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


# --- admin API kinds (the game's and the odds service's own fault hooks) ------------------------------


class LatencyParams(Params):
    """``latency`` (answers late) and ``stall`` (first byte late): ``ms``, ramping to ``ramp_to_ms``."""

    ms: Millis = Field(description="added latency in ms (start of the ramp)")
    jitter_ms: Millis = Field(0.0, description="uniform jitter around ms")
    rate: Rate = 1.0
    ramp_to_ms: Millis | None = Field(None, description="ramp linearly from ms to this over 'ramp'")
    ramp: Duration = Field(
        0.0,
        le=MAX_TTL_S,
        validate_default=True,
        description="how long the ramp from ms to ramp_to_ms takes (seconds, or 250ms, 4s, 2m)",
    )

    @field_validator("ramp")
    @classmethod
    def _ramp_pairs(cls, ramp: float, info: ValidationInfo) -> float:
        """``ramp_to_ms`` and ``ramp`` come together."""
        if "ramp_to_ms" not in info.data:  # ramp_to_ms itself is invalid: reported there
            return ramp
        ramp_to = info.data["ramp_to_ms"]
        if ramp_to is not None and not ramp:
            raise PydanticCustomError(
                RULE_ERROR,
                "required field missing (how long the ramp to {to} ms takes)",
                {"to": f"{ramp_to:g}"},
            )
        if ramp and ramp_to is None:
            raise PydanticCustomError(
                RULE_ERROR,
                "needs ramp_to_ms (where the {ramp} ramp ends)",
                {"ramp": format_duration(ramp)},
            )
        return ramp

    def delay_ms(self, elapsed_s: float) -> float:
        """The delay ``elapsed_s`` after the fault started, before jitter."""
        if self.ramp_to_ms is None:
            return self.ms
        frac = min(1.0, elapsed_s / self.ramp) if self.ramp > 0 else 1.0
        return self.ms + (self.ramp_to_ms - self.ms) * frac


class ErrorsParams(Params):
    rate: Rate = 1.0
    status: int = Field(500, ge=400, le=599, description="HTTP status")
    code: str | None = Field(
        None,
        pattern=r"^[A-Z][A-Z0-9_]{0,63}$",
        description="error code in the body (a code of service/errors.py; others answer SYS_INJECTED)",
    )


class RateParams(Params):
    rate: Rate = 1.0


class ExceptionParams(Params):
    rate: Rate = 1.0
    where: Literal["handler", "background"] = Field(
        "handler", description="handler: a 500; background: in naive, an unrecovered panic (exit 2)"
    )


class MemoryLeakParams(Params):
    mb_per_s: float = Field(gt=0, le=1024, description="leak speed (MB/s)")
    max_mb: float | None = Field(
        None, gt=0, le=16_384, description="stop growing at this much (MB); null: grow until the fault ends"
    )


class CpuBurnParams(Params):
    percent: float = Field(100.0, gt=0, le=100, description="percent of one core, per thread")
    threads: int = Field(1, ge=1, le=16, description="burning threads")


class LoopBlockParams(Params):
    block_ms: float = Field(gt=0, le=60_000, description="how long each block of the event loop lasts")
    every_ms: float = Field(1000.0, gt=0, le=600_000, description="pause between two blocks")


# --- process.* (local runtime) ------------------------------------------------------------------------


class ProcessParams(Params):
    service: ProcessTarget = Field("game", description="which process: game, odds, or the stack's prometheus")


# --- container.* (docker runtime) ---------------------------------------------------------------------


class ContainerParams(Params):
    service: ServiceName = Field("game", description="which service's container")


def _signal_text(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class ContainerKillParams(ContainerParams):
    signal: Annotated[str, BeforeValidator(_signal_text)] = Field(
        "SIGKILL", pattern=r"^((SIG)?[A-Z0-9]+|[0-9]+)$", description="signal to send (name or number)"
    )
    via: Literal["process", "api"] = Field(
        "process", description="process: signal the main process (restart policy applies); api: docker kill"
    )

    @field_validator("signal")
    @classmethod
    def _known_signal(cls, value: str) -> str:
        text = value if value.isdigit() or value.startswith("SIG") else f"SIG{value}"
        try:
            return (signal.Signals(int(text)) if text.isdigit() else signal.Signals[text]).name
        except (KeyError, ValueError):
            raise ValueError(f"unknown signal {value!r}") from None


class ContainerMemoryParams(ContainerParams):
    limit_mb: int = Field(gt=5, description="new memory limit (MB; the engine's minimum is 6)")


class ContainerCpuParams(ContainerParams):
    cpus: float = Field(gt=0, le=64, description="new CPU limit (cores)")


# --- network.* (in a network namespace of the target's own) -------------------------------------------


class NetworkParams(Params):
    service: ServiceName = Field("odds", description="the service whose network namespace gets the fault")
    netns: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$",
        description="explicit network namespace (ip netns)",
    )
    pid: int | None = Field(None, ge=1, description="explicit process whose network namespace to use")
    dev: str = Field("lo", pattern=r"^[A-Za-z0-9_.:@-]{1,15}$", description="device inside the namespace")


class NetworkDelayParams(NetworkParams):
    ms: float = Field(gt=0, le=600_000, description="added delay (ms)")
    jitter_ms: Millis = Field(0.0, description="delay jitter (ms)")


class NetworkLossParams(NetworkParams):
    percent: float = Field(gt=0, le=100, description="packet loss")


class NetworkRateParams(NetworkParams):
    kbit: int = Field(gt=0, description="bandwidth limit (kbit/s)")


# --- stress.* (the machine running the stack) ---------------------------------------------------------


class StressCpuParams(Params):
    workers: int = Field(1, ge=1, le=64, description="CPU hog workers")
    load_percent: float = Field(100.0, gt=0, le=100, description="load per worker")


class StressMemoryParams(Params):
    mb: int = Field(gt=0, le=65_536, description="memory to hold (MB)")


# --- the kinds ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaultKind:
    """One fault type of the contract."""

    type: str
    params: builtins.type[Params]
    summary: str
    #: one-shot (kill, restart): nothing to revert, a drill step's ``duration`` is optional
    instant: bool = False

    @property
    def family(self) -> str:
        return self.type.split(".", 1)[0]

    @property
    def name(self) -> str:
        """The part after the family: the admin API's ``type`` for admin families."""
        return self.type.split(".", 1)[1]

    @property
    def admin_service(self) -> ServiceName | None:
        """The service whose admin API carries this fault out (None: the runner does it)."""
        return ADMIN_FAMILIES.get(self.family)


KINDS: tuple[FaultKind, ...] = (
    FaultKind("service.latency", LatencyParams, "added latency in the game's handlers"),
    FaultKind("service.errors", ErrorsParams, "the game answers errors"),
    FaultKind("service.exception", ExceptionParams, "unexpected errors (background: a panic in naive)"),
    FaultKind("service.memory_leak", MemoryLeakParams, "the game leaks memory"),
    FaultKind("service.cpu_burn", CpuBurnParams, "the game burns CPU"),
    FaultKind("service.loop_block", LoopBlockParams, "the game's event loop is blocked"),
    FaultKind("dependency.latency", LatencyParams, "odds answers late (ms, jitter, ramp)"),
    FaultKind("dependency.stall", LatencyParams, "odds stalls before the first byte (like a TLS stall)"),
    FaultKind("dependency.errors", ErrorsParams, "odds answers errors"),
    FaultKind("dependency.hang", RateParams, "odds never answers (until the fault ends)"),
    FaultKind("dependency.reset", RateParams, "odds resets the connection"),
    FaultKind("dependency.memory_leak", MemoryLeakParams, "the odds service leaks memory"),
    FaultKind("dependency.cpu_burn", CpuBurnParams, "the odds service burns CPU"),
    FaultKind("dependency.loop_block", LoopBlockParams, "the odds service's event loop is blocked"),
    FaultKind("process.kill", ProcessParams, "SIGKILL the service's process", instant=True),
    FaultKind("process.term", ProcessParams, "SIGTERM the service's process", instant=True),
    FaultKind("process.pause", ProcessParams, "SIGSTOP the process for the duration, SIGCONT on revert"),
    FaultKind("process.restart", ProcessParams, "restart the service through the stack", instant=True),
    FaultKind(
        "container.kill",
        ContainerKillParams,
        "send a signal to the container's main process (restart policy applies)",
        instant=True,
    ),
    FaultKind("container.stop", ContainerParams, "stop the service's container (revert: start it)"),
    FaultKind("container.pause", ContainerParams, "pause the container (cgroup freezer; revert: unpause)"),
    FaultKind("container.restart", ContainerParams, "restart the service's container", instant=True),
    FaultKind("container.memory", ContainerMemoryParams, "change the container's memory limit for a while"),
    FaultKind("container.cpu", ContainerCpuParams, "change the container's CPU quota for a while"),
    FaultKind("network.delay", NetworkDelayParams, "delay (with jitter) in the target's network namespace"),
    FaultKind("network.loss", NetworkLossParams, "packet loss in the target's network namespace"),
    FaultKind("network.rate", NetworkRateParams, "bandwidth limit in the target's network namespace"),
    FaultKind("stress.cpu", StressCpuParams, "CPU hogs on the machine (stress-ng --cpu, or Python hogs)"),
    FaultKind("stress.memory", StressMemoryParams, "a memory hog on the machine (stress-ng --vm, or Python)"),
)

#: every fault type by name
FAULT_KINDS: dict[str, FaultKind] = {kind.type: kind for kind in KINDS}


def admin_kinds(service: ServiceName) -> dict[str, type[Params]]:
    """The admin API ``type`` names one service takes, and their parameters models."""
    return {kind.name: kind.params for kind in KINDS if kind.admin_service == service}
