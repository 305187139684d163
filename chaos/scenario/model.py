"""The drill scenario model: the single source of the YAML format and of ``scenarios/schema.json``.

Every model forbids unknown fields. Durations are float seconds (see :mod:`crashlab.durations`).
Fault specs live in :mod:`chaos.scenario.fault_specs` and are re-exported here. Read a file with
:func:`chaos.scenario.load_scenario` (line numbers, semantic checks), not ``Scenario.model_validate``.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from chaos.scenario.fault_specs import FAMILIES, FAULT_MODELS, FAULT_TYPES, FaultBase, FaultSpec, ServiceName
from crashlab.durations import (
    Duration,
    FixedDuration,
    PositiveDuration,
    PositiveFixedDuration,
    format_duration,
)
from gameday.model import GameDay, Until
from service.profile import SWITCHES as SWITCH_NAMES
from service.profile import SwitchName
from stack import registry as runtimes

if TYPE_CHECKING:
    RuntimeName = str
else:
    #: a runtime of stack.registry: a Literal built from its names, so the schema lists them and a
    #: typo gets a suggestion; a new runtime needs no change here
    RuntimeName = Literal[runtimes.NAMES]

__all__ = [
    "FAMILIES",
    "FAULT_MODELS",
    "FAULT_TYPES",
    "SWITCH_NAMES",
    "Expectations",
    "FaultBase",
    "FaultSpec",
    "FaultStep",
    "GroupStep",
    "Guardrail",
    "HttpCheck",
    "HttpGuardrail",
    "HttpProbe",
    "Load",
    "Probe",
    "PromQLGuardrail",
    "PromQLProbe",
    "Repeat",
    "ReportHints",
    "Scenario",
    "StackUrls",
    "Step",
    "Target",
]

Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]
PromQL = Annotated[str, Field(min_length=1, description="a PromQL expression")]
Fraction = Annotated[float, Field(ge=0, le=1)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=True)


def _which_key(data: Any, keys: tuple[str, ...]) -> str | None:
    """The discriminator of a union told apart by which key is present."""
    if isinstance(data, dict):
        for key in keys:
            if key in data:
                return key
        return None
    for key in keys:
        if getattr(data, key, None) is not None:
            return key
    return None


def _probe_tag(prefix: str, value: Any) -> str | None:
    key = _which_key(value, ("promql", "http"))
    return None if key is None else f"{prefix}:{key}"


# --- target -----------------------------------------------------------------------------------------


class RestartPolicy(Model):
    name: Literal["no", "on-failure", "always"] = "on-failure"
    max_retries: int = Field(20, ge=0)
    backoff: FixedDuration = 0.5
    backoff_max: FixedDuration = 5.0


SwitchOverride = Annotated[
    Annotated[bool, Tag("switch:enabled")] | Annotated[dict[str, Any], Tag("switch:settings")],
    Discriminator(lambda v: "switch:settings" if isinstance(v, dict) else "switch:enabled"),
]


#: the one host name a drill may use besides loopback addresses: all drill traffic stays on loopback
LOOPBACK_HOSTS = ("localhost",)


def loopback_host(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1 in any spelling); a name that merely starts
    with ``127.`` (``127.0.0.1.attacker.example``) is a name a resolver may send anywhere."""
    if host.lower() in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _stack_url(value: str) -> str:
    """A base URL of a part of a stack running elsewhere: http(s), a loopback host (a port-forward or a
    tunnel gets there), no credentials, query or fragment."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"not a valid URL: {exc}") from None
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError("must be an http(s) URL, e.g. http://127.0.0.1:18080")
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "must not carry credentials: the admin token comes from $CRASHLAB_ADMIN_TOKEN or "
            "target.admin_token_file, never from the drill file"
        )
    if parts.query or parts.fragment:
        raise ValueError("must be a base URL, without a query or a fragment")
    if not loopback_host(host):
        raise ValueError(
            f"drills only talk to loopback (127.0.0.0/8, localhost); reach the stack at {host!r} through "
            "a port-forward or an SSH tunnel (docs/stack.md)"
        )
    if not port:
        raise ValueError("needs a port (a port-forward's local port, e.g. http://127.0.0.1:18080)")
    return value


StackUrl = Annotated[str, Field(min_length=1), AfterValidator(_stack_url)]


class StackUrls(Model):
    """Where the parts of a stack running elsewhere answer (``runtime: remote``)."""

    game: StackUrl = Field(description="the game service (its /play, /healthz and admin API)")
    odds: StackUrl = Field(description="the odds service (its admin API takes the dependency faults)")
    prometheus: StackUrl = Field(description="the Prometheus that scrapes game and odds (jobs game, odds)")
    alertmanager: StackUrl | None = Field(None, description="the Alertmanager its alerts go to")


class Target(Model):
    """What the drill runs against."""

    runtime: RuntimeName = "local"
    urls: StackUrls | None = Field(
        None,
        description="runtime remote only: the URLs of the stack running elsewhere (loopback: a "
        "port-forward or a tunnel)",
    )
    admin_token_file: str | None = Field(
        None,
        min_length=1,
        description="runtime remote only: a file holding the admin token (default: $CRASHLAB_ADMIN_TOKEN); "
        "a relative path is from the drill file's folder. Never the token itself",
    )
    profile: str = Field("naive", min_length=1, description="naive | hardened | path to a profile YAML")
    switches: dict[SwitchName, SwitchOverride] = Field(
        default_factory=dict, description="switch overrides: a bool sets 'enabled', a mapping sets settings"
    )
    memory_limits_mb: dict[ServiceName, Annotated[int, Field(gt=0)]] = Field(default_factory=dict)
    restart_policy: RestartPolicy = Field(default_factory=RestartPolicy)
    seed: int | None = None


# --- load -------------------------------------------------------------------------------------------


class Stage(Model):
    duration: PositiveDuration
    users: int = Field(ge=0)
    spawn_rate: float | None = Field(None, gt=0)


class ThinkTime(Model):
    min: FixedDuration = 0.0
    max: FixedDuration = 0.0

    @model_validator(mode="after")
    def _ordered(self) -> ThinkTime:
        if self.min > self.max:
            raise ValueError(f"min ({format_duration(self.min)}) is above max ({format_duration(self.max)})")
        return self


#: The Locust tasks of chaos/load/locustfile.py.
TaskName = Literal["play", "readyz", "healthz"]


def _default_mix() -> dict[TaskName, int]:
    return {"play": 1}


class LoadMaster(Model):
    """Where the Locust master listens for its workers (``crashlab load worker --master HOST:PORT``)."""

    bind: str = Field("127.0.0.1", min_length=1, description="interface; 0.0.0.0 to let other machines join")
    port: int = Field(5557, ge=1, le=65535)
    remote_workers: int = Field(
        0, ge=0, le=256, description="workers from other machines to wait for before the load starts"
    )
    wait: PositiveFixedDuration = Field(60.0, description="how long to wait for every worker to join")


class Load(Model):
    """Locust load, run headless as a subprocess: either ``duration`` (with ``users``) or ``stages``."""

    users: int | None = Field(None, ge=1)
    spawn_rate: float | None = Field(None, gt=0, description="users started per second (default: users)")
    duration: PositiveDuration | None = None
    stages: list[Stage] | None = Field(None, min_length=1)
    request_mix: dict[TaskName, Annotated[int, Field(ge=0)]] = Field(
        default_factory=_default_mix, description="integer weights of the Locust tasks"
    )
    client_timeout: PositiveFixedDuration | None = Field(None, description="players give up after this")
    client_retries: int = Field(0, ge=0, le=10, description="and try again at once (no backoff)")
    think_time: ThinkTime = Field(default_factory=ThinkTime)
    players: int = Field(50, ge=1, description="distinct X-Player-Id values")
    workers: int = Field(
        0,
        ge=0,
        le=64,
        description="Locust worker processes on this machine under one master (one core each); "
        "0: one Locust process",
    )
    master: LoadMaster | None = Field(
        None, description="the master's address for workers from other machines (default: loopback only)"
    )

    @model_validator(mode="after")
    def _shape(self) -> Load:
        if self.duration is None and self.stages is None:
            raise ValueError("needs either 'duration' (with 'users') or 'stages'")
        if self.duration is not None and self.stages is not None:
            raise ValueError("has both 'duration' and 'stages'; keep one")
        if self.stages is None and self.users is None:
            raise ValueError("'duration' needs 'users'")
        return self

    @field_validator("master")
    @classmethod
    def _master_has_workers(cls, master: LoadMaster | None, info: ValidationInfo) -> LoadMaster | None:
        if master is not None and not info.data.get("workers") and master.remote_workers == 0:
            raise ValueError("needs 'load.workers' or 'remote_workers' (no worker would join it)")
        return master

    @property
    def total_s(self) -> float:
        if self.stages is not None:
            return sum(stage.duration for stage in self.stages)
        return self.duration or 0.0


# --- probes and guardrails --------------------------------------------------------------------------


class Tolerance(Model):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Tolerance:
        if self.min is None and self.max is None:
            raise ValueError("needs 'min', 'max' or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self


class HttpCheck(Model):
    """An HTTP request; ``url`` may use ``{game}``, ``{odds}``, ``{prometheus}`` (filled from the stack)."""

    url: str = Field(min_length=1)
    method: Literal["GET", "POST", "PUT", "DELETE", "HEAD"] = "GET"
    status: int = Field(200, ge=100, le=599)
    timeout: PositiveFixedDuration = 1.0


class PromQLProbe(Model):
    """Passes while the query's value is within the tolerance (every series, when it returns several)."""

    name: Name
    promql: PromQL
    tolerance: Tolerance


