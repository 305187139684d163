"""The incident's reference time and the players' view: a baseline fault that moves nothing does not start
the incident; the load generator's counters, when recorded, are the availability SLI."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from chaos.runner.cli import write_report
from reports.writer import report_run
from tests.helpers_report import load_summary
from tests.synthetic import ALERT, synthesize


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def test_baseline_fault_is_not_the_incident_start_and_players_view_is_the_sli(tmp_path: Path) -> None:
    truth = synthesize(tmp_path, minutes=2, crashes=2, baseline=True, players=True)
    written = report_run(truth.run.path)
    s = load_summary(truth.run.path)
    times = s["times"]
    # the baseline fault came first but moved nothing; the stall started the incident
    assert [f["name"] for f in s["faults"]] == ["odds-baseline", "odds-stall"]
    assert s["chain"][0]["sli"] is None and s["chain"][1]["sli"] is not None
    assert "crashes" in s["chain"][1]["slis"]  # the stall moved more than one SLI
    assert _ts(times["fault_start"]) == pytest.approx(truth.start.timestamp() + 0.5, abs=0.01)
    assert times["incident_start_by"] == "odds-stall"
    assert _ts(times["incident_start"]) == pytest.approx(truth.fault_start.timestamp(), abs=0.01)
    assert times["first_alert_name"] == ALERT and times["first_alert_severity"] == "page"
    assert s["ttd_s"] == pytest.approx(12.0, abs=1.0)
    assert s["ttr_s"] is not None and s["ttr_s"] < truth.end.timestamp() - truth.fault_start.timestamp()
    # the players' counters exist: they are the SLI, the server's view stays alongside
    assert s["availability_source"] == "players" and s["budget_source"] == "players"
    assert s["players_requests"] == truth.players_requests
    assert s["players_failed"] == truth.players_failed
    assert s["availability"] == pytest.approx(1 - truth.players_failed / truth.players_requests)
    assert s["availability_server"] == pytest.approx(1 - truth.requests_failed / truth.requests_total)
    assert s["availability"] < s["availability_server"]
    assert s["budget_burned_ratio"] == pytest.approx(truth.players_failed / (0.01 * truth.players_requests))
    assert s["budget_burned_ratio_server"] == pytest.approx(
        truth.requests_failed / (0.01 * truth.requests_total)
    )
    html = written.html.read_text(encoding="utf-8")
    assert "as players saw it" in html and "server (its own counters)" in html
    assert "incident start" in html and "odds-stall" in html


def test_without_players_counters_the_server_view_is_the_sli(tmp_path: Path) -> None:
    truth = synthesize(tmp_path, minutes=1, crashes=1)
    report_run(truth.run.path)
    s = load_summary(truth.run.path)
    assert s["availability_source"] == "server" and s["players_requests"] is None
    assert s["availability"] == s["availability_server"]
    assert s["budget_burned_ratio"] == s["budget_burned_ratio_server"]
    # a single fault that moved the SLI: it is the incident start
    assert s["times"]["incident_start"] == s["times"]["fault_start"]
    assert s["times"]["incident_start_by"] == "odds-stall"


def test_drill_report_prints_five_lines_then_the_page(tmp_path: Path) -> None:
    truth = synthesize(tmp_path, minutes=1, crashes=1, baseline=True, players=True)
    lines = write_report(truth.run.path)
    assert lines[-1] == str(truth.run.path / "report" / "index.html")
    assert Path(lines[-1]).is_file()
    crashes, ttd, availability, budget, verdict = lines[-6:-1]
    s = load_summary(truth.run.path)
    assert crashes == "crashes: 1 (panic 1)"
    assert ttd == f"TTD: {s['ttd_s']:.1f} s (odds-stall -> {ALERT})"
    assert availability == (
        f"availability: {s['availability'] * 100:.1f}% as players saw it "
        f"(server counted {s['availability_server'] * 100:.1f}%; SLO 99%)"
    )
    assert budget == f"budget burned: {s['budget_burned_ratio']:.1f}x the error budget of the window"
    assert verdict == f"verdict: {s['verdict']}"
