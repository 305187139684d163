"""The kit's rules and alert routes as Prometheus Operator resources.

- ``PrometheusRule``: the groups of ``stack/prometheus/rules/<windows>/*.yml``, rendered by the same
  generator (:func:`stack.prometheus.generate.render`) with the values' objectives, plus one group for
  Kubernetes: kube-state-metrics' container restarts recorded as ``crashlab_process_restarts_total``
  (the local supervisor's name), so ``CrashLoop`` fires on a cluster too. Every alert gets the label
  ``namespace``: the SLO expressions aggregate it away, and the operator routes an
  ``AlertmanagerConfig`` only alerts of its own namespace.
- ``AlertmanagerConfig``: the route tree of the other stacks (:mod:`stack.alertmanager.config`):
  pages to the pager webhook, tickets queued, a page inhibits the tickets of its SLO.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from stack.alertmanager.config import alertmanager_config as route_tree
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


_MATCHER = re.compile(r'^(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)(?P<op>=~|!~|!=|=)"(?P<value>.*)"$')
#: Alertmanager's config keys -> the AlertmanagerConfig resource's
_KEYS = {
    "group_by": "groupBy",
    "group_wait": "groupWait",
    "group_interval": "groupInterval",
    "repeat_interval": "repeatInterval",
    "source_matchers": "sourceMatch",
    "target_matchers": "targetMatch",
    "webhook_configs": "webhookConfigs",
    "send_resolved": "sendResolved",
    "max_alerts": "maxAlerts",
}


def _matcher(text: str) -> dict[str, str]:
    """``severity="page"`` -> ``{"name": "severity", "value": "page", "matchType": "="}``."""
    found = _MATCHER.match(text)
    if found is None:
        raise ValueError(f"not a matcher the route tree should contain: {text!r}")
    return {"name": found["name"], "value": found["value"], "matchType": found["op"]}


def _camel(node: Any) -> Any:
    """Alertmanager's snake_case config as the operator's camelCase resource (matchers as objects)."""
    if isinstance(node, list):
        return [_camel(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        name = _KEYS.get(str(key), str(key))
        if key in ("matchers", "source_matchers", "target_matchers"):
            out[name] = [_matcher(m) for m in value]
        else:
            out[name] = _camel(value)
    return out


def alertmanager_config(values: Values, metadata: dict[str, Any]) -> dict[str, Any]:
    """The route tree of both other stacks (:mod:`stack.alertmanager.config`) as an AlertmanagerConfig."""
    config = route_tree(values.monitoring.windows, values.alertmanager.pager_url)
    return {
        "apiVersion": "monitoring.coreos.com/v1alpha1",
        "kind": "AlertmanagerConfig",
        "metadata": metadata,
        "spec": {
            "route": _camel(config["route"]),
            "receivers": _camel(config["receivers"]),
            "inhibitRules": _camel(config["inhibit_rules"]),
        },
    }
