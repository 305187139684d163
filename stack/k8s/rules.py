"""The kit's rules and alert routes as Prometheus Operator resources.

- ``PrometheusRule``: the groups of ``stack/prometheus/rules/<windows>/*.yml``, rendered by the same
  generator (:func:`stack.prometheus.generate.render`) with the values' objectives, plus one group for
  Kubernetes: kube-state-metrics' container restarts recorded as ``crashlab_process_restarts_total``
  (the local supervisor's name), so ``CrashLoop`` fires on a cluster too. Every alert gets the label
  ``namespace``: the SLO expressions aggregate it away, and the operator routes an
  ``AlertmanagerConfig`` only alerts of its own namespace.
- ``AlertmanagerConfig``: the route example (pages and tickets to webhooks, a page inhibits the
  ticket of the same SLO).
"""

from __future__ import annotations

from typing import Any

import yaml

from stack.k8s.values import Values
from stack.prometheus.generate import render
from stack.runtime import SERVICES

#: the group that maps kube-state-metrics onto the supervisor's metric names
KUBERNETES_GROUP = "crashlab-kubernetes"


def rule_groups(values: Values) -> list[dict[str, Any]]:
    """The rule groups of the PrometheusRule (what ``promtool check rules`` checks)."""
    monitoring = values.monitoring
    groups: list[dict[str, Any]] = []
    for text in render(monitoring.windows, monitoring.availability, monitoring.latency).values():
        groups.extend(yaml.safe_load(text)["groups"])
    for group in groups:
        for rule in group["rules"]:
            if "alert" in rule:
                rule["labels"] = {**rule.get("labels", {}), "namespace": values.namespace}
    if monitoring.kube_state_metrics:
        services = "|".join(SERVICES)
        groups.append(
            {
                "name": KUBERNETES_GROUP,
                "rules": [
                    {
                        "record": "crashlab_process_restarts_total",
                        "expr": (
                            "sum by (namespace, service) (label_replace(\n"
                            "  kube_pod_container_status_restarts_total"
                            f'{{namespace="{values.namespace}", container=~"{services}"}},\n'
                            '  "service", "$1", "container", "(.+)"\n'
                            "))\n"
                        ),
                    }
                ],
            }
        )
    return groups


def prometheus_rule(values: Values, metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": metadata,
        "spec": {"groups": rule_groups(values)},
    }


def _severity(value: str) -> list[dict[str, str]]:
    return [{"name": "severity", "value": value, "matchType": "="}]


def _receiver(name: str, url: str | None) -> dict[str, Any]:
    """A webhook receiver, or a receiver with nowhere to send (Alertmanager's null receiver)."""
    receiver: dict[str, Any] = {"name": name}
    if url:
        receiver["webhookConfigs"] = [{"url": url, "sendResolved": True}]
    return receiver


def alertmanager_config(values: Values, metadata: dict[str, Any]) -> dict[str, Any]:
    am = values.alertmanager
    return {
        "apiVersion": "monitoring.coreos.com/v1alpha1",
        "kind": "AlertmanagerConfig",
        "metadata": metadata,
        "spec": {
            "route": {
                "receiver": "crashlab-default",
                "groupBy": ["alertname", "slo"],
                "groupWait": "10s",
                "groupInterval": "1m",
                "repeatInterval": "4h",
                "routes": [
                    {"receiver": "crashlab-pager", "matchers": _severity("page")},
                    {"receiver": "crashlab-tickets", "matchers": _severity("ticket")},
                ],
            },
            "receivers": [
                _receiver("crashlab-default", None),
                _receiver("crashlab-pager", am.pager_url),
                _receiver("crashlab-tickets", am.ticket_url),
            ],
            "inhibitRules": [
                {"sourceMatch": _severity("page"), "targetMatch": _severity("ticket"), "equal": ["slo"]}
            ],
        },
    }
