"""A real Prometheus (exemplar storage on) scrapes the game: metrics and trace_id exemplars arrive."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import aiohttp

from tests.helpers_service import game_and_odds, play
from tests.support import free_port

PROMETHEUS = "/usr/bin/prometheus"


async def _query(s: aiohttp.ClientSession, base: str, path: str, **params: str) -> list[dict[str, object]]:
    async with s.get(f"{base}{path}", params=params) as r:
        body = await r.json()
        assert body["status"] == "success", body
        data: list[dict[str, object]] = (
            body["data"] if isinstance(body["data"], list) else body["data"]["result"]
        )
        return data


async def test_prometheus_scrapes_openmetrics_with_exemplars(tmp_path: Path) -> None:
    async with game_and_odds() as (game, _odds), aiohttp.ClientSession() as s:
        port = free_port()
        target = game.url.removeprefix("http://")
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s}\n"
            f"scrape_configs:\n  - job_name: game\n    static_configs: [{{targets: ['{target}']}}]\n"
        )
        prom = await asyncio.create_subprocess_exec(
            PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--enable-feature=exemplar-storage",
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            start = time.time()
            trace_ids = {(await play(s, game))[1]["trace_id"] for _ in range(5)}
            rounds: list[dict[str, object]] = []
            exemplars: list[dict[str, object]] = []
            for _ in range(150):
                await asyncio.sleep(0.2)
                try:
                    rounds = await _query(s, base, "/api/v1/query", query="sum(rps_rounds_total)")
                    exemplars = await _query(
                        s, base, "/api/v1/query_exemplars",
                        query='rps_http_request_duration_seconds_bucket{route="/play"}',
                        start=str(start - 60), end=str(time.time() + 60),
                    )  # fmt: skip
                except aiohttp.ClientError:
                    continue
                if rounds and exemplars:
                    break
            assert rounds and float(rounds[0]["value"][1]) == 5  # type: ignore[index]
            seen = {
                e["labels"]["trace_id"]  # type: ignore[index]
                for series in exemplars
                for e in series["exemplars"]  # type: ignore[attr-defined]
            }
            assert seen and seen <= trace_ids
        finally:
            prom.terminate()
            await asyncio.wait_for(prom.wait(), 20)
