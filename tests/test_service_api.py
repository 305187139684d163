"""The game's public API: answers, every business error code, health, metrics, seeded replay."""

from __future__ import annotations

import asyncio

import aiohttp

from service.rules import decide
from tests.helpers_service import game_and_odds, metric, play, running


async def test_play_answers_a_round_with_odds() -> None:
    async with game_and_odds() as (game, odds), aiohttp.ClientSession() as s:
        status, body, _ = await play(s, game, "paper", player="alice")
        assert status == 200
        assert set(body) >= {
            "player_choice",
            "computer_choice",
            "result",
            "timestamp",
            "round_id",
            "trace_id",
        }
        assert body["result"] == decide("paper", body["computer_choice"])
        assert body["degraded"] is False
        assert len(body["trace_id"]) == 32 and body["trace_id"] != "0" * 32
        assert await metric(s, game, "rps_rounds_total") == 1
        assert await metric(s, game, "rps_dependency_requests_total", operation="get_odds", outcome="ok") == 1
        # the fire-and-forget record reached odds
        for _ in range(50):
            if await metric(s, odds, "odds_http_requests_total", route="/results", status="201") == 1:
                break
            await asyncio.sleep(0.05)
        async with s.get(f"{odds.url}/odds/alice") as r:
            assert (await r.json())["rounds"] == 1


async def test_same_seed_replays_the_same_computer_choices() -> None:
    runs = []
    for _ in range(2):
        async with game_and_odds(seed=7) as (game, _odds), aiohttp.ClientSession() as s:
            runs.append([(await play(s, game))[1]["computer_choice"] for _ in range(12)])
    assert runs[0] == runs[1]
    assert len(set(runs[0])) > 1


async def _post(
    s: aiohttp.ClientSession, url: str, data: bytes, ctype: str = "application/json"
) -> tuple[int, dict[str, str]]:
    async with s.post(url, data=data, headers={"Content-Type": ctype}) as r:
        return r.status, await r.json()


async def test_bad_input_gets_4xx_with_a_code() -> None:
    async with running("game", odds_url="http://127.0.0.1:9") as game, aiohttp.ClientSession() as s:
        url = f"{game.url}/play"
        cases = [
            (b'{"player_choice": "lizard"}', "application/json", 400, "ERR_INVALID_CHOICE"),
            (b'{"player_choice": 3}', "application/json", 400, "ERR_INVALID_CHOICE"),
            (b'{"player_choice": ["rock"]}', "application/json", 400, "ERR_INVALID_CHOICE"),
            (b"{not json", "application/json", 400, "ERR_INVALID_JSON"),
            (b"\xff\xfe", "application/json", 400, "ERR_INVALID_JSON"),
            (b"{}", "application/json", 400, "ERR_INVALID_BODY"),
            (b"[1]", "application/json", 400, "ERR_INVALID_BODY"),
            (b'{"player_choice": "rock", "x": 1}', "application/json", 400, "ERR_INVALID_BODY"),
            (b'{"player_choice": "rock"}', "text/plain", 415, "ERR_UNSUPPORTED_MEDIA_TYPE"),
            (b'{"player_choice": "' + b"r" * 40000 + b'"}', "application/json", 413, "ERR_BODY_TOO_LARGE"),
        ]
        for data, ctype, status, code in cases:
            got_status, body = await _post(s, url, data, ctype)
            assert (got_status, body["code"]) == (status, code), data[:40]
            assert body["kind"] == "business"
            assert len(body["trace_id"]) == 32 and body["message"]
        async with s.get(f"{game.url}/nope") as r:
            assert r.status == 404 and (await r.json())["code"] == "ERR_NOT_FOUND"
        async with s.delete(url) as r:
            assert r.status == 405 and (await r.json())["code"] == "ERR_METHOD_NOT_ALLOWED"
        async with s.post(url, json={"player_choice": "rock"}, headers={"X-Player-Id": "x" * 65}) as r:
            assert r.status == 400 and (await r.json())["code"] == "ERR_INVALID_PLAYER"
        assert await metric(s, game, "rps_errors_total", code="ERR_INVALID_CHOICE", kind="business") == 3
        assert await metric(s, game, "rps_http_requests_total", status="500") == 0


async def test_health_readiness_metrics_and_spec() -> None:
    async with game_and_odds("naive") as (game, odds), aiohttp.ClientSession() as s:
        await play(s, game)
        async with s.get(f"{game.url}/healthz") as r:
            assert r.status == 200
        async with s.get(f"{game.url}/readyz") as r:
            body = await r.json()
            assert r.status == 200 and body["dependencies"]["odds"] == {
                "reachable": True,
                "circuit": "closed",
            }
        async with s.get(f"{game.url}/metrics", headers={"Accept": "application/openmetrics-text"}) as r:
            assert r.headers["Content-Type"].startswith("application/openmetrics-text")
            text = await r.text()
        assert '# {trace_id="' in text and text.rstrip().endswith("# EOF")
        for name in ("rps_http_requests_in_flight", "rps_circuit_state", "process_resident_memory_bytes"):
            assert name in text
        async with s.get(f"{game.url}/openapi.json") as r:
            spec = await r.json()
            assert spec["openapi"].startswith("3.") and "/play" in spec["paths"]
        async with s.get(f"{odds.url}/readyz") as r:
            assert r.status == 200
    # odds gone: the naive game is not ready
    async with running("game", "naive", odds_url="http://127.0.0.1:9") as game, aiohttp.ClientSession() as s:
        r = await s.get(f"{game.url}/readyz")
        body = await r.json()
        assert r.status == 503 and body["dependencies"]["odds"]["reachable"] is False
