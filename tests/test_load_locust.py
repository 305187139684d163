"""Real Locust, as a subprocess, against a tiny aiohttp /play server in the test."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from chaos.load.process import LoadProcess, LoadSettings, Stage, live_stats, outcomes
from tests.helpers_drill import TinyGame, tiny_game
from tests.support import free_port


@pytest.fixture
async def game() -> AsyncIterator[TinyGame]:
    async for state in tiny_game():
        yield state


async def test_players_play_with_ids_and_write_csv_json_outcomes(game: TinyGame, tmp_path: Path) -> None:
    settings = LoadSettings(
        users=4, spawn_rate=4, duration_s=3, think_min_s=0.01, think_max_s=0.05, players=3
    )
    load = LoadProcess(game.url, settings, tmp_path)
    await load.start()
    assert await load.wait(timeout_s=30) == 0
    assert game.plays > 20
    assert game.players <= {"player-0", "player-1", "player-2"} and game.players
    assert game.choices <= {"rock", "paper", "scissors"} and len(game.choices) >= 2
    assert (tmp_path / "stats_stats.csv").exists()
    assert (tmp_path / "stats_stats_history.csv").exists()
    report = json.loads((tmp_path / "stats.json").read_text())
    assert report
    out = outcomes(tmp_path)
    assert out["routes"]["/play"]["ok"] == out["routes"]["/play"]["attempts"] > 0
    live = live_stats(tmp_path)
    assert live is not None and live.requests > 0


async def test_players_give_up_after_client_timeout_and_retry(game: TinyGame, tmp_path: Path) -> None:
    game.delay_s = 2.0
    settings = LoadSettings(
        users=2,
        spawn_rate=2,
        duration_s=3,
        client_timeout_s=0.3,
        client_retries=2,
        think_min_s=0,
        think_max_s=0,
    )
    load = LoadProcess(game.url, settings, tmp_path)
    await load.start()
    assert await load.wait(timeout_s=30) == 0
    play = outcomes(tmp_path)["routes"]["/play"]
    assert play.get("ok", 0) == 0
    assert play["timeout"] >= 4
    # every round is 1 try + 2 retries
    assert play["retries"] >= 2 * play["rounds_gave_up"] - 2
    failures = (tmp_path / "stats_failures.csv").read_text()
    assert "timeout" in failures


async def test_http_errors_counted_by_status_and_stages_shape_users(game: TinyGame, tmp_path: Path) -> None:
    game.status = 503
    settings = LoadSettings(
        stages=(Stage(1.5, 1, 1), Stage(1.5, 3, 3)), client_retries=0, think_min_s=0.05, think_max_s=0.1
    )
    load = LoadProcess(game.url, settings, tmp_path)
    await load.start()
    assert await load.wait(timeout_s=30) == 0
    play = outcomes(tmp_path)["routes"]["/play"]
    assert play["HTTP 503"] == play["attempts"] > 0
    users = {
        line.split(",")[1]
        for line in (tmp_path / "stats_stats_history.csv").read_text().splitlines()[1:]
        if ",Aggregated," in line
    }
    assert {"1", "3"} <= users


async def test_stop_ends_a_long_run_early_and_keeps_its_stats(game: TinyGame, tmp_path: Path) -> None:
    load = LoadProcess(game.url, LoadSettings(users=2, spawn_rate=2, duration_s=120), tmp_path)
    await load.start()
    for _ in range(300):  # until Locust has counted some rounds (its start takes seconds on a busy machine)
        live = load.live()
        if live is not None and live.requests > 0:
            break
        await asyncio.sleep(0.1)
    code = await load.stop(grace_s=10)
    assert code is not None
    assert (tmp_path / "stats_stats.csv").exists()
    assert outcomes(tmp_path)["routes"]["/play"]["attempts"] > 0


async def test_players_metrics_are_served_for_prometheus_by_outcome(game: TinyGame, tmp_path: Path) -> None:
    game.status = 502
    port = free_port()
    settings = LoadSettings(
        users=2, spawn_rate=2, duration_s=4, client_retries=0, think_min_s=0.05, metrics_port=port
    )
    load = LoadProcess(game.url, settings, tmp_path)
    assert load.metrics_url == f"http://127.0.0.1:{port}"
    await load.start()
    text = ""
    for _ in range(60):
        await asyncio.sleep(0.1)
        try:
            async with aiohttp.ClientSession() as session, session.get(load.metrics_url + "/metrics") as resp:
                text = await resp.text()
        except aiohttp.ClientError:
            continue
        if 'outcome="http_5xx"' in text:
            break
    assert 'crashlab_client_requests_total{outcome="http_5xx",route="/play"}' in text
    assert 'crashlab_client_request_duration_seconds_bucket{le="0.1",route="/play"}' in text
    assert "process_resident_memory_bytes" not in text  # no process collector: guardrails sum those
    assert await load.wait(timeout_s=30) == 0
