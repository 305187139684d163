"""The Kubernetes manifests of the kit, built as plain dicts from :class:`stack.k8s.values.Values`.

``render(values)`` returns the objects in apply order; ``to_yaml`` makes one multi-document YAML.
What is in it and why: docs/kubernetes.md. Pods of a part carry :func:`selector` labels, the one place
that says how to find a part's pods (the Services, the monitors, the NetworkPolicy and, later, Chaos
Mesh resources select with it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import yaml

from crashlab import __version__
from service import flagfile
from service.profile import load_profile
from stack.k8s import rules
from stack.k8s.values import Resources, Service, Values

Manifest = dict[str, Any]

PART_OF = "crashlab"
#: the label whose value the Prometheus Operator takes as the ``job`` (game, odds, load)
JOB_LABEL = "crashlab.dev/job"
#: container ports, as in stack/compose.yaml
PORTS = {"game": 8080, "odds": 8081}
LOCUST_MASTER_PORT = 5557
LOCUST_WEB_PORT = 8089
LOCUST_METRICS_PORT = 9646
UID = 10003  # the service image's user (stack/images/service/Dockerfile)
#: the switches: a ConfigMap holding the flag file, mounted where the other runtimes put it
FLAGS_CONFIG_MAP = "crashlab-flags"
FLAGS_MOUNT = "/etc/crashlab/flags"
FLAG_FILE_NAME = "flags.json"
#: the service drains in-flight requests for 5 s on SIGTERM (``crashlab serve --shutdown-timeout``)
GRACE_SECONDS = 10


def selector(part: str) -> dict[str, str]:
    """The labels that select a part's pods (``game``, ``odds``, ``locust-master``, ``locust-worker``)."""
    return {"app.kubernetes.io/name": part, "app.kubernetes.io/part-of": PART_OF}


def _labels(part: str, component: str, job: str | None = None) -> dict[str, str]:
    labels = {
        **selector(part),
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/version": __version__,
        "app.kubernetes.io/managed-by": "crashlab",
    }
    if job is not None:
        labels[JOB_LABEL] = job
    return labels


def _meta(values: Values, name: str, labels: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": values.namespace, "labels": labels, **extra}


def _env(pairs: dict[str, str]) -> list[dict[str, Any]]:
    return [{"name": k, "value": v} for k, v in pairs.items()]


def _token_env(values: Values) -> dict[str, Any]:
    return {
        "name": "CRASHLAB_ADMIN_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": values.admin.secret_name, "key": "token"}},
    }


def _security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": UID,
        "capabilities": {"drop": ["ALL"]},
    }


def _pod_spec(values: Values, containers: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}, "fsGroup": UID},
        "terminationGracePeriodSeconds": GRACE_SECONDS,
        "automountServiceAccountToken": False,
        "containers": containers,
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
    }
    if values.image.pull_secrets:
        spec["imagePullSecrets"] = [{"name": name} for name in values.image.pull_secrets]
    return spec


def _container(values: Values, name: str, args: list[str], resources: Resources) -> dict[str, Any]:
    return {
        "name": name,
        "image": values.image.ref,
        "imagePullPolicy": values.image.pull_policy,
        "args": args,
        "resources": resources.k8s(),
        "securityContext": _security(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }


def _deployment(
    values: Values, part: str, labels: dict[str, str], replicas: int, pod: dict[str, Any], port: int | None
) -> Manifest:
    annotations = (
        {"prometheus.io/scrape": "true", "prometheus.io/port": str(port), "prometheus.io/path": "/metrics"}
        if values.monitoring.scrape_annotations and port is not None
        else {}
    )
    template_meta: dict[str, Any] = {"labels": labels}
    if annotations:
        template_meta["annotations"] = annotations
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(values, part, labels),
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": selector(part)},
            "template": {"metadata": template_meta, "spec": pod},
        },
    }


def _flags_config_map(values: Values) -> Manifest:
    """The switches as the other runtimes deliver them: ``profile`` + ``switches`` merged by
    ``service.profile.load_profile`` into one flag file (flagd's format), a ConfigMap mounted in both
    services. Editing it changes the switches in force without a restart, once the kubelet has synced
    the mounted file (its sync period, about a minute)."""
    profile = load_profile(values.profile, env={}, overrides={str(k): v for k, v in values.switches.items()})
    data = {FLAG_FILE_NAME: json.dumps(flagfile.document(profile), indent=2) + "\n"}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(values, FLAGS_CONFIG_MAP, _labels("flags", "config")),
        "data": data,
    }


