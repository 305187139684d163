"""The Docker runtime's log and trace sources: Loki's ``query_range`` and Tempo's ``/api/traces/<id>``
answers (as those APIs shape them) are read into the page. Loki and Tempo images are not available on
this machine, so a small aiohttp app on 127.0.0.1 answers in their formats; Prometheus is the real one."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from crashlab.timeutil import parse_iso
from reports.writer import report_run
from tests.helpers_report import load_summary
from tests.support import free_port, wait_http
from tests.synthetic import synthesize


def _loki_answer(lines: list[dict[str, Any]]) -> dict[str, Any]:
    values = [
        [str(int(line["_ns"])), json.dumps({k: v for k, v in line.items() if k != "_ns"})] for line in lines
    ]
    return {
        "status": "success",
        "data": {
            "resultType": "streams",
            "result": [{"stream": {"service": "game", "level": "error"}, "values": values}],
        },
    }


@pytest.fixture
def fake_loki_tempo(tmp_path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    state: dict[str, Any] = {"loki": {}, "traces": {}, "asked": []}

    async def loki(request: web.Request) -> web.Response:
        state["asked"].append(request.query.get("query", ""))
        return web.json_response(state["loki"])

    async def tempo(request: web.Request) -> web.Response:
        trace = state["traces"].get(request.match_info["trace_id"])
        return web.json_response(trace) if trace else web.Response(status=404, text="trace not found")

    async def ready(request: web.Request) -> web.Response:
        return web.Response(text="ready")

    app = web.Application()
    app.router.add_get("/loki/api/v1/query_range", loki)
    app.router.add_get("/api/traces/{trace_id}", tempo)
    app.router.add_get("/ready", ready)
    port = free_port()
    runner = web.AppRunner(app)
    loop_ready = threading.Event()
    loop = asyncio.new_event_loop()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        loop_ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    loop_ready.wait(10)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/ready")
    try:
        yield url, state
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_docker_run_reads_loki_and_tempo(tmp_path: Path, fake_loki_tempo: tuple[str, dict[str, Any]]) -> None:
    url, state = fake_loki_tempo
    truth = synthesize(tmp_path, minutes=1, crashes=1)
    run = truth.run
    # what Alloy would have shipped to Loki, and what the services would have exported to Tempo
    errors = [json.loads(x) for x in (run.logs / "game.jsonl").read_text().splitlines() if '"error"' in x]
    for line in errors:
        line["_ns"] = parse_iso(line["ts"]).timestamp() * 1e9
    state["loki"] = _loki_answer(errors)
    for text in (run.traces / "game.jsonl").read_text().splitlines():
        request = json.loads(text)
        tid = request["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"]
        state["traces"][tid] = {"batches": request["resourceSpans"]}
    wanted = next(x["trace_id"] for x in errors if x.get("trace_id"))
    assert wanted in state["traces"]
    for sub in (run.logs, run.traces):
        for path in sub.iterdir():
            path.unlink()  # the docker runtime has no local files: everything must come from the APIs
    run.update_manifest(
        runtime="docker", urls={"prometheus": "http://127.0.0.1:9", "loki": url, "tempo": url}
    )
    written = report_run(run.path)
    s = load_summary(run.path)
    sources = {src["name"]: src for src in s["sources"]}
    assert sources["logs"]["ok"] and f"loki {url}" in sources["logs"]["detail"], sources
    assert {g["code"]: g["count"] for g in s["log_groups"]} == truth.log_errors_by_code
    assert '{service=~".+"}' in state["asked"][0]
    html = written.html.read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(" in html
    assert sources["traces"]["ok"] and f"tempo {url}" in sources["traces"]["detail"], sources
    assert wanted in s["traces_shown"]
    assert f'id="trace-{wanted}"' in html
