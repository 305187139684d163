"""The Prometheus rules and config of stack/prometheus: generated files in sync, promtool checks and
unit tests (every alert fires on a synthetic series and stays quiet on a healthy one)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from chaos.scenario.semantics import KNOWN_ALERTS
from stack.prometheus import generate
from stack.prometheus.config import HERE, rule_files, write_config, write_target

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
#: the alert names of docs/contracts.md
ALERTS = set(KNOWN_ALERTS)


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120, check=False)


def test_generated_rules_are_in_sync(capsys: pytest.CaptureFixture[str]) -> None:
    assert generate.main(["--check"]) == 0, capsys.readouterr().err
    # and a different objective really changes them (the check can fail)
    assert generate.render("fast", availability=99.9)["slo.yml"] != (HERE / "rules/fast/slo.yml").read_text()


@pytest.mark.parametrize("windows", ["fast", "real"])
def test_rules_define_every_alert_and_sloth_names(windows: str) -> None:
    files = rule_files(windows)  # type: ignore[arg-type]
    assert [f.name for f in files] == ["crashlab.yml", "slo.yml"]
    rules = [r for f in files for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"]]
    assert {r["alert"] for r in rules if "alert" in r} == ALERTS
    records = {r["record"] for r in rules if "record" in r}
    assert {"slo:sli_error:ratio_rate5m" if windows == "real" else "slo:sli_error:ratio_rate5s"} <= records
    assert {"slo:error_budget:ratio", "slo:objective:ratio", "slo:current_burn_rate:ratio"} <= records
    assert {r["labels"]["severity"] for r in rules if "alert" in r} == {"page", "ticket"}
    done = promtool("check", "rules", *map(str, files))
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_unit_tests() -> None:
    tests = sorted(str(p) for p in (HERE / "tests").glob("*.yml"))
    assert len(tests) >= 2
    done = promtool("test", "rules", *tests)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("SUCCESS") == len(tests)


@pytest.mark.parametrize("windows", ["fast", "real"])
def test_generated_config_passes_promtool(tmp_path: Path, windows: str) -> None:
    path = write_config(tmp_path, windows)  # type: ignore[arg-type]
    write_target(tmp_path, "game", "http://127.0.0.1:8080", "run-1")
    config = yaml.safe_load(path.read_text())
    assert config["global"]["scrape_interval"] == "1s" and config["global"]["evaluation_interval"] == "1s"
    assert sorted(p.name for p in (tmp_path / "rules").iterdir()) == ["crashlab.yml", "slo.yml"]
    done = promtool("check", "config", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 2 rule files found" in done.stdout