def _service_parts(values: Values, part: str, spec: Service) -> Iterator[Manifest]:
    port = PORTS[part]
    labels = _labels(part, "service", job=part)
    env = {
        "CRASHLAB_HOST": "0.0.0.0",
        "CRASHLAB_PORT": str(port),
        "CRASHLAB_FLAG_FILE": f"{FLAGS_MOUNT}/{FLAG_FILE_NAME}",
        "CRASHLAB_SEED": str(values.seed),
        "OTEL_SERVICE_NAME": part,
    }
    if part == "game":
        env["CRASHLAB_ODDS_URL"] = f"http://odds.{values.namespace}.svc:{PORTS['odds']}"
    if values.otlp_endpoint:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = values.otlp_endpoint
    if values.admin.allow_in_cluster:
        env["CRASHLAB_ADMIN_ALLOW_REMOTE"] = "true"
    env.update(spec.env)
    container = _container(values, part, [part], spec.resources)
    container["volumeMounts"].append({"name": "flags", "mountPath": FLAGS_MOUNT, "readOnly": True})
    container["ports"] = [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    container["env"] = [*_env(env), _token_env(values)]
    container["startupProbe"] = _probe("/healthz", period=1, timeout=2, failures=60)
    container["readinessProbe"] = _probe(values.probes.readiness_path, period=2, timeout=2, failures=2)
    if values.probes.liveness:
        grace = values.probes.liveness_grace_seconds
        container["livenessProbe"] = _probe("/healthz", period=5, timeout=3, failures=max(1, grace // 5))
    pod = _pod_spec(values, [container])
    pod["volumes"].append({"name": "flags", "configMap": {"name": FLAGS_CONFIG_MAP}})
    # containers restart in place (exit -> restart, OOMKilled at the memory limit -> exit 137), as the
    # local supervisor's and compose's on-failure policies do; the kubelet backs off 10 s .. 5 min
    pod["restartPolicy"] = "Always"
    yield _deployment(values, part, labels, spec.replicas, pod, port)
    yield {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(values, part, labels),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(part),
            "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def _probe(path: str, period: int, timeout: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


def _locust_parts(values: Values) -> Iterator[Manifest]:
    locust = values.locust
    players = locust.players
    game = f"http://game.{values.namespace}.svc:{PORTS['game']}"
    master_env = {
        "LOCUST_HOST": game,
        "LOCUST_MASTER_BIND_PORT": str(LOCUST_MASTER_PORT),
        "LOCUST_WEB_PORT": str(LOCUST_WEB_PORT),
        "LOCUST_LOGLEVEL": "INFO",
        "CRASHLAB_LOAD_METRICS_PORT": str(LOCUST_METRICS_PORT),
        "CRASHLAB_LOAD_METRICS_HOST": "0.0.0.0",
        "CRASHLAB_LOAD_CLIENT_TIMEOUT": f"{players.client_timeout_seconds:g}",
        "CRASHLAB_LOAD_CLIENT_RETRIES": str(players.client_retries),
        "CRASHLAB_LOAD_THINK_MIN": f"{players.think_min_seconds:g}",
        "CRASHLAB_LOAD_THINK_MAX": f"{max(players.think_min_seconds, players.think_max_seconds):g}",
        "CRASHLAB_LOAD_PLAYERS": str(players.players),
        "CRASHLAB_LOAD_REQUEST_MIX": json.dumps(players.request_mix),
        "CRASHLAB_LOAD_SEED": str(values.seed),
    }
    if locust.autostart is not None:
        master_env.update(
            {
                "LOCUST_AUTOSTART": "true",
                "LOCUST_USERS": str(locust.autostart.users),
                "LOCUST_SPAWN_RATE": f"{locust.autostart.spawn_rate:g}",
            }
        )
        if locust.autostart.run_time:
            master_env["LOCUST_RUN_TIME"] = locust.autostart.run_time
    master = _container(values, "locust-master", ["load", "master"], locust.master_resources)
    master["command"] = ["crashlab"]  # the image's entrypoint is `crashlab serve`
    master["env"] = _env(master_env)
    master["ports"] = [
        {"name": "workers", "containerPort": LOCUST_MASTER_PORT, "protocol": "TCP"},
        {"name": "web", "containerPort": LOCUST_WEB_PORT, "protocol": "TCP"},
        {"name": "metrics", "containerPort": LOCUST_METRICS_PORT, "protocol": "TCP"},
    ]
    master["readinessProbe"] = {"tcpSocket": {"port": "workers"}, "periodSeconds": 5}
    master["livenessProbe"] = {
        "httpGet": {"path": "/", "port": "web"},
        "periodSeconds": 10,
        "timeoutSeconds": 5,
    }
    labels = _labels("locust-master", "load", job="load")
    yield _deployment(values, "locust-master", labels, 1, _pod_spec(values, [master]), LOCUST_METRICS_PORT)
    yield {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(values, "locust-master", labels),
        "spec": {
            "type": "ClusterIP",
            "selector": selector("locust-master"),
            "ports": [
                {"name": "workers", "port": LOCUST_MASTER_PORT, "targetPort": "workers", "protocol": "TCP"},
                {"name": "web", "port": LOCUST_WEB_PORT, "targetPort": "web", "protocol": "TCP"},
            ],
        },
    }
    worker = _container(values, "locust-worker", ["load", "worker"], locust.worker_resources)
    worker["command"] = ["crashlab"]
    worker["env"] = _env(
        {"CRASHLAB_LOAD_MASTER": f"locust-master.{values.namespace}.svc:{LOCUST_MASTER_PORT}"}
    )
    labels = _labels("locust-worker", "load")
    yield _deployment(values, "locust-worker", labels, locust.workers, _pod_spec(values, [worker]), None)


def _secret(values: Values) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(values, values.admin.secret_name, {"app.kubernetes.io/part-of": PART_OF}),
        "type": "Opaque",
        "stringData": {"token": values.admin.token},
    }


def _network_policy(values: Values) -> Manifest:
    """Ingress to every crashlab pod only from pods of its namespace and from Prometheus' namespace."""
    peers: list[dict[str, Any]] = [
        {"podSelector": {}},
        {
            "namespaceSelector": {
                "matchLabels": {"kubernetes.io/metadata.name": values.network_policy.prometheus_namespace}
            }
        },
        *values.network_policy.allow_from,
    ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(values, "crashlab-ingress", {"app.kubernetes.io/part-of": PART_OF}),
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/part-of": PART_OF}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": peers}],
        },
    }