class HttpProbe(Model):
    """Passes when the request answers the expected status within the timeout."""

    name: Name
    http: HttpCheck


Probe = Annotated[
    Annotated[PromQLProbe, Tag("probe:promql")] | Annotated[HttpProbe, Tag("probe:http")],
    Discriminator(
        lambda v: _probe_tag("probe", v),
        custom_error_type="probe_kind",
        custom_error_message="a probe needs either 'promql' or 'http'",
    ),
]


class During(Model):
    interval: PositiveDuration = 5.0
    probes: list[Probe] = Field(min_length=1)


class SteadyState(Model):
    """The steady-state hypothesis: probes before the load, during it (at an interval) and after."""

    before: list[Probe] = Field(default_factory=list)
    during: During | None = None
    after: list[Probe] = Field(default_factory=list)


class Threshold(Model):
    above: float | None = None
    below: float | None = None

    @model_validator(mode="after")
    def _one(self) -> Threshold:
        if self.above is None and self.below is None:
            raise ValueError("needs 'above', 'below' or both")
        return self


class PromQLGuardrail(Model):
    """Aborts the drill (and reverts every fault) when the query crosses the threshold for ``for``."""

    name: Name
    promql: PromQL
    abort_when: Threshold
    for_: Duration = Field(0.0, alias="for")


