"""``crashlab k8s manifests``: valid against the Kubernetes 1.31 schemas (strict) and the Prometheus
Operator's fields, the parts wired to each other, the rules those of the other stacks and accepted by
promtool, values errors with file, line and field. No cluster: everything is checked offline."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from service import flagfile
from service.profile import load_profile
from stack.k8s.manifests import render, selector, to_yaml
from stack.k8s.rules import KUBERNETES_GROUP
from stack.k8s.values import ValuesError, load_values, parse_values
from stack.prometheus.config import rules_dir
from tests.helpers_drill import CRASHLAB
from tests.helpers_k8s import problems

EVERY_OPTION = """\
namespace: drills
createNamespace: false
image: {repository: registry.example.test/crashlab-service, tag: "0.1.0", pullPolicy: Always,
        pullSecrets: [regcred]}
profile: naive
switches: {circuit_breaker: true, retry: {enabled: true, max_attempts: 3}}
seed: 7
otlpEndpoint: http://tempo.monitoring.svc:4318
admin: {secretName: drill-admin, token: 0123456789abcdef0123, allowInCluster: true}
game:
  replicas: 1
  resources: {requests: {cpu: 250m, memory: 128Mi}, limits: {cpu: "2", memory: 160Mi}}
  env: {CRASHLAB_LOG_LEVEL: debug}
probes: {readinessPath: /healthz, liveness: false}
networkPolicy:
  prometheusNamespace: observability
  allowFrom: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ingress-nginx}}}]
locust:
  workers: 5
  autostart: {users: 200, spawnRate: 20, runTime: 10m}
  players: {clientTimeoutSeconds: 1.5, clientRetries: 2, requestMix: {play: 9, readyz: 1}}
monitoring:
  scrapeAnnotations: true
  interval: 15s
  windows: real
  availability: 99.9
  labels: {release: kube-prometheus-stack}
