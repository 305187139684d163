"""Checks of the Docker stack's Loki, Tempo, Alloy and Grafana configs that need no image of theirs.

Their images cannot be pulled here, so: YAML valid, keys as documented for the pinned versions
(Loki 3.4, Tempo 2.7, Grafana 11.5), provisioning cross-checked (every datasource UID a dashboard or
correlation uses exists), every dashboard query's metric names in docs/contracts.md or the rules,
every PromQL parsed by promtool, fault windows as annotations, dashboards in sync with their code.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from crashlab import binaries
from stack.grafana import dashboards as dashboards_code

ROOT = Path(__file__).resolve().parent.parent
STACK = ROOT / "stack"
DASHBOARDS = STACK / "grafana" / "dashboards"
DATASOURCES = STACK / "grafana" / "provisioning" / "datasources" / "datasources.yaml"

# Top-level blocks of the configuration reference of each pinned version.
LOKI_3_4_KEYS = {
    "target", "auth_enabled", "ballast_bytes", "shutdown_delay", "metrics_namespace", "server",
    "internal_server", "distributor", "querier", "query_scheduler", "frontend", "query_range", "ruler",
    "ruler_storage", "ingester_client", "ingester", "block_builder", "pattern_ingester", "index_gateway",
    "bloom_build", "bloom_gateway", "storage_config", "chunk_store_config", "schema_config", "compactor",
    "compactor_grpc_client", "limits_config", "frontend_worker", "table_manager", "memberlist",
    "kafka_config", "dataobj", "runtime_config", "operational_config", "tracing", "analytics", "profiling",
    "common",
}  # fmt: skip
TEMPO_2_7_KEYS = {
    "target", "http_api_prefix", "server", "internal_server", "distributor", "ingester_client",
    "metrics_generator_client", "querier", "query_frontend", "compactor", "ingester", "metrics_generator",
    "storage", "memberlist", "overrides", "usage_report", "cache", "stream_over_http_enabled",
    "multitenancy_enabled", "enable_go_runtime_metrics", "autocomplete_filtering_enabled",
}  # fmt: skip
#: Tempo 3.x's layout (Kafka ingest, live store, backend scheduler): rejected by a 2.7 binary
TEMPO_3_KEYS = {"ingest", "block_builder", "live_store", "backend_scheduler", "backend_worker"}

METRIC = re.compile(r"\b((?:rps|odds|crashlab|process)_[a-z0-9_]+|slo:[a-z0-9_:]+|ALERTS)\b")
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _datasources() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = _yaml(DATASOURCES)["datasources"]
    return data


def _dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(DASHBOARDS.glob("*.json"))}


def _panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def _known_metrics() -> set[str]:
    contracts = (ROOT / "docs" / "contracts.md").read_text(encoding="utf-8")
    names = set(METRIC.findall(contracts))
    for rules in (STACK / "prometheus" / "rules").glob("*/*.yml"):
        for group in _yaml(rules)["groups"]:
            names |= {rule["record"] for rule in group["rules"] if "record" in rule}
    return names | {"ALERTS"}


def _prom_exprs() -> list[tuple[str, str]]:
    out = []
    for name, board in _dashboards().items():
        for panel in _panels(board):
            for target in panel.get("targets", []):
                if target.get("datasource", {}).get("type") == "prometheus":
                    out.append((f"{name}: {panel['title']}", target["expr"]))
        for ann in board["annotations"]["list"]:
            if ann.get("datasource", {}).get("type") == "prometheus":
                out.append((f"{name}: annotation {ann['name']}", ann["expr"]))
    return out


def test_loki_config_follows_the_3_4_single_binary_reference() -> None:
    config = _yaml(STACK / "loki" / "loki.yaml")
    assert set(config) <= LOKI_3_4_KEYS, set(config) - LOKI_3_4_KEYS
    assert config["auth_enabled"] is False
    assert config["server"]["http_listen_port"] == 3100
    assert config["common"]["replication_factor"] == 1
    assert config["common"]["ring"]["kvstore"]["store"] == "inmemory"
    (schema,) = config["schema_config"]["configs"]
    assert (schema["store"], schema["schema"], schema["object_store"]) == ("tsdb", "v13", "filesystem")
    assert schema["index"]["period"] == "24h"
    fs = config["common"]["storage"]["filesystem"]
    assert all(str(path).startswith("/loki/") for path in fs.values())
    # Loki 3 refuses retention without a delete-request store
    if config.get("compactor", {}).get("retention_enabled"):
        assert config["compactor"]["delete_request_store"] == "filesystem"
    assert config["limits_config"]["allow_structured_metadata"] is True


def test_tempo_config_follows_the_2_7_single_binary_layout() -> None:
    config = _yaml(STACK / "tempo" / "tempo.yaml")
    assert set(config) <= TEMPO_2_7_KEYS, set(config) - TEMPO_2_7_KEYS
    assert not set(config) & TEMPO_3_KEYS
    assert config["server"]["http_listen_port"] == 3200
    otlp = config["distributor"]["receivers"]["otlp"]["protocols"]
    # since 2.7 receivers default to localhost: they must listen on all container interfaces
    assert otlp["http"]["endpoint"] == "0.0.0.0:4318"
    assert otlp["grpc"]["endpoint"] == "0.0.0.0:4317"
    trace = config["storage"]["trace"]
    assert trace["backend"] == "local"
    assert trace["wal"]["path"].startswith("/var/tempo/") and trace["local"]["path"].startswith("/var/tempo/")


def test_tempo_generates_the_service_graph_into_prometheus() -> None:
    """Grafana's service map reads traces_service_graph_* from Prometheus: Tempo's metrics generator
    (2.7: metrics_generator.storage.remote_write, processors in overrides.defaults) writes them to
    Prometheus' remote-write receiver, which compose.yaml turns on."""
    config = _yaml(STACK / "tempo" / "tempo.yaml")
    generator = config["metrics_generator"]
    assert generator["storage"]["path"].startswith("/var/tempo/")
    (remote,) = generator["storage"]["remote_write"]
    assert remote["url"] == "http://prometheus:9090/api/v1/write"
    assert set(config["overrides"]["defaults"]["metrics_generator"]["processors"]) == {
        "service-graphs",
        "span-metrics",
    }
    prometheus = _yaml(STACK / "compose.yaml")["services"]["prometheus"]
    assert "--web.enable-remote-write-receiver" in prometheus["command"]


