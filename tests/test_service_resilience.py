"""Each resilience switch does what it says, against a slow, failing or hanging odds service."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp

from crashlab.waits import wait_until_async
from tests.helpers_service import game_and_odds, inject, metric, play, revert_all, running

OFF = {"fallback": {"enabled": False}}


async def test_deadline_bounds_a_stalled_call(tmp_path: Path) -> None:
    del tmp_path
    overrides = {**OFF, "deadline": {"request_ms": 400, "attempt_ms": 300}}
    async with game_and_odds("hardened", overrides) as (game, odds), aiohttp.ClientSession() as s:
        await inject(s, odds, "stall", {"ms": 3000})
        start = asyncio.get_running_loop().time()
        status, body, _ = await play(s, game)
        elapsed = asyncio.get_running_loop().time() - start
        assert (status, body["code"], body["kind"]) == (504, "TP_ODDS_TIMEOUT", "third_party")
        assert elapsed < 2.0  # not the 3 s stall
        assert await metric(s, game, "rps_dependency_requests_total", outcome="timeout") >= 1


async def test_deadline_header_reaches_odds(tmp_path: Path) -> None:
    log = tmp_path / "odds.jsonl"
    async with (
        running("odds", log_file=log) as odds,
        running("game", odds_url=odds.url) as game,
        aiohttp.ClientSession() as s,
    ):
        assert (await play(s, game))[0] == 200
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    got = [int(x["deadline_ms"]) for x in lines if x.get("route") == "/odds/{player_id}"]
    assert got and 0 < got[0] <= 800


async def test_naive_waits_as_long_as_odds_stalls() -> None:
    async with game_and_odds("naive") as (game, odds), aiohttp.ClientSession() as s:
        await inject(s, odds, "stall", {"ms": 1200})
        start = asyncio.get_running_loop().time()
        status, body, _ = await play(s, game)
        assert status == 200 and body["degraded"] is False
        assert asyncio.get_running_loop().time() - start >= 1.2


async def test_naive_retries_every_200ms_until_odds_recovers() -> None:
    async with game_and_odds("naive") as (game, odds), aiohttp.ClientSession() as s:
        await inject(s, odds, "errors", {"rate": 1, "status": 500}, ttl_s=1.1)
        status, _, _ = await play(s, game)
        assert status == 200
        retries = await metric(s, game, "rps_dependency_retries_total", operation="get_odds")
        assert 3 <= retries <= 7  # ~5 a second for 1.1 s, no backoff (a busy machine may lose one)
        # every failed call leaked its connection (no close on the error path)
        assert await metric(s, game, "rps_open_connections", dependency="odds") >= retries


async def test_hardened_retries_are_capped_and_budgeted() -> None:
    overrides = {
        **OFF,
        "circuit_breaker": {"enabled": False},
        "rate_limit": {"enabled": False},
        "retry": {"max_attempts": 3, "budget_ratio": 0.1, "budget_min_per_s": 0.1},
    }
    async with game_and_odds("hardened", overrides) as (game, odds), aiohttp.ClientSession() as s:
        await inject(s, odds, "errors", {"rate": 1, "status": 500})
        n = 40
        statuses = [(await play(s, game))[0] for _ in range(n)]
        assert set(statuses) == {502}
        retries = await metric(s, game, "rps_dependency_retries_total", operation="get_odds")
        attempts = await metric(s, game, "rps_dependency_requests_total", operation="get_odds")
        assert retries <= 2 * n  # at most max_attempts - 1 each
        assert retries <= 0.1 * n + 5 + 1  # the budget: 10 % of calls plus its initial tokens
        assert attempts == n + retries


async def test_circuit_breaker_opens_then_half_opens_and_closes() -> None:
    overrides = {
        **OFF,
        "retry": {"enabled": False, "naive_max_attempts": 1},
        "rate_limit": {"enabled": False},
        "circuit_breaker": {"failure_threshold": 3, "open_s": 0.5},
    }
    async with game_and_odds("hardened", overrides) as (game, odds), aiohttp.ClientSession() as s:
        await inject(s, odds, "errors", {"rate": 1, "status": 500})
        codes = [(await play(s, game))[1]["code"] for _ in range(6)]
        assert codes[:3] == ["TP_ODDS_UNAVAILABLE"] * 3
        assert set(codes[3:]) == {"TP_ODDS_CIRCUIT_OPEN"}
        assert await metric(s, game, "rps_circuit_state", dependency="odds") == 2
        async with s.get(f"{game.url}/readyz") as r:
            assert r.status == 503 and (await r.json())["dependencies"]["odds"]["circuit"] == "open"
        await revert_all(s, odds)

        async def half_open() -> bool:  # by the clock, after open_s
            return await metric(s, game, "rps_circuit_state", dependency="odds") == 1

        await wait_until_async(half_open, 5, "the circuit half-open after open_s")
        assert (await play(s, game))[0] == 200  # the probe succeeds
        assert await metric(s, game, "rps_circuit_state", dependency="odds") == 0


async def test_bulkhead_rejects_calls_past_its_bound() -> None:
    overrides = {**OFF, "bulkhead": {"max_concurrent": 2}, "circuit_breaker": {"enabled": False}}
    async with game_and_odds("hardened", overrides) as (game, odds), aiohttp.ClientSession() as s:
        await inject(s, odds, "hang", {"rate": 1})
        results = await asyncio.gather(*(play(s, game, player=f"p{i}") for i in range(6)))
        codes = sorted(body["code"] for _, body, _ in results)
        assert codes.count("TP_ODDS_BULKHEAD_FULL") >= 3
        assert "TP_ODDS_TIMEOUT" in codes
        assert await metric(s, game, "rps_dependency_requests_total", outcome="rejected") >= 3


async def test_pooled_client_reuses_connections() -> None:
    async with game_and_odds("hardened") as (game, odds), aiohttp.ClientSession() as s:
        for _ in range(15):
            assert (await play(s, game))[0] == 200

        async def few_connections() -> bool:
            return await metric(s, game, "rps_open_connections", dependency="odds") <= 4

        await wait_until_async(few_connections, 2, "at most 4 connections to odds")
        # odds saw few connections although 30 calls were made (15 rounds + 15 records)
        assert await metric(s, odds, "odds_open_connections") <= 5


async def test_load_shedding_answers_503_with_retry_after() -> None:
    overrides = {"load_shedding": {"max_in_flight": 2, "retry_after_s": 2}, "rate_limit": {"enabled": False}}
    async with game_and_odds("hardened", overrides) as (game, _odds), aiohttp.ClientSession() as s:
        await inject(s, game, "latency", {"ms": 400})
        results = await asyncio.gather(*(play(s, game) for _ in range(6)))
        shed = [(b, h) for status, b, h in results if status == 503]
        assert len(shed) == 4 and all(b["code"] == "SYS_OVERLOADED" for b, _ in shed)
        assert all(h["Retry-After"] == "2" for _, h in shed)
        assert await metric(s, game, "rps_shed_requests_total") == 4


async def test_rate_limit_per_player() -> None:
    overrides = {"rate_limit": {"rate_per_s": 1, "burst": 3}}
    async with game_and_odds("hardened", overrides) as (game, _odds), aiohttp.ClientSession() as s:
        statuses = [(await play(s, game, player="eve"))[0] for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        status, body, headers = await play(s, game, player="eve")
        assert (status, body["code"]) == (429, "ERR_RATE_LIMITED") and int(headers["Retry-After"]) >= 1
        assert (await play(s, game, player="mallory"))[0] == 200
        assert await metric(s, game, "rps_rate_limited_total") == 2


async def test_fallback_uses_cache_then_default_table() -> None:
    async with game_and_odds("hardened") as (game, odds), aiohttp.ClientSession() as s:
        assert (await play(s, game, player="carol"))[1]["degraded"] is False
        await inject(s, odds, "errors", {"rate": 1, "status": 500})
        status, body, _ = await play(s, game, player="carol")
        assert status == 200 and body["degraded"] is True and body["degraded_reason"].startswith("cache:")
        status, body, _ = await play(s, game, player="dave")
        assert status == 200 and body["degraded"] is True and body["degraded_reason"].startswith("default:")
        assert await metric(s, game, "rps_degraded_answers_total", reason="cache") == 1
        assert await metric(s, game, "rps_degraded_answers_total", reason="default") == 1
    async with game_and_odds("hardened", OFF) as (game, odds), aiohttp.ClientSession() as s:
        await inject(s, odds, "errors", {"rate": 1, "status": 500})
        status, body, _ = await play(s, game)
        assert (status, body["code"]) == (502, "TP_ODDS_UNAVAILABLE")


async def test_reset_connections_count_as_resets() -> None:
    overrides = {**OFF, "circuit_breaker": {"enabled": False}}
    async with game_and_odds("hardened", overrides) as (game, odds), aiohttp.ClientSession() as s:
        await inject(s, odds, "reset", {"rate": 1})
        status, body, _ = await play(s, game)
        assert (status, body["code"]) == (502, "TP_ODDS_UNAVAILABLE")
        assert await metric(s, game, "rps_dependency_requests_total", outcome="reset") >= 1


async def _abandon(game_url: str) -> None:
    async with aiohttp.ClientSession() as s:
        try:
            async with s.post(
                f"{game_url}/play",
                json={"player_choice": "rock"},
                timeout=aiohttp.ClientTimeout(total=0.3),
            ):
                pass
        except TimeoutError:
            pass


async def test_handler_cancellation_on_in_hardened_off_in_naive() -> None:
    for profile, expect_left in (("hardened", 0), ("naive", 1)):
        overrides = {"deadline": {"enabled": False}} if profile == "hardened" else None
        async with game_and_odds(profile, overrides) as (game, odds), aiohttp.ClientSession() as s:
            await inject(s, odds, "hang", {"rate": 1}, ttl_s=3)
            await _abandon(game.url)  # the player gives up after 0.3 s

            async def in_flight_left(want: int = expect_left) -> bool:
                return await metric(s, game, "rps_dependency_in_flight", dependency="odds") == want

            # hardened: the abandoned handler is cancelled with its call; naive: it keeps the call
            await wait_until_async(
                in_flight_left, 2, f"{expect_left} odds call(s) left in flight ({profile})"
            )
            await revert_all(s, odds)


async def test_an_unexpected_odds_answer_is_a_bad_response() -> None:
    # odds' /metrics answers 200 text/plain: not the JSON the game expects
    async with (
        running("odds") as odds,
        running("game", odds_url=f"{odds.url}/metrics?path=", overrides=OFF) as game,
        aiohttp.ClientSession() as s,
    ):
        status, body, _ = await play(s, game)
        assert (status, body["code"], body["kind"]) == (502, "TP_ODDS_BAD_RESPONSE", "third_party")


async def test_injected_errors_on_the_game() -> None:
    async with game_and_odds("hardened") as (game, _odds), aiohttp.ClientSession() as s:
        await inject(s, game, "errors", {"rate": 1, "status": 500})
        status, body, _ = await play(s, game)
        assert (status, body["code"], body["kind"]) == (500, "SYS_INJECTED", "system")
        assert await metric(s, game, "rps_errors_total", code="SYS_INJECTED") == 1
