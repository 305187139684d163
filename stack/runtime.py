"""What every runtime offers the drill runner and the CLI: :class:`Stack`, the basics of a running
stack. What only some runtimes can do (restart a part, signal its process, containers, network
namespaces, scrape targets, memory limits...) is a capability protocol of :mod:`stack.capabilities`;
the runtimes and the capabilities their stacks have are listed in :mod:`stack.registry`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, TypeVar

from crashlab.errors import CrashlabError
from crashlab.rundir import RunDir

#: a name of :data:`stack.registry.NAMES` (``local``, ``docker``, ...)
RuntimeName = str
RestartPolicyName = Literal["no", "on-failure", "always"]
ExitReason = Literal["clean", "panic", "oom", "killed", "crash"]

#: The services a stack runs, besides its observability parts.
SERVICES = ("odds", "game")


class StackError(CrashlabError):
    """A stack part failed to start, stop or answer; the message names the part and what to do."""


@dataclass(frozen=True)
class RestartPolicy:
    name: RestartPolicyName = "on-failure"
    max_retries: int = 10
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 10.0


@dataclass
class StackConfig:
    """Everything needed to bring a stack up. Defaults give a healthy, hardened stack."""

    run_dir: RunDir
    runtime: RuntimeName = "local"
    profile: str = "hardened"
    #: switch overrides, for example ``{"circuit_breaker": {"enabled": False}}`` or ``{"retry": False}``
    switches: dict[str, Any] = field(default_factory=dict)
    #: memory limit per service in MB (None: no limit)
    memory_limits_mb: dict[str, int] = field(default_factory=dict)
    restart_policy: RestartPolicy = field(default_factory=RestartPolicy)
    seed: int = 42
    host: str = "127.0.0.1"
    #: fixed ports per part (``game``, ``odds``, ``prometheus``, ``alertmanager``, ``supervisor``);
    #: missing or 0: a free port
    ports: dict[str, int] = field(default_factory=dict)
    with_prometheus: bool = True
    #: an Alertmanager that receives Prometheus' alerts (needs Prometheus)
    with_alertmanager: bool = True
    #: the webhook that receives the pages (Alertmanager's ``pager`` receiver; the game-day console's
    #: pager); None: pages are routed and shown in Alertmanager but sent nowhere
    pager_url: str | None = None
    #: the bearer token the pager's webhook carries (the game-day console checks it); None: no header
    pager_token: str | None = None
    #: base URL of the runbooks in the alerts' ``runbook_url``; None: this checkout's docs/runbooks
    runbooks_url: str | None = None
    #: ``fast`` (drill windows, seconds) or ``real`` (SRE-book windows) alert windows
    alert_windows: Literal["fast", "real"] = "fast"
    #: extra environment for the services
    env: dict[str, str] = field(default_factory=dict)
    health_timeout_s: float = 20.0
    #: the services' admin token; None: a fresh random one (a runtime that connects to a stack running
    #: elsewhere reads it from ``admin_token_file`` or ``$CRASHLAB_ADMIN_TOKEN`` instead)
    admin_token: str | None = None
    #: a runtime that connects to a stack running elsewhere (``Runtime.connects``): its parts' URLs
    #: (``game``, ``odds``, ``prometheus``, optionally ``alertmanager``), from a drill's ``target.urls``
    urls: dict[str, str] = field(default_factory=dict)
    #: ... and the file holding its admin token (``target.admin_token_file``, absolute)
    admin_token_file: Path | None = None


@dataclass(frozen=True)
class PartStatus:
    name: str
    pid: int | None
    url: str
    healthy: bool
    restarts: int

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pid": self.pid,
            "url": self.url,
            "healthy": self.healthy,
            "restarts": self.restarts,
        }


class Stack(Protocol):
    """A running stack. ``urls`` has at least ``game`` and ``odds``, and ``prometheus`` unless the
    stack runs without one."""

    @property
    def runtime(self) -> RuntimeName: ...

    @property
    def run_dir(self) -> RunDir: ...

    @property
    def urls(self) -> dict[str, str]: ...

    @property
    def admin_token(self) -> str: ...

    def status(self) -> list[PartStatus]: ...

    def down(self) -> None:
        """Stop everything this stack started; nothing is left running."""
        ...


class StackRecord(Protocol):
    """What every runtime's state file records about a running stack."""

    @property
    def run_path(self) -> str: ...

    @property
    def urls(self) -> dict[str, str]: ...

    @property
    def admin_token(self) -> str: ...


RecordT = TypeVar("RecordT", bound=StackRecord)


class RecordedStack(Generic[RecordT]):
    """The runtime-independent part of a :class:`Stack`: what its state file records."""

    state: RecordT

    @property
    def run_dir(self) -> RunDir:
        return RunDir(Path(self.state.run_path))

    @property
    def urls(self) -> dict[str, str]:
        """``game``, ``odds``, ``prometheus`` (unless started without it) and the runtime's own parts."""
        return dict(self.state.urls)

    @property
    def admin_token(self) -> str:
        return self.state.admin_token

    def flag_file(self) -> Path:
        """The services' switches (``runs/<id>/flags/flags.json``; see ``stack.switches``)."""
        return self.run_dir.flag_file