class HttpGuardrail(Model):
    """Aborts the drill when the request keeps failing for ``for``."""

    name: Name
    http: HttpCheck
    abort_when: Literal["failing"] = "failing"
    for_: Duration = Field(0.0, alias="for")


Guardrail = Annotated[
    Annotated[PromQLGuardrail, Tag("guardrail:promql")] | Annotated[HttpGuardrail, Tag("guardrail:http")],
    Discriminator(
        lambda v: _probe_tag("guardrail", v),
        custom_error_type="guardrail_kind",
        custom_error_message="a guardrail needs either 'promql' or 'http'",
    ),
]


# --- timeline ---------------------------------------------------------------------------------------


class Repeat(Model):
    """``count`` occurrences ``every`` apart; or, in a game day, ``until`` the game day ends (``end``) or
    a PromQL condition has held ``for`` a while (only a top-level step may recur until something)."""

    count: int | None = Field(None, ge=1, le=1000)
    every: PositiveDuration
    until: Until | None = Field(
        None, description="game days: 'end', or {promql, for}: recur until the query has held for a while"
    )

    @model_validator(mode="after")
    def _count_or_until(self) -> Repeat:
        if (self.count is None) == (self.until is None):
            raise ValueError("needs exactly one of 'count' or 'until'")
        return self

    @property
    def times(self) -> int:
        """How many occurrences a finite repeat has (1 for one that recurs until something)."""
        return self.count or 1


class FaultStep(Model):
    """One fault at ``at`` (from the timeline start, or from its group's start) for ``duration``."""

    kind: ClassVar[str] = "fault"
    name: Name
    at: Duration = 0.0
    duration: PositiveDuration | None = Field(
        None, description="the fault's TTL and revert time (optional for instant faults: kill, restart)"
    )
    fault: FaultSpec
    repeat: Repeat | None = None
    baseline: bool = Field(
        False,
        description="part of the normal world (e.g. the dependency's usual latency), not an incident fault: "
        "the report shades it apart and never takes it as the incident's start",
    )