def _monitors(values: Values) -> Iterator[Manifest]:
    labels = {"app.kubernetes.io/part-of": PART_OF, **values.monitoring.labels}
    interval = values.monitoring.interval
    yield {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": _meta(values, "crashlab-services", labels),
        "spec": {
            "jobLabel": JOB_LABEL,
            "selector": {
                "matchLabels": {
                    "app.kubernetes.io/part-of": PART_OF,
                    "app.kubernetes.io/component": "service",
                }
            },
            "endpoints": [
                {"port": "http", "path": "/metrics", "interval": interval, "scrapeTimeout": interval}
            ],
        },
    }
    if values.locust.enabled:
        yield {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PodMonitor",
            "metadata": _meta(values, "crashlab-load", labels),
            "spec": {
                "jobLabel": JOB_LABEL,
                "selector": {"matchLabels": selector("locust-master")},
                "podMetricsEndpoints": [
                    {"port": "metrics", "path": "/metrics", "interval": interval, "scrapeTimeout": interval}
                ],
            },
        }


def render(values: Values) -> list[Manifest]:
    """Every object, in the order ``kubectl apply`` should see them."""
    out: list[Manifest] = []
    if values.create_namespace:
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": values.namespace, "labels": {"app.kubernetes.io/part-of": PART_OF}},
            }
        )
    if values.admin.token is not None:
        out.append(_secret(values))
    out.append(_flags_config_map(values))
    out.extend(_service_parts(values, "odds", values.odds))
    out.extend(_service_parts(values, "game", values.game))
    if values.locust.enabled:
        out.extend(_locust_parts(values))
    if values.network_policy.enabled:
        out.append(_network_policy(values))
    if values.monitoring.service_monitors:
        out.extend(_monitors(values))
    if values.monitoring.prometheus_rule:
        out.append(rules.prometheus_rule(values, _meta(values, "crashlab-slos", _rule_labels(values))))
    if values.alertmanager.config:
        out.append(rules.alertmanager_config(values, _meta(values, "crashlab-routes", _rule_labels(values))))
    return out


def _rule_labels(values: Values) -> dict[str, str]:
    return {"app.kubernetes.io/part-of": PART_OF, **values.monitoring.labels}


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # no &anchors: plain YAML for every reader


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)


_Dumper.add_representer(str, _str)


def to_yaml(manifests: list[Manifest]) -> str:
    """One multi-document YAML (``---`` between objects)."""
    header = f"# crashlab {__version__}: crashlab k8s manifests (docs/kubernetes.md)\n"
    docs = [yaml.dump(m, Dumper=_Dumper, sort_keys=False, width=120) for m in manifests]
    return header + "---\n" + "---\n".join(docs)
