"""Offline checks of Kubernetes manifests: the core kinds against the Kubernetes 1.31 schemas
(``kubernetes-validate``, strict: unknown fields fail), the Prometheus Operator kinds against strict
schemas of the fields the kit uses.

The operator's CRDs are not in the core schemas and are not vendored here. :data:`OPERATOR_SCHEMAS`
was written from the operator's CRDs (``monitoring.coreos.com`` ServiceMonitor, PodMonitor and
PrometheusRule v1, AlertmanagerConfig v1alpha1; the same names, types, enums and required fields, for
the fields listed) and is strict: a field the operator does not know, or one the kit does not use yet,
fails. Adding a field means looking it up in the operator's API reference and adding it here.
"""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import kubernetes_validate

KUBERNETES_VERSION = "1.31.0"
Schema = dict[str, Any]

STRING: Schema = {"type": "string"}
BOOL: Schema = {"type": "boolean"}
#: the operator's Duration pattern (monitoringv1.Duration)
DURATION: Schema = {
    "type": "string",
    "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$",
}
STRING_MAP: Schema = {"type": "object", "additionalProperties": STRING}
INT_OR_STRING: Schema = {"anyOf": [{"type": "integer"}, {"type": "string"}]}


def obj(required: tuple[str, ...] = (), **properties: Schema) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


def array(item: Schema) -> Schema:
    return {"type": "array", "items": item}


def resource(api_version: str, kind: str, spec: Schema) -> Schema:
    return obj(
        ("apiVersion", "kind", "metadata", "spec"),
        apiVersion={"const": api_version},
        kind={"const": kind},
        metadata=obj(("name",), name=STRING, namespace=STRING, labels=STRING_MAP, annotations=STRING_MAP),
        spec=spec,
    )


LABEL_SELECTOR = obj(
    matchLabels=STRING_MAP,
    matchExpressions=array(obj(("key", "operator"), key=STRING, operator=STRING, values=array(STRING))),
)
NAMESPACE_SELECTOR = obj(any=BOOL, matchNames=array(STRING))
ENDPOINT = {
    "port": STRING,
    "path": STRING,
    "interval": DURATION,
    "scrapeTimeout": DURATION,
    "honorLabels": BOOL,
    "scheme": {"enum": ["http", "https", "HTTP", "HTTPS"]},
}
RULE = obj(
    ("expr",),
    record=STRING,
    alert=STRING,
    expr=INT_OR_STRING,
    # "for" is a keyword in Python
    **{"for": DURATION, "keep_firing_for": DURATION},
    labels=STRING_MAP,
    annotations=STRING_MAP,
)
MATCHER = obj(("name",), name=STRING, value=STRING, matchType={"enum": ["!=", "=", "=~", "!~"]})
ROUTE: Schema = obj(
    receiver=STRING,
    groupBy=array(STRING),
    groupWait=STRING,
    groupInterval=STRING,
    repeatInterval=STRING,
    matchers=array(MATCHER),
    routes=array({"type": "object"}),  # the CRD takes sub-routes as JSON; each one is checked as ROUTE below
    **{"continue": BOOL},
)


def monitor(kind: str, endpoints: str, required: bool) -> Schema:
    """A ServiceMonitor or PodMonitor (``endpoints``: its list of endpoints, required or not)."""
    spec = obj(
        (endpoints, "selector") if required else ("selector",),
        jobLabel=STRING,
        selector=LABEL_SELECTOR,
        namespaceSelector=NAMESPACE_SELECTOR,
        **{endpoints: array(obj(**ENDPOINT))},
    )
    return resource("monitoring.coreos.com/v1", kind, spec)


OPERATOR_SCHEMAS: dict[tuple[str, str], Schema] = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): monitor("ServiceMonitor", "endpoints", required=True),
    ("monitoring.coreos.com/v1", "PodMonitor"): monitor("PodMonitor", "podMetricsEndpoints", required=False),
    ("monitoring.coreos.com/v1", "PrometheusRule"): resource(
        "monitoring.coreos.com/v1",
        "PrometheusRule",
        obj(
            groups=array(
                obj(("name",), name={"type": "string", "minLength": 1}, interval=DURATION, rules=array(RULE))
            )
        ),
    ),
    ("monitoring.coreos.com/v1alpha1", "AlertmanagerConfig"): resource(
        "monitoring.coreos.com/v1alpha1",
        "AlertmanagerConfig",
        obj(
            route=ROUTE,
            receivers=array(
                obj(
                    ("name",),
                    name={"type": "string", "minLength": 1},
                    webhookConfigs=array(obj(url=STRING, sendResolved=BOOL, maxAlerts={"type": "integer"})),
                )
            ),
            inhibitRules=array(
                obj(sourceMatch=array(MATCHER), targetMatch=array(MATCHER), equal=array(STRING))
            ),
        ),
    ),
}


def problems(manifest: dict[str, Any]) -> list[str]:
    """What is wrong with one manifest (empty: valid)."""
    key = (manifest.get("apiVersion", ""), manifest.get("kind", ""))
    name = f"{key[1]} {manifest.get('metadata', {}).get('name')}"
    if key in OPERATOR_SCHEMAS:
        found = [f"{name}: {err.message}" for err in _validator(key).iter_errors(manifest)]
        if key[1] == "AlertmanagerConfig":
            route_check = jsonschema_rs.validator_for(ROUTE)
            for sub in manifest["spec"]["route"].get("routes", []):
                found += [f"{name}: routes: {err.message}" for err in route_check.iter_errors(sub)]
        return found
    try:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{name}: {'.'.join(str(p) for p in exc.path)}: {exc.message}"]
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [f"{name}: {exc.message}"]
    return []


def _validator(key: tuple[str, str]) -> Any:
    return jsonschema_rs.validator_for(OPERATOR_SCHEMAS[key])
