"""stack/compose.yaml and its CI override, as Compose v2 resolves them (`docker compose config`).

Needs the compose binary only (no engine): every service has a healthcheck, published ports are
on 127.0.0.1 only, the services have restart policies and memory limits, Loki and Tempo run as
uid 10001 on volumes handed to it, images are pinned, the rules are the embedded stack's files;
the CI override runs everything with host networking and publishes nothing.
"""

from __future__ import annotations

import json

import pytest

from stack.docker.engine import COMPOSE_CI_FILE, COMPOSE_FILE, STACK_DIR
from tests.helpers_docker import compose_config

OBSERVABILITY = {"prometheus", "alertmanager", "loki", "tempo", "alloy", "grafana"}


def test_full_stack_services_healthchecks_and_loopback_ports() -> None:
    services = compose_config(COMPOSE_FILE)["services"]
    assert set(services) == {"game", "odds", "observer", *OBSERVABILITY, "volume-owners"}
    for name, svc in services.items():
        if name != "volume-owners":
            assert svc.get("healthcheck", {}).get("test"), f"{name}: no healthcheck"
        for port in svc.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", f"{name}: port {port} not on loopback"
        image = svc["image"]
        if name not in ("game", "odds", "observer"):  # built here: stack/images/service
            assert ":" in image and not image.endswith(":latest"), f"{name}: unpinned image {image}"


def test_services_restart_policy_memory_limits_and_build_arg() -> None:
    services = compose_config(COMPOSE_FILE, env={"CRASHLAB_GAME_MEMORY": "300m"})["services"]
    for name in ("game", "odds"):
        svc = services[name]
        assert svc["restart"].startswith("on-failure")
        assert int(svc["mem_limit"]) > 0
        assert svc["build"]["args"]["BASE_IMAGE"] == "python:3.11-slim-bookworm"
        assert svc["build"]["dockerfile"] == "stack/images/service/Dockerfile"
    assert int(services["game"]["mem_limit"]) == 300 * 1024 * 1024
    assert services["game"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://tempo:4318"


def test_loki_and_tempo_run_as_10001_on_owned_volumes() -> None:
    config = compose_config(COMPOSE_FILE)
    services = config["services"]
    for name, mount in (("loki", "/loki"), ("tempo", "/var/tempo")):
        assert services[name]["user"] == "10001:10001"
        volumes = {v["target"]: v for v in services[name]["volumes"]}
        assert volumes[mount]["type"] == "volume"
        assert services[name]["depends_on"]["volume-owners"]["condition"] == "service_completed_successfully"
    owners = services["volume-owners"]
    assert owners["entrypoint"][:3] == ["chown", "-R", "10001:10001"]
    assert {"loki-data", "tempo-data", "prometheus-data", "grafana-data"} <= set(config["volumes"])


def test_prometheus_mounts_the_embedded_rules() -> None:
    volumes = {v["target"]: v for v in compose_config(COMPOSE_FILE)["services"]["prometheus"]["volumes"]}
    assert volumes["/etc/prometheus/rules"]["source"] == str(STACK_DIR / "prometheus" / "rules" / "fast")
    assert volumes["/etc/prometheus/prometheus.yml"]["source"] == str(STACK_DIR / "docker" / "prometheus.yml")
    assert (STACK_DIR / "prometheus" / "rules" / "fast").is_dir()


@pytest.mark.parametrize("service", ["game", "odds", "prometheus"])
def test_ci_override_uses_host_networking_and_publishes_nothing(service: str) -> None:
    env = {"CRASHLAB_GAME_PORT": "27180", "CRASHLAB_ODDS_PORT": "27181", "CRASHLAB_PROMETHEUS_PORT": "27190"}
    svc = compose_config(COMPOSE_FILE, COMPOSE_CI_FILE, env=env)["services"][service]
    assert svc["network_mode"] == "host"
    assert not svc.get("ports")
    if service == "prometheus":
        assert svc["image"] == "crashlab-prometheus:debian"
        assert "--web.listen-address=127.0.0.1:27190" in svc["command"]
    else:
        assert svc["image"] == "crashlab-service:ci" and "build" not in svc
        assert svc["environment"]["CRASHLAB_HOST"] == "127.0.0.1"
        assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in svc["environment"]
    if service == "game":
        assert svc["environment"]["CRASHLAB_ODDS_URL"] == "http://127.0.0.1:27181"


def test_full_layout_observer_is_on_the_compose_network_with_the_engine_socket() -> None:
    """The bridge layout's scrape path: Prometheus reaches the observer by its service name on the
    compose network (no host networking), the observer reaches the engine through its socket and
    journals into the run directory; its port is published on 127.0.0.1 only (the relay's way in from
    the host); game and odds wait for it, so their first starts are journaled."""
    env = {"CRASHLAB_RUN_DIR": "/tmp/crashlab-run", "CRASHLAB_DOCKER_GID": "999", "CRASHLAB_UID": "1000"}
    services = compose_config(COMPOSE_FILE, env=env)["services"]
    observer = services["observer"]
    assert "network_mode" not in observer and set(observer["networks"]) == {"default"}
    assert set(services["prometheus"]["networks"]) == {"default"}
    mounts = {v["target"]: v for v in observer["volumes"]}
    assert mounts["/var/run/docker.sock"]["source"] == "/var/run/docker.sock"
    assert mounts["/tmp/crashlab-run"]["source"] == "/tmp/crashlab-run"
    assert observer["user"] == "1000:0" and observer["group_add"] == ["999"]
    assert "--journal=/tmp/crashlab-run/journal.jsonl" in observer["command"]
    assert (
        "--port=9100" in observer["command"] and "--prometheus=http://prometheus:9090" in observer["command"]
    )
    (port,) = observer["ports"]
    assert (port["host_ip"], port["target"]) == ("127.0.0.1", 9100)
    for name in ("game", "odds"):
        assert services[name]["depends_on"]["observer"]["condition"] == "service_healthy"
    default_targets = json.loads((STACK_DIR / "docker" / "targets" / "services.json").read_text())
    assert {
        "targets": ["observer:9100"],
        "labels": {"job": "supervisor", "run_id": "compose"},
    } in default_targets


def test_ci_layout_observer_on_the_hosts_loopback() -> None:
    env = {"CRASHLAB_OBSERVER_PORT": "27300", "CRASHLAB_PROMETHEUS_PORT": "27290"}
    observer = compose_config(COMPOSE_FILE, COMPOSE_CI_FILE, env=env)["services"]["observer"]
    assert observer["network_mode"] == "host" and not observer.get("ports")
    assert "--host=127.0.0.1" in observer["command"] and "--port=27300" in observer["command"]
    assert "--prometheus=http://127.0.0.1:27290" in observer["command"]
