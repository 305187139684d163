"""The reporter on synthetic runs: telemetry in a real Prometheus TSDB (promtool), replayed by a real
Prometheus; figures checked against independent counts (the generator's truth, Locust's CSV, the journal)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from crashlab.cli import cli
from reports.writer import report_run
from tests.helpers_report import journal_crashes, load_summary, locust_counts
from tests.synthetic import ALERT, SCRIPT_LINE, synthesize


def test_figures_match_independent_counts(tmp_path: Path) -> None:
    truth = synthesize(tmp_path, minutes=2, crashes=2)
    written = report_run(truth.run.path)
    s = load_summary(truth.run.path)
    assert s["requests_total"] == truth.requests_total
    assert s["requests_failed"] == truth.requests_failed
    assert s["availability_server"] == pytest.approx(1 - truth.requests_failed / truth.requests_total)
    client_requests, client_failures = locust_counts(truth.run.path)
    assert (s["client_requests"], s["client_failures"]) == (client_requests, client_failures)
    assert s["crashes"] == journal_crashes(truth.run.path) == 2
    assert s["crash_reasons"] == {"panic": 2}
    assert s["restarts"] == 2
    assert s["degraded"] == truth.degraded
    assert list(s["alerts_fired"]) == [ALERT]
    assert s["ttd_s"] == pytest.approx(12.0, abs=1.0)
    assert s["budget_burned_ratio"] == pytest.approx(truth.requests_failed / (0.01 * truth.requests_total))
    assert s["mechanisms"]["retry_amplification"]["detected"] is True
    assert s["mechanisms"]["retry_amplification"]["value"] == pytest.approx(5.0, rel=0.05)
    assert s["p99_s"] > 2.0 > s["p50_s"] - 1.0
    assert s["chain"][0]["alert"] == ALERT and s["chain"][0]["sli"] is not None
    assert {e["name"]: e["met"] for e in s["expectations"]}["availability (server) at least"] is False
    assert s["verdict"] == "failed"
    assert {g["code"]: g["count"] for g in s["log_groups"]} == truth.log_errors_by_code
    sources = {src["name"]: src for src in s["sources"]}
    assert all(src["ok"] for src in sources.values()), sources
    assert "replayed" in sources["prometheus"]["detail"]
    html = written.html.read_text(encoding="utf-8")
    assert 'id="summary"' in html and "Missing data" not in html
    assert written.html.stat().st_size < 2_000_000
    assert "DRAFT" in html and "TTD" in html
    assert any(tid in html for tid in truth.trace_ids)
    anchors = set(re.findall(r'href="#trace-([0-9a-f]+)"', html))
    assert anchors and all(f'id="trace-{tid}"' in html for tid in anchors)  # no dangling trace link
    md = written.markdown.read_text(encoding="utf-8")
    assert "## Summary" in md and f"| {truth.requests_failed:,} | of {truth.requests_total:,}" in md


def test_log_text_is_escaped(tmp_path: Path) -> None:
    truth = synthesize(tmp_path, minutes=1, crashes=1)
    written = report_run(truth.run.path)
    html = written.html.read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(" in html
    assert SCRIPT_LINE not in html
    assert html.count("<script>") == 1  # the page's own tooltip script only
    assert "<script>" not in written.markdown.read_text(encoding="utf-8")


def test_prometheus_down_still_yields_a_page(tmp_path: Path) -> None:
    truth = synthesize(tmp_path, minutes=1, crashes=1, with_prometheus=False)
    written = report_run(truth.run.path)
    s = load_summary(truth.run.path)
    prom = next(src for src in s["sources"] if src["name"] == "prometheus")
    assert prom["ok"] is False and "127.0.0.1:9" in prom["why"] and "no TSDB" in prom["why"]
    assert s["requests_total"] is None and s["crashes"] == 1
    assert s["client_failures"] == truth.client_failures
    html = written.html.read_text(encoding="utf-8")
    assert 'id="missing-data"' in html and "prometheus" in html.split('id="missing-data"')[1][:2000]


def test_broken_sources_are_listed(tmp_path: Path) -> None:
    truth = synthesize(tmp_path, minutes=1, crashes=0)
    for path in (truth.run.locust).iterdir():
        path.write_text("garbage\n", encoding="utf-8")
    (truth.run.path / "scenario.yaml").write_text("name: [unclosed\n", encoding="utf-8")
    for path in truth.run.traces.iterdir():
        path.unlink()
    report_run(truth.run.path)
    s = load_summary(truth.run.path)
    bad = {src["name"]: src["why"] for src in s["sources"] if not src["ok"]}
    assert set(bad) == {"locust", "scenario", "traces"}
    assert "Aggregated" in bad["locust"] and "not valid YAML" in bad["scenario"]
    assert s["requests_total"] == truth.requests_total


def test_cli_report_compare_runs(tmp_path: Path) -> None:
    a = synthesize(tmp_path, minutes=1, crashes=1, seed=1)
    b = synthesize(tmp_path, minutes=1, crashes=0, seed=2)
    runner = CliRunner()
    result = runner.invoke(cli, ["report", "--runs-dir", str(tmp_path), a.run.run_id])
    assert result.exit_code == 0, result.output
    assert "verdict failed" in result.output and str(a.run.path / "report" / "index.html") in result.output
    assert f'href="{a.run.run_id}/report/index.html"' in (tmp_path / "index.html").read_text(encoding="utf-8")
    out = tmp_path / "cmp.html"
    result = runner.invoke(
        cli, ["compare", "--runs-dir", str(tmp_path), a.run.run_id, b.run.run_id, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert 'id="figures-table"' in page and "crashes" in page and ALERT in page
    assert page.count("<svg") == 6
    result = runner.invoke(cli, ["runs", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert f'href="{a.run.run_id}/report/index.html"' in index
    assert f'href="{b.run.run_id}/report/index.html"' not in index  # b has no report yet
    result = runner.invoke(cli, ["report", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "no such run directory" in result.output
    assert json.loads((a.run.path / "report" / "summary.json").read_text())["crashes"] == 1


def test_docker_runs_link_to_grafana_explore_on_the_exact_range(tmp_path: Path) -> None:
    truth = synthesize(tmp_path, minutes=1, crashes=1)
    truth.run.update_manifest(
        runtime="docker", urls={"prometheus": "http://127.0.0.1:9", "grafana": "http://127.0.0.1:3000"}
    )
    html = report_run(truth.run.path).html.read_text(encoding="utf-8")
    frm, to = int(truth.start.timestamp() * 1000), int(truth.end.timestamp() * 1000)
    assert 'href="http://127.0.0.1:3000/explore?orgId=1&amp;left=' in html
    assert f"%22from%22%3A%22{frm}%22%2C%22to%22%3A%22{to}%22" in html
    assert "crashlab_fault_active" in html
