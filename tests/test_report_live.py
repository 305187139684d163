"""The reporter on a real run: the local stack (real game, odds and Prometheus), real traffic, a real
fault through the admin API, real Locust; the stack is stopped before the report, so Prometheus is
replayed from the run's own TSDB. Figures are checked against what the clients counted."""

from __future__ import annotations

import json
import shutil
import urllib.parse
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from crashlab.journal import Journal
from crashlab.rundir import RunDir
from crashlab.timeutil import iso, utcnow
from crashlab.waits import wait_until
from reports.build import build_report, summary
from reports.writer import report_run
from stack.local import LocalStack, up
from stack.runtime import StackConfig
from tests.helpers_report import (
    admin,
    journal_crashes,
    load_summary,
    locust_counts,
    play,
    play_lines,
    run_locust,
    wait_restarted,
)

SCENARIO = """\
name: live-half-errors
description: half of the rounds fail for a while
report:
  slo: {availability: 0.99, latency_ms: 500, latency_target: 0.95}
expectations:
  crashes: 0
  availability_min: 0.99
"""


def _plays(text: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "rps_http_requests_total" and sample.labels.get("route") == "/play"
    )


def scraped_all_plays(stack: LocalStack) -> bool:
    """Prometheus' latest scrape of the game has every /play the game has counted so far."""
    with urllib.request.urlopen(stack.urls["game"] + "/metrics", timeout=5) as resp:
        served = _plays(resp.read().decode())
    query = urllib.parse.urlencode({"query": 'sum(rps_http_requests_total{job="game",route="/play"})'})
    with urllib.request.urlopen(f"{stack.urls['prometheus']}/api/v1/query?{query}", timeout=5) as resp:
        result = json.loads(resp.read())["data"]["result"]
    return bool(result) and float(result[0]["value"][1]) == served


def test_report_on_a_real_run(tmp_path: Path) -> None:
    run = RunDir.create("live-half-errors", tmp_path / "runs")
    (run.path / "scenario.yaml").write_text(SCENARIO, encoding="utf-8")
    journal = Journal(run.journal_path, "runner")
    stack = up(StackConfig(run_dir=run, profile="naive"), state_file=tmp_path / "stack.json")
    try:
        # Prometheus applies new targets every 5 s: a fault before the first scrape would go unseen
        stack.wait_scraped()
        start = utcnow()
        journal.write("run", "started", scenario="live-half-errors", run_id=run.run_id)
        game = stack.urls["game"]
        before = play(game, 30)
        fault = admin(
            game,
            stack.admin_token,
            "POST",
            "/admin/faults",
            {"type": "errors", "params": {"rate": 0.5}, "ttl_s": 60, "name": "half-errors"},
        )
        journal.write(
            "fault",
            "injected",
            fault="half-errors",
            fault_type="errors",
            target="game",
            params={"rate": 0.5},
            ttl_s=60,
            handle={"id": fault["id"]},
        )
        during = play(game, 60)
        run_locust(game, run.locust, seconds=4)
        admin(game, stack.admin_token, "DELETE", f"/admin/faults/{fault['id']}")
        journal.write("fault", "reverted", fault="half-errors", fault_type="errors", target="game")
        after = play(game, 30)
        wait_until(lambda: scraped_all_plays(stack), 15, "the plays scraped before the crash", every_s=0.2)
        admin(
            game,
            stack.admin_token,
            "POST",
            "/admin/faults",
            {"type": "exception", "params": {"rate": 1, "where": "background"}, "ttl_s": 60, "name": "panic"},
        )
        journal.write("fault", "injected", fault="panic", fault_type="exception", target="game", ttl_s=60)
        crashing = play(game, 1, tolerate_errors=True)  # the naive game dies of it (exit 2, a panic)
        wait_restarted(stack, "game")
        journal.write("fault", "expired", fault="panic", fault_type="exception", target="game")
        restarted = play(game, 20)
        wait_until(lambda: scraped_all_plays(stack), 15, "the last plays scraped", every_s=0.2)
        journal.write("run", "ended", scenario="live-half-errors", run_id=run.run_id)
        run.update_manifest(start=iso(start), end=iso(utcnow()), scenario="live-half-errors")
        live = summary(build_report(run.path))  # from the live Prometheus, while the stack is up
    finally:
        stack.down()
    written = report_run(run.path)
    s = load_summary(run.path)
    ours = [before, during, after, crashing, restarted]
    client_requests, client_failures = locust_counts(run.path)
    assert client_requests > 0 and client_failures > 0
    served = play_lines(run.path / "logs" / "game.jsonl")  # the game's own access log, counted here
    # only the round that crashed the game may be missing (it died before its next scrape)
    assert len(served) - 1 <= s["requests_total"] <= len(served)
    assert s["crashes"] == journal_crashes(run.path) == 1
    assert s["crash_reasons"] == {"panic": 1} and s["restarts"] == 1 and s["panics"] >= 1
    live_prom = next(src for src in live["sources"] if src["name"] == "prometheus")
    assert "live at" in live_prom["detail"] and live["exemplars"] > 0
    for key in ("requests_total", "requests_failed", "status_counts", "rounds", "crashes"):
        assert live[key] == s[key], key  # the replay of the run's TSDB gives the same figures
    assert s["requests_failed"] == sum(1 for status in served if status >= 500)
    # Locust leaves out the rounds still in flight when it stops, so the server saw at least this many,
    # but for the round that crashed the game (counted, then lost with the process before its next scrape)
    lost = len(served) - s["requests_total"]
    assert s["requests_total"] >= sum(sum(c.values()) for c in ours) + client_requests - lost
    assert before.get(500, 0) == 0 and after.get(500, 0) == 0 and during.get(500, 0) > 0
    assert (s["client_requests"], s["client_failures"]) == (client_requests, client_failures)
    sources = {src["name"]: src for src in s["sources"]}
    assert sources["prometheus"]["ok"] and "replayed" in sources["prometheus"]["detail"], sources
    assert sources["logs"]["ok"] and sources["traces"]["ok"], sources
    assert [f["name"] for f in s["faults"]] == ["half-errors", "panic"]
    assert s["chain"][0]["sli"] == "availability"
    assert s["verdict"] == "failed"
    # every failed round logged an error line, and so did the panic
    assert s["error_log_lines"] >= s["requests_failed"] + 1
    assert sum(g["count"] for g in s["log_groups"]) == s["error_log_lines"]
    assert s["rounds"] == s["status_counts"]["200"] == s["requests_total"] - s["requests_failed"]
    assert s["verdict"] == "failed" and {e["name"]: e["met"] for e in s["expectations"]}["crashes"] is False
    assert written.html.stat().st_size < 2_000_000
    shutil.rmtree(run.prometheus / "data")  # the page still renders, and says why Prometheus is missing
    report_run(run.path)
    s = load_summary(run.path)
    prom = next(src for src in s["sources"] if src["name"] == "prometheus")
    assert not prom["ok"] and "no TSDB" in prom["why"]