alertmanager: {pagerUrl: "http://pager.drills.svc:9000/page"}
"""


def manifests(*args: str, cwd: Path | None = None) -> list[dict[str, Any]]:
    done = subprocess.run(
        [CRASHLAB, "k8s", "manifests", *args], capture_output=True, text=True, check=False, cwd=cwd
    )
    assert done.returncode == 0, done.stderr
    docs = [d for d in yaml.safe_load_all(done.stdout) if d is not None]
    assert done.stdout.count("\n---\n") == len(docs)  # one separator before each object
    return docs


def by_kind(docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    c: dict[str, Any] = only
    return c


def env(deployment: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(deployment).get("env", [])}


@pytest.fixture(scope="module")
def default() -> list[dict[str, Any]]:
    return manifests()


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    values = tmp_path_factory.mktemp("values") / "values.yaml"
    values.write_text(EVERY_OPTION, encoding="utf-8")
    return manifests("--values", str(values))


def test_default_manifests_are_valid_for_kubernetes_1_31_and_the_operator(
    default: list[dict[str, Any]],
) -> None:
    assert [p for d in default for p in problems(d)] == []
    assert sorted(by_kind(default)) == [
        ("AlertmanagerConfig", "crashlab-routes"),
        ("ConfigMap", "crashlab-flags"),
        ("Deployment", "game"),
        ("Deployment", "locust-master"),
        ("Deployment", "locust-worker"),
        ("Deployment", "odds"),
        ("Namespace", "crashlab"),
        ("NetworkPolicy", "crashlab-ingress"),
        ("PodMonitor", "crashlab-load"),
        ("PrometheusRule", "crashlab-slos"),
        ("Service", "game"),
        ("Service", "locust-master"),
        ("Service", "odds"),
        ("ServiceMonitor", "crashlab-services"),
    ]
    assert all(d["metadata"].get("namespace", "crashlab") == "crashlab" for d in default)


def test_every_option_renders_valid_manifests(full: list[dict[str, Any]]) -> None:
    assert [p for d in full for p in problems(d)] == []
    objs = by_kind(full)
    assert ("Namespace", "drills") not in objs
    assert objs["Secret", "drill-admin"]["stringData"] == {"token": "0123456789abcdef0123"}
    game = objs["Deployment", "game"]
    assert container(game)["image"] == "registry.example.test/crashlab-service:0.1.0"
    assert game["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert game["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == "8080"
    assert container(game)["resources"]["limits"] == {"cpu": "2", "memory": "160Mi"}
    assert "livenessProbe" not in container(game)
    assert container(game)["readinessProbe"]["httpGet"]["path"] == "/healthz"
    game_env = env(game)
    assert game_env["CRASHLAB_ADMIN_ALLOW_REMOTE"] == "true"
    # the switches: the same flag file as the other runtimes, a ConfigMap mounted in both services
    flags = json.loads(objs["ConfigMap", "crashlab-flags"]["data"]["flags.json"])
    switches = {"circuit_breaker": True, "retry": {"enabled": True, "max_attempts": 3}}
    expected = load_profile("naive", env={}, overrides=switches)
    assert flags == flagfile.document(expected)
    for part in ("game", "odds"):
        deployment = objs["Deployment", part]
        assert env(deployment)["CRASHLAB_FLAG_FILE"] == "/etc/crashlab/flags/flags.json"
        assert not any(k.startswith(("CRASHLAB_SWITCH_", "CRASHLAB_PROFILE")) for k in env(deployment))
        mounts = {m["name"]: m for m in container(deployment)["volumeMounts"]}
        assert mounts["flags"] == {"name": "flags", "mountPath": "/etc/crashlab/flags", "readOnly": True}
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        assert volumes["flags"]["configMap"] == {"name": "crashlab-flags"}
    assert game_env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://tempo.monitoring.svc:4318"
    assert (
        game_env["CRASHLAB_LOG_LEVEL"] == "debug"
        and env(objs["Deployment", "odds"]).get("CRASHLAB_LOG_LEVEL") is None
    )
    master = env(objs["Deployment", "locust-master"])
    assert (master["LOCUST_AUTOSTART"], master["LOCUST_USERS"], master["LOCUST_RUN_TIME"]) == (
        "true",
        "200",
        "10m",
    )
    assert (
        master["CRASHLAB_LOAD_CLIENT_TIMEOUT"] == "1.5"
        and master["CRASHLAB_LOAD_REQUEST_MIX"] == '{"play": 9, "readyz": 1}'
    )
    assert objs["Deployment", "locust-worker"]["spec"]["replicas"] == 5
    peers = objs["NetworkPolicy", "crashlab-ingress"]["spec"]["ingress"][0]["from"]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "observability"}}} in peers
    assert len(peers) == 3
    for kind, name in (("ServiceMonitor", "crashlab-services"), ("PrometheusRule", "crashlab-slos")):
        assert objs[kind, name]["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert objs["ServiceMonitor", "crashlab-services"]["spec"]["endpoints"][0]["interval"] == "15s"
    # the stacks' route tree: pages to the pager webhook, tickets queued, a page inhibits its SLO's tickets
    routes = objs["AlertmanagerConfig", "crashlab-routes"]["spec"]
    receivers = {r["name"]: r.get("webhookConfigs") for r in routes["receivers"]}
    paging = {r["matchers"][0]["value"]: r["receiver"] for r in routes["route"]["routes"]}
    assert receivers[paging["page"]] == [
        {"url": "http://pager.drills.svc:9000/page", "sendResolved": True, "maxAlerts": 0}
    ]
    assert receivers[paging["ticket"]] is None and routes["route"]["receiver"] == paging["ticket"]
    assert routes["route"]["groupWait"] == "5m"  # the real windows' ticket timers
    (inhibit,) = routes["inhibitRules"]
    assert (
        inhibit["equal"] == ["slo"]
        and {"name": "severity", "value": "page", "matchType": "="} in inhibit["sourceMatch"]
    )


def _selects(selector_labels: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector_labels.items())


def _port_names(deployment: dict[str, Any]) -> set[str]:
    return {p["name"] for p in container(deployment).get("ports", [])}


def test_the_parts_find_each_other(default: list[dict[str, Any]]) -> None:
    objs = by_kind(default)
    pods = {
        name: d["spec"]["template"]["metadata"]["labels"]
        for (kind, name), d in objs.items()
        if kind == "Deployment"
    }
    for (kind, name), svc in objs.items():
        if kind != "Service":
            continue
        assert [p for p, labels in pods.items() if _selects(svc["spec"]["selector"], labels)] == [name]
        assert {p["targetPort"] for p in svc["spec"]["ports"]} <= _port_names(objs["Deployment", name])
    for name in ("game", "odds"):
        deployment = objs["Deployment", name]
        assert deployment["spec"]["selector"]["matchLabels"] == selector(name)
        probes = [
            container(deployment)[p]["httpGet"] for p in ("startupProbe", "readinessProbe", "livenessProbe")
        ]
        assert {p["port"] for p in probes} == {"http"} and {p["path"] for p in probes} == {
            "/healthz",
            "/readyz",
        }
        service_env = env(deployment)
        # the admin API: token from the Secret, loopback peers only (kubectl port-forward) by default
        assert service_env["CRASHLAB_ADMIN_TOKEN"] == {
            "secretKeyRef": {"name": "crashlab-admin", "key": "token"}
        }
        assert "CRASHLAB_ADMIN_ALLOW_REMOTE" not in service_env
        assert container(deployment)["resources"]["limits"]["memory"] == "256Mi"
        assert deployment["spec"]["template"]["spec"]["restartPolicy"] == "Always"
    assert env(objs["Deployment", "game"])["CRASHLAB_ODDS_URL"] == "http://odds.crashlab.svc:8081"
    master_svc = objs["Service", "locust-master"]
    workers_port = next(p["port"] for p in master_svc["spec"]["ports"] if p["name"] == "workers")
    assert (
        env(objs["Deployment", "locust-worker"])["CRASHLAB_LOAD_MASTER"]
        == f"locust-master.crashlab.svc:{workers_port}"
    )
    assert container(objs["Deployment", "locust-worker"])["args"] == ["load", "worker"]
    assert env(objs["Deployment", "locust-master"])["LOCUST_HOST"] == "http://game.crashlab.svc:8080"
    # the monitors find the services and the master, and name the jobs as the other stacks do
    monitor = objs["ServiceMonitor", "crashlab-services"]["spec"]
    watched = {
        name: svc["metadata"]["labels"][monitor["jobLabel"]]
        for (kind, name), svc in objs.items()
        if kind == "Service" and _selects(monitor["selector"]["matchLabels"], svc["metadata"]["labels"])
    }
    assert watched == {"game": "game", "odds": "odds"}
    pod_monitor = objs["PodMonitor", "crashlab-load"]["spec"]
    (load,) = [p for p, labels in pods.items() if _selects(pod_monitor["selector"]["matchLabels"], labels)]
    assert (load, pods[load][pod_monitor["jobLabel"]]) == ("locust-master", "load")
    assert pod_monitor["podMetricsEndpoints"][0]["port"] in _port_names(objs["Deployment", load])
    # the NetworkPolicy covers every pod of the kit
    policy = objs["NetworkPolicy", "crashlab-ingress"]["spec"]
    assert all(_selects(policy["podSelector"]["matchLabels"], labels) for labels in pods.values())


def _promtool(groups: list[dict[str, Any]], tmp: Path) -> None:
    path = tmp / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False), encoding="utf-8")
    done = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_rules_are_the_stacks_rules_and_pass_promtool(
    default: list[dict[str, Any]], full: list[dict[str, Any]], tmp_path: Path
) -> None:
    groups = copy.deepcopy(by_kind(default)["PrometheusRule", "crashlab-slos"]["spec"]["groups"])
    _promtool(groups, tmp_path)
    _promtool(by_kind(full)["PrometheusRule", "crashlab-slos"]["spec"]["groups"], tmp_path)
    stacks = [
        g for f in sorted(rules_dir("fast").glob("*.yml")) for g in yaml.safe_load(f.read_text())["groups"]
    ]
    ours = [g for g in groups if g["name"] != KUBERNETES_GROUP]
    alerts = [r for g in ours for r in g["rules"] if "alert" in r]
    assert alerts and all(r["labels"]["namespace"] == "crashlab" for r in alerts)
    for rule in alerts:
        del rule["labels"]["namespace"]
    assert sorted(ours, key=lambda g: g["name"]) == sorted(stacks, key=lambda g: g["name"])
    (k8s,) = [g for g in groups if g["name"] == KUBERNETES_GROUP]
    assert [r["record"] for r in k8s["rules"]] == ["crashlab_process_restarts_total"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "game:\n  replica: 2\n",
            "v.yaml:2: game.replica: unknown field 'replica'; did you mean 'replicas'?",
        ),
        (
            "locust:\n  workers: 3\n  workerResources:\n    limits: {memory: 1GB}\n",
            "v.yaml:4: locust.workerResources.limits.memory: must be a Kubernetes quantity such as 100m, 1, "
            "256Mi (got '1GB')",
        ),
        (
            "monitoring:\n  windows: slow\n",
            "v.yaml:2: monitoring.windows: must be 'fast' or 'real' (got 'slow')",
        ),
        ("admin: {token: short}\n", "v.yaml:1: admin.token: "),
        ("image:\n  tag: [1\n", "v.yaml:3: yaml: "),
        ("- a\n", "v.yaml:1: (root): must be a mapping (got list)"),
        (
            "alertmanager:\n  pagerUrl: pager:9000\n",
            "v.yaml:2: alertmanager.pagerUrl: must be an http(s) URL",
        ),
        ("seed: 1\nseed: 2\n", "v.yaml:2: seed: duplicate key 'seed'"),
    ],
)
def test_values_errors_name_file_line_and_field(text: str, expected: str) -> None:
    with pytest.raises(ValuesError) as caught:
        parse_values(text, "v.yaml")
    assert expected in str(caught.value)


def test_the_command_prints_every_values_problem_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "v.yaml").write_text("game:\n  replica: 2\nmonitoring: {interval: soon}\n", encoding="utf-8")
    done = subprocess.run(
        [CRASHLAB, "k8s", "manifests", "--values", "v.yaml"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 2 and done.stdout == "" and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        "crashlab: error: 2 problems in v.yaml:",
        "v.yaml:2: game.replica: unknown field 'replica'; did you mean 'replicas'?",
        "v.yaml:3: monitoring.interval: must be a duration such as 1s, 30s, 5m (got 'soon')",
    ]


def test_a_missing_values_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValuesError, match=r"nope\.yaml: \(file\): cannot read: No such file"):
        load_values(tmp_path / "nope.yaml")


def test_the_default_values_file_renders_the_defaults(default: list[dict[str, Any]]) -> None:
    printed = subprocess.run([CRASHLAB, "k8s", "values"], capture_output=True, text=True, check=True).stdout
    assert [d for d in yaml.safe_load_all(to_yaml(render(parse_values(printed)))) if d] == default
