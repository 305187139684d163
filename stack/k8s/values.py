"""The values of the Kubernetes manifests: one pydantic model (its defaults are the defaults), read from a
YAML file with every problem as ``file:line: field: message``, like drill files.

Keys are camelCase, as in Helm charts. ``crashlab k8s values`` prints the defaults.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, AliasGenerator, BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from chaos.scenario.errors import Problem, sort_problems
from chaos.scenario.messages import convert, format_loc
from chaos.scenario.model import TaskName
from chaos.scenario.yaml_lines import YamlSyntaxError, load_yaml
from service.profile import SwitchName
from stack.alertmanager.config import check_webhook_url
from stack.runtime import StackError


def _matching(pattern: str, what: str) -> AfterValidator:
    regex = re.compile(pattern)

    def check(value: str) -> str:
        if not regex.fullmatch(value):
            raise ValueError(f"must be {what}")
        return value

    return AfterValidator(check)


#: a Kubernetes resource quantity (``100m``, ``1``, ``256Mi``, ``1.5Gi``)
Quantity = Annotated[
    str,
    _matching(
        r"[+]?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?[0-9]+))?",
        "a Kubernetes quantity such as 100m, 1, 256Mi",
    ),
]
#: a Prometheus duration as the operator's CRDs take it (``1s``, ``30s``, ``5m``)
PromDuration = Annotated[
    str,
    Field(min_length=1),
    _matching(
        r"0|([0-9]+y)?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?",
        "a duration such as 1s, 30s, 5m",
    ),
]
#: a DNS-1123 label (names of namespaces, Secrets)
DnsLabel = Annotated[
    str,
    Field(max_length=63),
    _matching(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", "a DNS label: lower-case letters, digits and '-'"),
]
LabelMap = dict[Annotated[str, Field(min_length=1, max_length=316)], Annotated[str, Field(max_length=63)]]


class Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        populate_by_name=True,
        alias_generator=AliasGenerator(validation_alias=to_camel, serialization_alias=to_camel),
    )


class Amounts(Model):
    cpu: Quantity | None = None
    memory: Quantity | None = None

    def k8s(self) -> dict[str, str]:
        return {k: v for k, v in (("cpu", self.cpu), ("memory", self.memory)) if v is not None}


class Resources(Model):
    requests: Amounts = Field(default_factory=Amounts)
    limits: Amounts = Field(default_factory=Amounts)

    def k8s(self) -> dict[str, dict[str, str]]:
        out = {"requests": self.requests.k8s(), "limits": self.limits.k8s()}
        return {k: v for k, v in out.items() if v}


def _service_resources() -> Resources:
    # the Docker stack's mem_limit (256m) and one core at most, like the local supervisor's children
    return Resources(requests=Amounts(cpu="100m", memory="96Mi"), limits=Amounts(cpu="1", memory="256Mi"))


class Service(Model):
    """One of the two services (``game``, ``odds``)."""

    replicas: int = Field(1, ge=0, le=20, description="keep 1 for drills: faults go to one process")
    resources: Resources = Field(default_factory=_service_resources)
    env: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], str] = Field(default_factory=dict)


class Image(Model):
    repository: str = Field("crashlab-service", min_length=1)
    tag: str = Field("latest", min_length=1)
    pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    pull_secrets: list[DnsLabel] = Field(default_factory=list)

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}"


class Admin(Model):
    """The admin API (fault hooks) and its token."""

    secret_name: DnsLabel = Field("crashlab-admin", description="a Secret with key `token`")
    token: str | None = Field(
        None,
        min_length=16,
        description="render the Secret with this token (else create it yourself; keep tokens out of git)",
    )
    allow_in_cluster: bool = Field(
        False,
        description="let pods of the namespace use /admin (with the token); "
        "false: only `kubectl port-forward` (it connects over the pod's loopback)",
    )


class Probes(Model):
    readiness_path: Literal["/readyz", "/healthz"] = Field(
        "/readyz", description="/readyz follows the dependency (out of rotation while odds is down)"
    )
    liveness: bool = True
    #: seconds without an answer to /healthz before the kubelet restarts the container
    liveness_grace_seconds: int = Field(30, ge=5, le=600)


class NetworkPolicy(Model):
    enabled: bool = True
    prometheus_namespace: DnsLabel = Field("monitoring", description="where the Prometheus that scrapes runs")
    allow_from: list[dict[str, Any]] = Field(
        default_factory=list, description="more NetworkPolicyPeers allowed in (an ingress controller)"
    )


class Autostart(Model):
    users: int = Field(ge=1)
    spawn_rate: float = Field(gt=0)
    run_time: PromDuration | None = Field(None, description="e.g. 10m; none: until stopped in the UI")


def _play_only() -> dict[TaskName, int]:
    return {"play": 1}


class Players(Model):
    """The players' behaviour (the locustfile's options)."""

    client_timeout_seconds: float = Field(2.0, gt=0)
    client_retries: int = Field(1, ge=0, le=10)
    think_min_seconds: float = Field(0.1, ge=0)
    think_max_seconds: float = Field(0.5, ge=0)
    players: int = Field(50, ge=1)
    request_mix: dict[TaskName, Annotated[int, Field(ge=0)]] = Field(default_factory=_play_only)


def _worker_resources() -> Resources:
    return Resources(requests=Amounts(cpu="500m", memory="128Mi"), limits=Amounts(cpu="1", memory="512Mi"))


def _master_resources() -> Resources:
    return Resources(requests=Amounts(cpu="100m", memory="128Mi"), limits=Amounts(cpu="1", memory="512Mi"))


class Locust(Model):
    enabled: bool = True
    workers: int = Field(2, ge=0, le=500, description="worker pods (one core each)")
    worker_resources: Resources = Field(default_factory=_worker_resources)
    master_resources: Resources = Field(default_factory=_master_resources)
    autostart: Autostart | None = Field(None, description="start the load at once; none: from the web UI")
    players: Players = Field(default_factory=Players)


class Monitoring(Model):
    service_monitors: bool = Field(True, description="ServiceMonitor + PodMonitor (Prometheus Operator)")
    prometheus_rule: bool = Field(True, description="the SLO rules and alerts as a PrometheusRule")
    scrape_annotations: bool = Field(False, description="prometheus.io/* pod annotations (no operator)")
    interval: PromDuration = Field("1s", description="scrape interval: fast windows need 1s; real: 15s")
    windows: Literal["fast", "real"] = "fast"
    availability: float = Field(99.0, gt=0, lt=100)
    latency: float = Field(95.0, gt=0, lt=100)
    kube_state_metrics: bool = Field(
        True, description="restarts from kube-state-metrics as crashlab_process_restarts_total (CrashLoop)"
    )
    labels: LabelMap = Field(default_factory=dict, description="what your Prometheus selects, e.g. release")


def _webhook(url: str) -> str:
    try:
        return check_webhook_url(url, "")
    except StackError:
        raise ValueError("must be an http(s) URL, for example http://pager.example:8099/page") from None


class Alertmanager(Model):
    config: bool = Field(True, description="an AlertmanagerConfig: the stacks' route tree")
    pager_url: Annotated[str, AfterValidator(_webhook)] | None = Field(
        None, description="webhook for severity=page (none: pages go nowhere; tickets are queued)"
    )


class Values(Model):
    """Everything ``crashlab k8s manifests`` renders from."""

    namespace: DnsLabel = "crashlab"
    create_namespace: bool = True
    image: Image = Field(default_factory=Image)
    profile: Literal["naive", "hardened"] = "hardened"
    switches: dict[SwitchName, bool | dict[str, Any]] = Field(
        default_factory=dict,
        description="switch overrides (a bool sets enabled, a mapping sets settings), merged with the "
        "profile into the crashlab-flags ConfigMap",
    )
    seed: int = 42
    otlp_endpoint: str | None = Field(None, description="OTEL_EXPORTER_OTLP_ENDPOINT of both services")
    admin: Admin = Field(default_factory=Admin)
    game: Service = Field(default_factory=Service)
    odds: Service = Field(default_factory=Service)
    probes: Probes = Field(default_factory=Probes)
    network_policy: NetworkPolicy = Field(default_factory=NetworkPolicy)
    locust: Locust = Field(default_factory=Locust)
    monitoring: Monitoring = Field(default_factory=Monitoring)
    alertmanager: Alertmanager = Field(default_factory=Alertmanager)


class ValuesError(StackError):
    """A values file has problems; every one as ``file:line: field: message``."""

    exit_code = 2

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sort_problems(problems)
        lines = [str(p) for p in self.problems]
        if len(lines) > 1:
            lines.insert(0, f"{len(lines)} problems in {self.problems[0].path}:")
        super().__init__("\n".join(lines))


def parse_values(text: str, path: str = "<values>") -> Values:
    """The values in ``text`` (an empty document: the defaults); raises :class:`ValuesError`."""
    try:
        data, lines = load_yaml(text)
    except YamlSyntaxError as exc:
        raise ValuesError([Problem(path, exc.line, "yaml", exc.message)]) from None
    problems = [
        Problem(path, line, format_loc(loc), f"duplicate key {loc[-1]!r} (the later one would win)")
        for loc, line in lines.duplicates
    ]
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.append(
            Problem(path, lines.line(()), "(root)", f"must be a mapping (got {type(data).__name__})")
        )
        raise ValuesError(problems)
    try:
        values = Values.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            loc, message = convert(err, data, root=Values)
            problems.append(Problem(path, lines.line(loc), format_loc(loc), message))
        raise ValuesError(problems) from None
    if problems:
        raise ValuesError(problems)
    return values


def load_values(path: Path | None) -> Values:
    """The values of ``path`` (None: the defaults)."""
    if path is None:
        return Values()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ValuesError([Problem(str(path), None, "(file)", f"cannot read: {reason}")]) from None
    return parse_values(text, str(path))


def default_values_yaml() -> str:
    """The defaults as a values file."""
    data = Values().model_dump(mode="json", by_alias=True)
    return yaml.safe_dump(data, sort_keys=False, width=100)
