"""An alert of stack/prometheus/rules really fires in the running Prometheus when the game is made to
fail through its fault API, within the drill windows; the supervisor journals it; and as a page it
travels Prometheus -> the stack's Alertmanager -> the pager's webhook, then resolves there."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from aiohttp import web

from crashlab.waits import wait_until, wait_until_async
from stack.local import LocalStack, up
from stack.prometheus.config import RUNBOOKS_DIR
from tests.helpers_stack import (
    events,
    firing_alerts,
    http,
    inject,
    play,
    stack_config,
    stack_dirs,
)

__all__ = ["stack_dirs"]

Received = list[tuple[float, dict[str, Any]]]


@pytest.fixture
async def pager() -> AsyncIterator[tuple[str, Received]]:
    """A pager webhook on loopback (what the game-day console's pager offers): its URL and what it got."""
    received: Received = []

    async def receive(request: web.Request) -> web.Response:
        received.append((time.time(), await request.json()))
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/pager", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}/pager", received
    await runner.cleanup()


def _notification(received: Received, status: str) -> dict[str, Any] | None:
    for at, body in received:
        if body["status"] == status and {a["labels"]["alertname"] for a in body["alerts"]} == {
            "ErrorBudgetBurnPage"
        }:
            return {"at": at, **body}
    return None


async def test_error_budget_page_fires_and_reaches_the_pager(
    stack_dirs: Path, pager: tuple[str, Received]
) -> None:
    pager_url, received = pager
    stack: LocalStack = await asyncio.to_thread(up, stack_config(stack_dirs, pager_url=pager_url))
    try:
        await _page_round_trip(stack, pager_url, received)
    finally:
        await asyncio.to_thread(stack.down)


async def _page_round_trip(stack: LocalStack, pager_url: str, received: Received) -> None:
    prom, am = stack.urls["prometheus"], stack.alertmanager_url()
    am_config = await asyncio.to_thread((stack.run_dir.path / "alertmanager" / "alertmanager.yml").read_text)
    assert pager_url in am_config
    active = await asyncio.to_thread(http, "GET", prom + "/api/v1/alertmanagers")
    assert [a["url"] for a in active["data"]["activeAlertmanagers"]] == [am + "/api/v2/alerts"]
    assert await asyncio.to_thread(play, stack) == 200
    assert await asyncio.to_thread(firing_alerts, stack) == []
    fault = await asyncio.to_thread(
        inject, stack, "game", {"type": "errors", "params": {"rate": 1.0, "status": 500}, "ttl_s": 60}
    )
    broke_at = time.monotonic()
    statuses: list[int] = []

    async def play_then(status: str) -> dict[str, Any] | None:
        # ~15 requests a second, under the hardened rate limit (20/s): 429s would count as good answers
        for _ in range(8):
            statuses.append(await asyncio.to_thread(play, stack))
            await asyncio.sleep(0.06)
        return _notification(received, status)

    firing = await wait_until_async(lambda: play_then("firing"), 60, "the page at the pager webhook")
    took = time.monotonic() - broke_at
    assert set(statuses) == {500}

    # Prometheus fired it, the supervisor journaled it
    alerts = await asyncio.to_thread(firing_alerts, stack)
    (fired,) = [a for a in alerts if a["labels"]["alertname"] == "ErrorBudgetBurnPage"]
    assert fired["labels"]["severity"] == "page" and fired["labels"]["sloth_slo"] == "availability"
    journaled = await asyncio.to_thread(
        wait_until,
        lambda: events(stack, "alert", "firing", alert="ErrorBudgetBurnPage"),
        10,
        "the alert in the journal",
    )
    assert journaled[0].get("severity") == "page" and journaled[0].source == "supervisor"

    # Alertmanager routed it to the pager, grouped by alert name and SLO, with its links
    assert firing["receiver"] == "pager"
    assert firing["groupLabels"] == {"alertname": "ErrorBudgetBurnPage", "slo": "availability"}
    assert firing["externalURL"] == am
    (alert,) = firing["alerts"]
    labels, annotations = alert["labels"], alert["annotations"]
    assert labels["severity"] == "page" and labels["slo"] == "availability"
    assert not set(labels) & {"crashlab_runbooks", "crashlab_grafana"}
    runbook = (RUNBOOKS_DIR / "ErrorBudgetBurnPage.md").as_uri()
    assert annotations["runbook_url"] == runbook
    assert await asyncio.to_thread(Path(urlsplit(runbook).path).is_file)
    graph = urlsplit(annotations["graph_url"])  # this stack's Prometheus, an expression it evaluates
    assert f"{graph.scheme}://{graph.netloc}" == prom and graph.path == "/graph"
    expr = parse_qs(graph.query)["g0.expr"][0]
    result = await asyncio.to_thread(http, "GET", prom + "/api/v1/query?" + urlencode({"query": expr}))
    assert result["status"] == "success" and result["data"]["result"], expr
    assert alert["generatorURL"].startswith(prom + "/graph?g0.expr=")
    fired_at = datetime.fromisoformat(alert["startsAt"].replace("Z", "+00:00")).timestamp()
    latency = firing["at"] - fired_at
    assert latency >= 0
    print(
        f"ErrorBudgetBurnPage fired {took:.1f} s after the game started failing; "
        f"the pager's webhook got it {latency:.2f} s after Prometheus fired it"
    )

    # the game recovers: the pager gets the resolution; tickets never reach it
    game_fault = f"{stack.urls['game']}/admin/faults/{fault['id']}"
    await asyncio.to_thread(http, "DELETE", game_fault, None, stack.admin_token)
    await wait_until_async(lambda: play_then("resolved"), 90, "the page's resolution at the webhook")
    assert {body["receiver"] for _, body in received} == {"pager"}
