"""What a running stack can do besides the basics of :class:`stack.runtime.Stack`, one protocol each.

A runtime's stacks implement some of these; its registry entry (:mod:`stack.registry`) declares which,
and a test checks that the declaration and the class agree. Faults declare the capabilities they need
(``FaultType.needs``); ``crashlab validate`` rejects a fault whose target runtime lacks one, and code
that uses a capability asks with ``isinstance(stack, Protocol)`` (typed, no ``getattr``).

Every protocol has methods only, so ``issubclass`` works on them as well as ``isinstance``.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class RestartsParts(Protocol):
    """Restart one part on request (the supervisor's or the engine's restart, not a crash)."""

    def restart(self, part: str) -> None: ...


@runtime_checkable
class SignalsProcesses(Protocol):
    """Each part is a process on this machine that may be signalled (SIGKILL, SIGSTOP...)."""

    def pid(self, part: str) -> int | None:
        """The part's current PID, None while it is down."""
        ...


@runtime_checkable
class NetworkNamespaces(Protocol):
    """A service lives in a network namespace of its own, where network faults may go."""

    def netns_of(self, part: str) -> str | None:
        """The ``ip netns`` name of the part's own namespace, None when it shares the host's."""
        ...


@runtime_checkable
class ContainerOps(Protocol):
    """Each service runs in a container the docker engine can stop, pause, update..."""

    def container(self, part: str) -> Any:
        """The part's container (a docker SDK ``Container``, reloaded)."""
        ...


@runtime_checkable
class ScrapeTargets(Protocol):
    """The stack's Prometheus scrapes targets added at run time (the runner's and Locust's metrics)."""

    def add_scrape_target(self, job: str, url: str) -> None:
        """Let Prometheus scrape ``url`` (``http://host:port``, path ``/metrics``) as ``job``."""
        ...

    def remove_scrape_target(self, job: str) -> None: ...


@runtime_checkable
class MemoryLimits(Protocol):
    """A part's memory limit can be read and changed while it runs (the game day's "give it more
    memory"); the runtime enforces it (the local supervisor kills at the limit, like Docker's OOM)."""

    def memory_limit_mb(self, part: str) -> int | None:
        """The part's limit in MB, None for no limit."""
        ...

    def set_memory_limit(self, part: str, limit_mb: int | None) -> int | None:
        """Set the limit (None: no limit, where the runtime allows it); returns the previous one."""
        ...


@runtime_checkable
class FlagFile(Protocol):
    """The services read their switches from one flag file (flagd's format) that may be rewritten."""

    def flag_file(self) -> Path: ...


@runtime_checkable
class AlertmanagerUrl(Protocol):
    """The stack runs an Alertmanager that receives its Prometheus' alerts."""

    def alertmanager_url(self) -> str:
        """Its base URL (API ``/api/v2/...``); a :class:`StackError` when this stack runs without one."""
        ...


@runtime_checkable
class SharesMachine(Protocol):
    """The stack's parts run on this machine: pressure put on it (stress faults) lands on them."""

    def machine(self) -> str:
        """This machine's name (where the parts run)."""
        ...


class Capability(enum.Enum):
    """The capabilities by name (what faults declare and ``crashlab chaos list`` shows)."""

    RESTART = "restart"
    SIGNAL = "signal"
    NETNS = "netns"
    CONTAINER = "container"
    SCRAPE = "scrape"
    MEMORY_LIMIT = "memory-limit"
    FLAGS = "flags"
    ALERTMANAGER = "alertmanager"
    MACHINE = "machine"

    @property
    def protocol(self) -> type:
        return _PROTOCOLS[self]

    @property
    def means(self) -> str:
        """What it lets one do, for messages: "a runtime that can <means>"."""
        return _MEANS[self]


_PROTOCOLS: dict[Capability, type] = {
    Capability.RESTART: RestartsParts,
    Capability.SIGNAL: SignalsProcesses,
    Capability.NETNS: NetworkNamespaces,
    Capability.CONTAINER: ContainerOps,
    Capability.SCRAPE: ScrapeTargets,
    Capability.MEMORY_LIMIT: MemoryLimits,
    Capability.FLAGS: FlagFile,
    Capability.ALERTMANAGER: AlertmanagerUrl,
    Capability.MACHINE: SharesMachine,
}

_MEANS: dict[Capability, str] = {
    Capability.RESTART: "restart a part on request",
    Capability.SIGNAL: "signal a part's process on this machine",
    Capability.NETNS: "give a service a network namespace of its own",
    Capability.CONTAINER: "operate on a service's container",
    Capability.SCRAPE: "add scrape targets to its Prometheus",
    Capability.MEMORY_LIMIT: "change a part's memory limit while it runs",
    Capability.FLAGS: "rewrite the services' flag file",
    Capability.ALERTMANAGER: "route alerts through an Alertmanager",
    Capability.MACHINE: "put load on the machine its parts run on (this one)",
}


def implemented_by(cls: type) -> frozenset[Capability]:
    """The capabilities whose protocol ``cls`` implements (by its methods)."""
    return frozenset(cap for cap in Capability if issubclass(cls, cap.protocol))


__all__ = [
    "AlertmanagerUrl",
    "Capability",
    "ContainerOps",
    "FlagFile",
    "MemoryLimits",
    "NetworkNamespaces",
    "RestartsParts",
    "ScrapeTargets",
    "SharesMachine",
    "SignalsProcesses",
    "implemented_by",
]