class GroupStep(Model):
    """Steps that run together (``parallel``: ``at`` relative to the group's start) or one after the other
    (``sequence``: each child's ``at`` is a gap after the previous child ends)."""

    kind: ClassVar[str] = "group"
    name: Name
    at: Duration = 0.0
    parallel: list[Step] | None = Field(None, min_length=1)
    sequence: list[Step] | None = Field(None, min_length=1)
    repeat: Repeat | None = None

    @model_validator(mode="after")
    def _one_mode(self) -> GroupStep:
        if (self.parallel is None) == (self.sequence is None):
            raise ValueError("a group needs exactly one of 'parallel' or 'sequence'")
        return self

    @property
    def mode(self) -> Literal["parallel", "sequence"]:
        return "parallel" if self.parallel is not None else "sequence"

    @property
    def children(self) -> list[Step]:
        return self.parallel if self.parallel is not None else (self.sequence or [])


def _step_kind(value: Any) -> str | None:
    key = _which_key(value, ("fault", "parallel", "sequence"))
    return None if key is None else ("step:fault" if key == "fault" else "step:group")


Step = Annotated[
    Annotated[FaultStep, Tag("step:fault")] | Annotated[GroupStep, Tag("step:group")],
    Discriminator(
        _step_kind,
        custom_error_type="step_kind",
        custom_error_message="a step needs 'fault', 'parallel' or 'sequence'",
    ),
]


# --- expectations and report ------------------------------------------------------------------------


class CountRange(Model):
    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> CountRange:
        if self.min is None and self.max is None:
            raise ValueError("needs 'min', 'max' or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self


CrashCount = Annotated[
    Annotated[Annotated[int, Field(ge=0)], Tag("count:exact")] | Annotated[CountRange, Tag("count:range")],
    Discriminator(lambda v: "count:range" if isinstance(v, dict | CountRange) else "count:exact"),
]


class Expectations(Model):
    """What decides the drill's verdict. Every one set must hold."""

    crashes: CrashCount | None = Field(
        None, description="process crashes (exits not asked for): exact, or {min, max}"
    )
    alerts_fired: list[str] = Field(default_factory=list)
    alerts_not_fired: list[str] = Field(default_factory=list)
    max_p99_ms: float | None = Field(None, gt=0)
    availability_min: Fraction | None = Field(
        None,
        description="lowest /play availability over the drill: as the players saw it (the load generator's "
        "counters) when load ran, else as the game counted it (not 5xx)",
    )
    availability_max: Fraction | None = Field(
        None, description="highest /play availability over the drill (same measure as availability_min)"
    )
    degraded_min: int | None = Field(None, ge=0, description="at least that many degraded answers")


class Slo(Model):
    availability: float = Field(0.99, gt=0, lt=1)
    latency_ms: float = Field(500, gt=0)
    latency_target: float = Field(0.95, gt=0, lt=1)


class ReportHints(Model):
    title: str | None = None
    slo: Slo = Field(default_factory=Slo)


# --- the scenario -----------------------------------------------------------------------------------


class Scenario(Model):
    """A drill file."""

    model_config = ConfigDict(
        title="crashlab drill scenario",
        json_schema_extra={"description": "A crashlab drill: target, load, steady state, timeline, verdict."},
    )
    schema_version: ClassVar[int] = 1

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=64)
    title: str | None = None
    description: str = Field(min_length=1)
    learning_goals: list[str] = Field(default_factory=list)
    expected_signals: list[str] = Field(default_factory=list, description="what the trainees should see")
    debrief: list[str] = Field(default_factory=list, description="debrief questions the report shows")
    blind: bool = Field(False, description="true: the report reveals the faults only at the end")
    target: Target = Field(default_factory=Target)
    load: Load | None = None
    steady_state: SteadyState = Field(default_factory=SteadyState)
    timeline: list[Step] = Field(default_factory=list)
    guardrails: list[Guardrail] = Field(default_factory=list)
    expectations: Expectations = Field(default_factory=Expectations)
    report: ReportHints = Field(default_factory=ReportHints)
    gameday: GameDay | None = Field(
        None,
        description="a game day with a team in the loop (crashlab gameday FILE): its end, targets, hints",
    )

    #: the file it was loaded from (set by ``load_scenario``)
    _source: Path | None = PrivateAttr(None)

    @property
    def source(self) -> Path | None:
        return self._source

    @property
    def profile_ref(self) -> str:
        """``naive``, ``hardened`` or the profile file (a relative path is from the drill file's folder)."""
        profile = self.target.profile
        if profile in ("naive", "hardened") or self._source is None or Path(profile).is_absolute():
            return profile
        return str(self._source.parent / profile)


GroupStep.model_rebuild()