def test_alloy_ships_the_service_logs_to_loki() -> None:
    text = (STACK / "loki" / "config.alloy").read_text(encoding="utf-8")
    assert '"/var/log/crashlab/*.jsonl"' in text
    assert 'url = "http://loki:3100/loki/api/v1/push"' in text
    assert re.search(r"stage\.structured_metadata\s*{[^}]*trace_id", text, re.S)
    assert re.search(r"stage\.labels\s*{[^}]*level[^}]*service", text, re.S)
    assert text.count("{") == text.count("}")


def test_datasources_have_fixed_unique_uids_and_correlations() -> None:
    sources = {ds["uid"]: ds for ds in _datasources()}
    assert set(sources) == {"prometheus", "loki", "tempo"}
    assert [ds["type"] for ds in sources.values()] == ["prometheus", "loki", "tempo"]
    # URLs: compose service names and container ports
    compose = _yaml(STACK / "compose.yaml")["services"]
    for uid, port in (("prometheus", 9090), ("loki", 3100), ("tempo", 3200)):
        assert sources[uid]["url"] == f"http://{uid}:{port}" and uid in compose
    exemplars = sources["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert exemplars == [{"name": "trace_id", "datasourceUid": "tempo", "urlDisplayLabel": "Trace in Tempo"}]
    derived = sources["loki"]["jsonData"]["derivedFields"]
    assert {field["datasourceUid"] for field in derived} == {"tempo"}
    assert all(field["url"] == "$${__value.raw}" for field in derived)  # `$$`: no env expansion
    assert re.search(derived[1]["matcherRegex"], '{"trace_id":"' + "a" * 32 + '"}')
    tempo = sources["tempo"]["jsonData"]
    assert tempo["tracesToLogsV2"]["datasourceUid"] == "loki" and tempo["tracesToLogsV2"]["filterByTraceID"]
    for key in ("tracesToMetrics", "serviceMap"):
        assert tempo[key]["datasourceUid"] in sources
    assert "lokiSearch" not in tempo  # gone from Grafana 11's Tempo data source


def _span_queries() -> list[str]:
    tempo = {ds["uid"]: ds for ds in _datasources()}["tempo"]["jsonData"]["tracesToMetrics"]
    assert tempo["tags"] == [{"key": "service.name", "value": "job"}]
    return [str(q["query"]) for q in tempo["queries"]]


@pytest.mark.parametrize("service", ["game", "odds"])
def test_a_span_links_to_its_own_services_metrics(service: str) -> None:
    """The trace view's "metrics for this span": every query selects by job (the span's service.name),
    and each service's spans find its own metrics (game: rps_*, odds: odds_*)."""
    prefix = {"game": "rps_", "odds": "odds_"}[service]
    known = _known_metrics()
    for query in _span_queries():
        assert "$$__tags" in query
        names = re.findall(r"\b(?:rps|odds)_[a-z0-9_]+", query)
        mine = [n for n in names if n.startswith(prefix)]
        assert mine, f"{service}: {query!r} has no {prefix}* metric"
        for name in mine:
            assert name.removesuffix("_bucket") in known, name


def test_span_metric_queries_parse(tmp_path: Path) -> None:
    rules = [
        {"record": f"crashlab:span_check:{i}", "expr": query.replace("$$__tags", 'job="odds"')}
        for i, query in enumerate(_span_queries())
    ]
    path = tmp_path / "spans.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "spans", "rules": rules}]}), encoding="utf-8")
    done = subprocess.run(
        [binaries.find("promtool"), "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_dashboard_datasource_uid_is_provisioned() -> None:
    uids = {ds["uid"] for ds in _datasources()} | {"-- Grafana --"}
    boards = _dashboards()
    assert set(boards) == {"service-overview.json", "slo.json", "incident.json"}
    assert len({b["uid"] for b in boards.values()}) == len(boards)
    used = set()
    for name, board in boards.items():
        for panel in _panels(board):
            if panel["type"] == "row":
                continue
            for ref in [panel.get("datasource"), *(t.get("datasource") for t in panel.get("targets", []))]:
                assert ref is not None and ref["uid"] in uids, f"{name}: {panel['title']}: {ref}"
                used.add(ref["uid"])
        for ann in board["annotations"]["list"]:
            assert ann["datasource"]["uid"] in uids
    assert used == {"prometheus", "loki", "tempo"}


def test_dashboard_queries_use_contract_metric_names() -> None:
    known = _known_metrics()
    for where, expr in _prom_exprs():
        names = METRIC.findall(expr)
        assert names, f"{where}: no crashlab metric in {expr!r}"
        for metric in names:
            base = metric
            for suffix in HISTOGRAM_SUFFIXES:
                if metric.endswith(suffix) and metric.removesuffix(suffix) in known:
                    base = metric.removesuffix(suffix)
            assert base in known, f"{where}: {metric} is not in docs/contracts.md nor a recording rule"


def test_dashboard_promql_parses(tmp_path: Path) -> None:
    rules = [
        {"record": f"crashlab:dashboard_check:{i}", "expr": expr.replace("$__rate_interval", "1m")}
        for i, (_where, expr) in enumerate(_prom_exprs())
    ]
    path = tmp_path / "dashboards.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}), encoding="utf-8")
    done = subprocess.run(
        [binaries.find("promtool"), "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_fault_windows_and_restarts_are_annotations_on_every_dashboard() -> None:
    for name, board in _dashboards().items():
        by_name = {ann["name"]: ann for ann in board["annotations"]["list"]}
        faults = by_name["Injected faults"]
        assert "crashlab_fault_active" in faults["expr"] and faults["enable"] is True
        assert "{{fault}}" in faults["titleFormat"]
        assert "crashlab_process_restarts_total" in by_name["Restarts"]["expr"], name


def test_incident_view_covers_the_chain() -> None:
    exprs = " ".join(expr for where, expr in _prom_exprs() if where.startswith("incident.json"))
    for metric in (
        "crashlab_process_restarts_total",
        "crashlab_process_exits_total",
        "rps_panics_total",
        "rps_dependency_retries_total",
        "rps_circuit_state",
        "rps_http_requests_in_flight",
        "process_resident_memory_bytes",
    ):
        assert metric in exprs, metric


def test_dashboards_are_in_sync_with_their_code() -> None:
    rendered = dashboards_code.render()
    for name, text in rendered.items():
        assert (DASHBOARDS / name).read_text(encoding="utf-8") == text, (
            f"{name} drifted: run python -m stack.grafana.dashboards"
        )


def test_dashboard_provider_path_is_the_compose_mount() -> None:
    provider = _yaml(STACK / "grafana" / "provisioning" / "dashboards" / "crashlab.yaml")["providers"][0]
    mounts = _yaml(STACK / "compose.yaml")["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{provider['options']['path']}:ro" in mounts
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in mounts


@pytest.mark.parametrize("path", ["stack/docker/prometheus.yml"])
def test_docker_prometheus_config_is_valid(path: str) -> None:
    done = subprocess.run(
        [binaries.find("promtool"), "check", "config", "--syntax-only", str(ROOT / path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
