"""Alertmanager in the stack: the generated config passes ``amtool check-config``; every alert the
rules define routes to its receiver (``amtool config routes test``); in a real Alertmanager a page
inhibits the ticket of its SLO and nothing else; the compose files run it pinned, on loopback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from stack.alertmanager import config as am_config
from stack.alertmanager.server import alertmanager_argv, alertmanager_binary
from stack.docker.engine import COMPOSE_CI_FILE, COMPOSE_FILE, STACK_DIR
from stack.local.ports import free_port
from stack.prometheus.config import rule_files, write_alertmanager, write_config
from stack.runtime import StackError
from tests.helpers_docker import compose_config
from tests.helpers_stack import http, stack_dirs, wait_until

__all__ = ["stack_dirs"]

AMTOOL = shutil.which("amtool") or "/usr/bin/amtool"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
CRASHLAB = str(Path(sys.executable).with_name("crashlab"))
PAGER = "http://127.0.0.1:8099/pager"


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AMTOOL, *args], capture_output=True, text=True, timeout=60, check=False)


def rule_alerts(windows: str) -> list[dict[str, Any]]:
    """Every alerting rule of ``rules/<windows>/`` (an alert name may come once per SLO)."""
    return [
        rule
        for path in rule_files(windows)  # type: ignore[arg-type]
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


@pytest.mark.parametrize("windows", ["fast", "real"])
@pytest.mark.parametrize("pager_url", [None, PAGER])
def test_generated_config_passes_amtool(tmp_path: Path, windows: str, pager_url: str | None) -> None:
    path = am_config.write_config(tmp_path, windows, pager_url)  # type: ignore[arg-type]
    assert (tmp_path / "data").is_dir()
    done = amtool("check-config", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 inhibit rules" in done.stdout and "2 receivers" in done.stdout
    config = yaml.safe_load(path.read_text())
    (pager,) = [r for r in config["receivers"] if r["name"] == "pager"]
    if pager_url is None:
        assert set(pager) == {"name"}  # no integration: pages are routed, shown, sent nowhere
    else:
        assert pager["webhook_configs"] == [{"url": PAGER, "send_resolved": True, "max_alerts": 0}]
    page_route = config["route"]["routes"][0]
    assert page_route["matchers"] == ['severity="page"']
    expected_wait = "1s" if windows == "fast" else "30s"
    assert page_route["group_wait"] == expected_wait


def test_default_docker_config_is_in_sync(capsys: pytest.CaptureFixture[str]) -> None:
    assert am_config.main(["--check"]) == 0, capsys.readouterr().err
    assert am_config.DEFAULT_CONFIG.read_text() == am_config.render("fast", None)


@pytest.mark.parametrize("url", ["127.0.0.1:8099/pager", "ftp://host/x", "http:///nohost", ""])
def test_pager_url_must_be_http(url: str) -> None:
    with pytest.raises(StackError, match=r"^pager_url \(--pager-url\): .* is not an http\(s\) URL"):
        am_config.alertmanager_config("fast", url)


@pytest.fixture(scope="module")
def routes_config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("am-routes")
    return {
        windows: am_config.write_config(root / windows, windows, PAGER)  # type: ignore[arg-type]
        for windows in ("fast", "real")
    }


@pytest.mark.parametrize("windows", ["fast", "real"])
def test_every_alert_routes_to_its_receiver(routes_config: dict[str, Path], windows: str) -> None:
    alerts = rule_alerts(windows)
    assert {a["alert"] for a in alerts} >= {"ErrorBudgetBurnPage", "CrashLoop", "PanicRate"}
    for rule in alerts:
        labels = {"alertname": rule["alert"], **rule["labels"]}
        expected = {"page": "pager", "ticket": "tickets"}[labels["severity"]]
        other = "tickets" if expected == "pager" else "pager"
        args = [f"{k}={v}" for k, v in labels.items()]
        config = f"--config.file={routes_config[windows]}"
        done = amtool("config", "routes", "test", config, f"--verify.receivers={expected}", *args)
        assert done.returncode == 0, f"{labels}: {done.stdout}{done.stderr}"
        assert done.stdout.strip() == expected, labels
        # the check can fail: the same alert does not route to the other receiver
        wrong = amtool("config", "routes", "test", config, f"--verify.receivers={other}", *args)
        assert wrong.returncode != 0, labels


def test_an_alert_without_severity_is_queued_as_a_ticket(routes_config: dict[str, Path]) -> None:
    args = ["config", "routes", "test", f"--config.file={routes_config['fast']}", "alertname=Unknown"]
    done = amtool(*args, "--verify.receivers=tickets")
    assert done.returncode == 0, done.stdout + done.stderr


def test_prometheus_config_sends_alerts_without_the_link_labels(tmp_path: Path) -> None:
    path = write_config(tmp_path, "fast", alertmanagers=True, runbooks_url="http://127.0.0.1:9/runbooks/")
    write_alertmanager(tmp_path, "http://127.0.0.1:9093")
    config = yaml.safe_load(path.read_text())
    assert config["global"]["external_labels"] == {"crashlab_runbooks": "http://127.0.0.1:9/runbooks"}
    alerting = config["alerting"]
    assert alerting["alert_relabel_configs"] == [
        {"action": "labeldrop", "regex": "crashlab_runbooks|crashlab_grafana"}
    ]
    assert alerting["alertmanagers"][0]["file_sd_configs"][0]["files"] == ["alertmanagers/*.json"]
    sd = json.loads((tmp_path / "alertmanagers" / "alertmanager.json").read_text())
    assert sd == [{"targets": ["127.0.0.1:9093"]}]
    done = subprocess.run([PROMTOOL, "check", "config", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


# --- a real Alertmanager: inhibition --------------------------------------------------------------


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    """A real Alertmanager (the local stack's command line) with the generated config."""
    port = free_port("127.0.0.1")
    url = f"http://127.0.0.1:{port}"
    config = am_config.write_config(tmp_path, "fast", None)
    argv = alertmanager_argv(
        alertmanager_binary(), config=config, data=tmp_path / "data", listen=f"127.0.0.1:{port}", url=url
    )
    log = tmp_path / "alertmanager.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: _ready(url + "/-/ready") or proc.poll() is not None, 20, "Alertmanager ready")
        assert proc.poll() is None, log.read_text()
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def _post_alerts(am: str, alerts: list[dict[str, str]], *, ends_in_s: float = 300) -> None:
    now = datetime.now(UTC)
    body = [
        {
            "labels": labels,
            "annotations": {"summary": "test"},
            "startsAt": (now - timedelta(seconds=1)).isoformat(),
            "endsAt": (now + timedelta(seconds=ends_in_s)).isoformat(),
        }
        for labels in alerts
    ]
    http("POST", am + "/api/v2/alerts", body)


def _states(am: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(alertname, slo) -> the alert's ``status`` in Alertmanager."""
    alerts = http("GET", am + "/api/v2/alerts")
    return {(a["labels"]["alertname"], a["labels"].get("slo", "")): a for a in alerts}


PAGE_AVAIL = {"alertname": "ErrorBudgetBurnPage", "severity": "page", "slo": "availability"}
TICKET_AVAIL = {"alertname": "ErrorBudgetBurnTicket", "severity": "ticket", "slo": "availability"}
TICKET_LATENCY = {"alertname": "LatencyBudgetBurnTicket", "severity": "ticket", "slo": "latency"}
CRASHLOOP = {"alertname": "CrashLoop", "severity": "page", "service": "game"}
PANIC = {"alertname": "PanicRate", "severity": "ticket"}
PAGE_KEY = ("ErrorBudgetBurnPage", "availability")


def test_a_page_inhibits_the_ticket_of_its_slo_only(alertmanager: str) -> None:
    am = alertmanager
    _post_alerts(am, [PAGE_AVAIL, TICKET_AVAIL, TICKET_LATENCY, CRASHLOOP, PANIC])

    def settled() -> dict[tuple[str, str], dict[str, Any]] | None:
        states = _states(am)
        ticket = states.get(("ErrorBudgetBurnTicket", "availability"))
        return states if len(states) == 5 and ticket and ticket["status"]["inhibitedBy"] else None

    states = wait_until(settled, 15, "the availability ticket inhibited")
    page = states[PAGE_KEY]
    ticket = states[("ErrorBudgetBurnTicket", "availability")]
    assert ticket["status"]["state"] == "suppressed"
    assert ticket["status"]["inhibitedBy"] == [page["fingerprint"]]
    # another SLO's ticket, and alerts without an slo label (even beside a page), stay active
    for key in [("LatencyBudgetBurnTicket", "latency"), ("PanicRate", ""), ("CrashLoop", ""), PAGE_KEY]:
        assert states[key]["status"]["state"] == "active", (key, states[key]["status"])
        assert states[key]["status"]["inhibitedBy"] == []
    receivers = {key: [r["name"] for r in a["receivers"]] for key, a in states.items()}
    assert receivers[PAGE_KEY] == ["pager"] and receivers[("CrashLoop", "")] == ["pager"]
    assert receivers[("PanicRate", "")] == ["tickets"]

    # the page resolves: its ticket is active again
    _post_alerts(am, [PAGE_AVAIL], ends_in_s=0)
    wait_until(
        lambda: _states(am)[("ErrorBudgetBurnTicket", "availability")]["status"]["state"] == "active",
        15,
        "the ticket active once the page resolved",
    )


# --- compose: the Docker stack's Alertmanager ---------------------------------------------------


def test_compose_runs_a_pinned_alertmanager_on_loopback() -> None:
    services = compose_config(COMPOSE_FILE, env={"CRASHLAB_ALERTMANAGER_PORT": "19193"})["services"]
    am = services["alertmanager"]
    image, _, tag = am["image"].partition(":")
    assert image == "prom/alertmanager" and tag.startswith("v0.") and tag != "latest"
    assert [(p["host_ip"], p["published"], p["target"]) for p in am["ports"]] == [
        ("127.0.0.1", "19193", 9093)
    ]
    assert "--cluster.listen-address=" in am["command"]
    assert "--web.external-url=http://127.0.0.1:19193" in am["command"]
    mounts = {v["target"]: v for v in am["volumes"]}
    assert mounts["/etc/alertmanager/alertmanager.yml"]["source"] == str(am_config.DEFAULT_CONFIG)
    assert mounts["/alertmanager"]["type"] == "volume"
    assert am["healthcheck"]["test"][-1] == "http://127.0.0.1:9093/-/ready"
    prom = services["prometheus"]
    assert "--web.external-url=http://127.0.0.1:19090" in prom["command"]
    assert prom["environment"]["CRASHLAB_GRAFANA_URL"] == "http://127.0.0.1:13000"
    # the default file_sd of the checked-in targets: Prometheus finds Alertmanager by its service name
    sd = json.loads((STACK_DIR / "docker" / "targets" / "alertmanagers" / "alertmanager.json").read_text())
    assert sd == [{"targets": ["alertmanager:9093"]}]
    assert am_config.DEFAULT_CONFIG.is_file()


def test_ci_override_runs_debians_alertmanager_on_host_network() -> None:
    env = {"CRASHLAB_ALERTMANAGER_PORT": "27193", "CRASHLAB_PROMETHEUS_PORT": "27190"}
    services = compose_config(COMPOSE_FILE, COMPOSE_CI_FILE, env=env)["services"]
    am = services["alertmanager"]
    assert am["network_mode"] == "host" and not am.get("ports") and not am.get("extra_hosts")
    assert am["image"] == "crashlab-prometheus:debian"
    assert am["entrypoint"] == ["/usr/bin/prometheus-alertmanager"]
    assert "--web.listen-address=127.0.0.1:27193" in am["command"]
    assert "--cluster.listen-address=" in am["command"]
    assert "127.0.0.1:27193/-/ready" in am["healthcheck"]["test"][-1]
    prom = services["prometheus"]
    assert "--enable-feature=exemplar-storage,expand-external-labels" in prom["command"]
    assert "--web.external-url=http://127.0.0.1:27190" in prom["command"]
    assert prom["environment"]["CRASHLAB_GRAFANA_URL"] == ""
    dockerfile = (STACK_DIR / "images" / "prometheus" / "Dockerfile").read_text()
    assert "prometheus-alertmanager" in dockerfile and "/alertmanager" in dockerfile


def test_docker_prometheus_config_routes_alerts_to_alertmanager() -> None:
    config = yaml.safe_load((STACK_DIR / "docker" / "prometheus.yml").read_text())
    assert config["global"]["external_labels"] == {
        "crashlab_runbooks": "${CRASHLAB_RUNBOOKS_URL}",
        "crashlab_grafana": "${CRASHLAB_GRAFANA_URL}",
    }
    (am,) = config["alerting"]["alertmanagers"]
    assert am["file_sd_configs"][0]["files"] == ["/etc/prometheus/targets/alertmanagers/*.json"]
    assert config["alerting"]["alert_relabel_configs"][0]["action"] == "labeldrop"


# --- the local stack: a missing binary ------------------------------------------------------------


def test_alertmanager_missing_is_one_line_with_the_package(stack_dirs: Path) -> None:
    bin_dir = stack_dirs / "bin"
    bin_dir.mkdir()
    prometheus = shutil.which("prometheus")
    assert prometheus is not None
    (bin_dir / "prometheus").symlink_to(prometheus)
    env = {k: v for k, v in os.environ.items() if k != "CRASHLAB_ALERTMANAGER_BIN"}
    env["PATH"] = str(bin_dir)
    done = subprocess.run(
        [CRASHLAB, "up"], env=env, cwd=stack_dirs, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    # names the part, the Debian package, the override and the way around it (crashlab.binaries words it)
    assert lines[0].startswith("crashlab: error: alertmanager: ") and "on PATH" in lines[0]
    for part in ("apt-get install prometheus-alertmanager", "CRASHLAB_ALERTMANAGER_BIN", "--no-alertmanager"):
        assert part in lines[0], lines[0]
    assert not (stack_dirs / "state" / "stack.json").exists()


@pytest.mark.parametrize(
    ("bridge", "expected"),
    [(True, "http://host.docker.internal:8099/pager"), (False, "http://127.0.0.1:8099/pager")],
)
def test_docker_runs_config_reaches_a_pager_on_the_host(tmp_path: Path, bridge: bool, expected: str) -> None:
    from crashlab.rundir import RunDir
    from stack.docker.launch import _alertmanager_config
    from stack.runtime import StackConfig

    config = StackConfig(run_dir=RunDir.create("am", tmp_path), runtime="docker", pager_url=PAGER)
    path = _alertmanager_config(tmp_path / "alertmanager", config, bridge=bridge)
    (pager,) = [r for r in yaml.safe_load(path.read_text())["receivers"] if r["name"] == "pager"]
    assert pager["webhook_configs"][0]["url"] == expected
    assert path.stat().st_mode & 0o777 == 0o644 and path.parent.stat().st_mode & 0o777 == 0o755
    assert amtool("check-config", str(path)).returncode == 0
