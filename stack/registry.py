"""The runtimes: each name a drill's ``target.runtime`` (and ``crashlab up --runtime``) may take, how
to bring its stack up or find the running one, and which capabilities (:mod:`stack.capabilities`) its
stacks have.

A runtime is one package under ``stack/`` plus one entry in :data:`RUNTIMES`. Its package is imported
only when the runtime is used (``load``), so ``crashlab validate`` or ``crashlab up --runtime local``
never import the docker SDK. docs/contracts.md, "How to add a runtime", lists the files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from crashlab.rundir import RunDir
from stack.capabilities import Capability
from stack.runtime import Stack, StackConfig, StackError
from stack.statefile import state_file


@dataclass(frozen=True)
class Driver:
    """What a runtime's package provides."""

    #: bring a stack up for ``config``, wait until it is healthy and return it
    up: Callable[[StackConfig], Stack]
    #: the running stack of this runtime (from its state file), None when none runs
    attach: Callable[[], Stack | None]
    #: the class of its stacks (a test checks the declared capabilities against it)
    stack_class: type
    #: the stack a run used, from its run directory, for a runtime whose stacks outlive the drill and
    #: are not found by ``attach`` (``remote``): the leftover cleanup reverts a killed drill's faults
    #: through it; None for a runtime whose running stack ``attach`` finds
    recover: Callable[[RunDir], Stack | None] | None = None


@dataclass(frozen=True)
class Runtime:
    name: str
    summary: str
    #: what its stacks can do; ``crashlab validate`` checks faults against it
    capabilities: frozenset[Capability]
    #: imports the runtime's package (on first use only)
    load: Callable[[], Driver]
    #: True: its stack runs elsewhere, started by someone else; a drill names its parts' URLs
    #: (``target.urls``) and where its admin token comes from, and the runtime neither brings it up
    #: nor takes it down (``down`` leaves it running)
    connects: bool = False

    def driver(self) -> Driver:
        return _driver(self.name)

    def up(self, config: StackConfig) -> Stack:
        return self.driver().up(config)

    def attach(self) -> Stack | None:
        return self.driver().attach()

    def recover(self, run_dir: RunDir) -> Stack | None:
        """The stack ``run_dir``'s drill used, when this runtime can find it from the run directory."""
        recover = self.driver().recover
        return recover(run_dir) if recover is not None else None

    def has(self, capability: Capability) -> bool:
        return capability in self.capabilities

    @property
    def lease_path(self) -> Path:
        """The lease a drill holds on this runtime's stack while it uses it (crashlab.lease)."""
        return state_file(f"{self.name}-stack.lease")


def _local() -> Driver:
    from stack.local import LocalStack, attach, up

    return Driver(up=up, attach=attach, stack_class=LocalStack)


def _docker() -> Driver:
    from stack.docker import DockerStack, attach, up

    return Driver(up=up, attach=attach, stack_class=DockerStack)


def _remote() -> Driver:
    from stack.remote import RemoteStack, attach, recover, up

    return Driver(up=up, attach=attach, stack_class=RemoteStack, recover=recover)


#: what the stacks this kit brings up all do: they run the whole stack on this machine (Prometheus,
#: Alertmanager, the flag file) and restart and limit their parts
_WHOLE_STACK = frozenset(
    {
        Capability.RESTART,
        Capability.SCRAPE,
        Capability.MEMORY_LIMIT,
        Capability.FLAGS,
        Capability.ALERTMANAGER,
        Capability.MACHINE,
    }
)

RUNTIMES: tuple[Runtime, ...] = (
    Runtime(
        name="local",
        summary="supervised local processes and a real Prometheus binary (the embedded default)",
        capabilities=_WHOLE_STACK | {Capability.SIGNAL},
        load=_local,
    ),
    Runtime(
        name="docker",
        summary="stack/compose.yaml through Compose; chaos and observation through the docker SDK",
        capabilities=_WHOLE_STACK | {Capability.CONTAINER, Capability.NETNS},
        load=_docker,
    ),
    Runtime(
        name="remote",
        summary="a stack running elsewhere (a cluster through port-forwards, another machine), "
        "reached over HTTP only: its admin APIs, Prometheus and Alertmanager",
        # only what HTTP gives: no restart, PIDs, namespaces, containers, limits, flag file or scrape
        # targets. Pod, network and stress faults on a cluster (Chaos Mesh) come as capabilities its
        # stacks implement when the drill names a cluster, and fault kinds that need them
        # (docs/kubernetes.md, "Later"); the engine does not change.
        capabilities=frozenset({Capability.ALERTMANAGER}),
        load=_remote,
        connects=True,
    ),
)

#: the runtime names, in the registry's order (``local`` first: the default)
NAMES: tuple[str, ...] = tuple(rt.name for rt in RUNTIMES)
_BY_NAME = {rt.name: rt for rt in RUNTIMES}


def get(name: str) -> Runtime:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise StackError(f"stack: unknown runtime {name!r}; use one of {', '.join(NAMES)}") from None


@cache
def _driver(name: str) -> Driver:
    runtime = get(name)
    try:
        return runtime.load()
    except ImportError as exc:
        raise StackError(
            f"{name} runtime: cannot load its package ({exc}); use --runtime local or reinstall crashlab"
        ) from None


def with_capability(capability: Capability) -> tuple[str, ...]:
    """The runtimes whose stacks have ``capability`` (for messages: "runtimes that can: ...")."""
    return tuple(rt.name for rt in RUNTIMES if capability in rt.capabilities)


def attach_any() -> Stack | None:
    """The running stack of the first runtime (in registry order) that has one, or None."""
    for runtime in RUNTIMES:
        stack = runtime.attach()
        if stack is not None:
            return stack
    return None


def attach_all() -> list[Stack]:
    """Every running stack, one per runtime that has one (registry order)."""
    return [stack for runtime in RUNTIMES if (stack := runtime.attach()) is not None]
