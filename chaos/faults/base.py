"""What every fault family offers: validate params, inject with a TTL, revert from a JSON handle.

A fault *handle* is a plain JSON object holding everything ``revert`` needs (fault id and admin
URL, PID, network namespace and device, helper PIDs). The runner journals it with every
``fault injected`` event, so ``crashlab chaos revert --all`` can undo leftovers after the runner
itself was SIGKILLed. Every injection carries a TTL at its point of injection (admin API ``ttl_s``,
a detached timer process, ``stress-ng --timeout``), so a fault ends even if nobody reverts it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

from chaos.faults.errors import FaultError
from crashlab.faultkinds import FAULT_KINDS, MAX_TTL_S, ContainerParams, FaultKind, Params, ProcessParams
from stack.capabilities import Capability
from stack.runtime import Stack

Handle = dict[str, Any]
RevertOutcome = Literal["reverted", "expired", "gone"]

#: Seconds added to a fault's duration for its TTL at the point of injection: the runner reverts
#: at the end of the duration, the TTL is only the safety net.
TTL_MARGIN_S = 2.0


@dataclass
class FaultContext:
    """What a fault needs to know about the running stack."""

    urls: Mapping[str, str] = field(default_factory=dict)
    admin_token: str = ""
    runtime: str = "local"
    #: current PID of a service (local runtime), None when it is down
    pid_of: Callable[[str], int | None] = lambda _service: None
    #: the network namespace a service lives in (network faults), None: the host's own
    netns_of: Callable[[str], str | None] = lambda _service: None
    #: the running stack: faults that need a capability (restart, containers) ask it with
    #: ``isinstance(ctx.stack, <protocol of stack.capabilities>)``
    stack: Stack | None = None

    def url(self, service: str) -> str:
        try:
            return self.urls[service].rstrip("/")
        except KeyError:
            raise FaultError(f"the stack has no URL for {service!r} (known: {sorted(self.urls)})") from None


class FaultType(Protocol):
    """One entry of the catalogue, for example ``dependency.stall``: the implementation of a fault type
    of the contract (:mod:`crashlab.faultkinds`), which holds its parameters model and summary."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> FaultKind: ...

    @property
    def revertible(self) -> bool:
        """False for instantaneous faults (process.kill): nothing to revert."""
        ...

    #: what the target stack must be able to do (``crashlab validate`` checks its runtime has it)
    needs: ClassVar[frozenset[Capability]]

    def target(self, params: Params) -> str: ...

    def inject(self, params: Params, ttl_s: float, ctx: FaultContext, *, label: str) -> Awaitable[Handle]: ...

    def revert(self, handle: Handle, ctx: FaultContext) -> Awaitable[RevertOutcome]: ...


@dataclass(frozen=True)
class Implementation:
    """Base of the catalogue's implementations: ``name`` is the fault type; its contract entry says the
    rest (parameters model, summary, whether it is instant)."""

    name: str
    #: what the target stack must be able to do; none: any runtime (HTTP only, or this machine)
    needs: ClassVar[frozenset[Capability]] = frozenset()

    def __post_init__(self) -> None:
        if self.name not in FAULT_KINDS:
            raise TypeError(f"{self.name!r} is not a fault type of crashlab.faultkinds")

    @property
    def kind(self) -> FaultKind:
        return FAULT_KINDS[self.name]

    @property
    def revertible(self) -> bool:
        return not self.kind.instant


def check_ttl(ttl_s: float) -> float:
    if not 0 < ttl_s <= MAX_TTL_S:
        raise FaultError(f"fault TTL must be in (0, {MAX_TTL_S:g}] seconds, got {ttl_s}")
    return ttl_s


class OnService:
    """Mixin of fault types whose params name a ``service``: the target is that service."""

    def target(self, params: Params) -> str:
        assert isinstance(params, ProcessParams | ContainerParams), type(params).__name__
        return params.service


class Instantaneous(OnService):
    """Mixin of instantaneous faults on a service (a signal, a restart): nothing to revert."""

    async def revert(self, handle: Handle, ctx: FaultContext) -> RevertOutcome:
        return "expired"
