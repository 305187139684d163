"""The Prometheus rules and config of stack/prometheus: generated files in sync, promtool checks and
unit tests (every alert fires on a synthetic series and stays quiet on a healthy one)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from chaos.scenario.semantics import KNOWN_ALERTS
from crashlab import binaries
from stack.prometheus import generate
from stack.prometheus.config import HERE, rule_files, write_config, write_target

PROMTOOL = binaries.find("promtool")
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


RUNBOOKS = HERE.parents[1] / "docs" / "runbooks"
RUNBOOK_SECTIONS = ("## What it means", "## First checks", "## Likely causes", "## Mitigations")
#: metric names a runbook's PromQL may use besides docs/contracts.md and the recording rules
METRIC = re.compile(r"\b((?:rps|odds|crashlab)_[a-z0-9_]+|slo:[a-z0-9_:]+)\b")


@pytest.mark.parametrize("windows", ["fast", "real"])
def test_every_alert_links_its_runbook_and_graph(windows: str) -> None:
    rules = [
        r
        for f in rule_files(windows)  # type: ignore[arg-type]
        for g in yaml.safe_load(f.read_text())["groups"]
        for r in g["rules"]
        if "alert" in r
    ]
    for rule in rules:
        name, annotations = rule["alert"], rule["annotations"]
        assert set(annotations) == {"summary", "runbook_url", "graph_url"}, name
        assert annotations["runbook_url"] == generate.runbook_url(name)
        assert annotations["runbook_url"].endswith(f"/{name}.md") and (RUNBOOKS / f"{name}.md").is_file()
        # graph_url: Grafana's Explore when Grafana runs, else Prometheus' graph page, of the same signal
        grafana, prometheus = _branches(annotations["graph_url"])
        graph = urlsplit(prometheus)
        assert graph.path == "/graph"
        signal = parse_qs(graph.query)["g0.expr"][0]
        assert rule["expr"].startswith(signal) or name.endswith(("Page", "Ticket")), name
        explore = urlsplit(grafana)
        assert explore.path == "/explore"
        pane = json.loads(parse_qs(explore.query)["panes"][0])["a"]
        assert pane["datasource"] == "prometheus" and pane["queries"][0]["expr"] == signal
        provisioned = (HERE.parent / "grafana/provisioning/datasources/datasources.yaml").read_text()
        assert "uid: prometheus" in provisioned


def _branches(template: str) -> tuple[str, str]:
    """The two branches A and B of
    ``{{ with $externalLabels.crashlab_grafana }}{{ . }}A{{ else }}{{ $externalURL }}B{{ end }}``."""
    match = re.fullmatch(
        r"\{\{ with \$externalLabels\.crashlab_grafana \}\}\{\{ \. \}\}(.*)"
        r"\{\{ else \}\}\{\{ \$externalURL \}\}(.*)\{\{ end \}\}",
        template,
    )
    assert match, template
    return match.group(1), match.group(2)


def test_one_runbook_per_alert_with_its_sections() -> None:
    pages = {p.stem: p.read_text() for p in RUNBOOKS.glob("*.md") if p.name != "README.md"}
    assert set(pages) == ALERTS
    index = (RUNBOOKS / "README.md").read_text()
    for name, text in pages.items():
        assert text.startswith(f"# {name}\n"), name
        positions = [text.find(section) for section in RUNBOOK_SECTIONS]
        assert -1 not in positions and positions == sorted(positions), f"{name}: sections {positions}"
        assert "```promql" in text, name
        assert f"[{name}]({name}.md)" in index


def _runbook_queries() -> list[tuple[str, str]]:
    """Every query of the runbooks' ```promql blocks: lines up to a blank or comment line; an indented
    line continues the query above."""
    out: list[tuple[str, str]] = []
    for path in sorted(RUNBOOKS.rglob("*.md")):  # the game days' situation runbooks too
        for block in re.findall(r"```promql\n(.*?)```", path.read_text(), re.S):
            for line in block.splitlines():
                if not line.strip() or line.startswith("#"):
                    continue
                if line.startswith(" ") and out and out[-1][0] == path.name:
                    out[-1] = (path.name, out[-1][1] + "\n" + line)
                else:
                    out.append((path.name, line))
    return out


def test_runbook_promql_parses_and_uses_known_metrics(tmp_path: Path) -> None:
    queries = _runbook_queries()
    assert len(queries) >= 40
    contracts = (HERE.parents[1] / "docs" / "contracts.md").read_text()
    records = {
        r["record"]
        for f in rule_files("fast")
        for g in yaml.safe_load(f.read_text())["groups"]
        for r in g["rules"]
        if "record" in r
    }
    for where, query in queries:
        for metric in METRIC.findall(query):
            base = re.sub(r"_(bucket|count|sum)$", "", metric)
            assert base in contracts or metric in records or metric.startswith("slo:sli_error:ratio_rate"), (
                f"{where}: {metric} is not in docs/contracts.md nor a recording rule"
            )
    rules = [{"record": f"crashlab:runbook_check:{i}", "expr": q} for i, (_, q) in enumerate(queries)]
    path = tmp_path / "runbooks.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "runbooks", "rules": rules}]}))
    done = promtool("check", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
