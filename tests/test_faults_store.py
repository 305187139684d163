"""The services' fault store (``service/faults.py``) behind a real admin API on loopback: faults of the
same type combine, a delay never outlives its fault, a refused request changes nothing, types are
strict JSON, and a service holds at most ``MAX_ACTIVE_FAULTS`` faults."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable
from typing import Any

import aiohttp
import pytest

from crashlab.faultkinds import MAX_ACTIVE_FAULTS
from tests.helpers_service import AUTH, JSON, Running, game_and_odds, inject, running


async def timed(request: Awaitable[int]) -> tuple[int, float]:
    start = time.monotonic()
    status = await request
    return status, time.monotonic() - start


async def get_odds(session: aiohttp.ClientSession, odds: Running) -> int:
    async with session.get(f"{odds.url}/odds/p1") as resp:
        await resp.read()
        return resp.status


async def post_play(session: aiohttp.ClientSession, game: Running) -> int:
    async with session.post(f"{game.url}/play", json={"player_choice": "rock"}, headers=JSON) as resp:
        await resp.read()
        return resp.status


async def faults(session: aiohttp.ClientSession, target: Running) -> list[dict[str, Any]]:
    async with session.get(f"{target.url}/admin/faults", headers=AUTH) as resp:
        assert resp.status == 200
        listed: list[dict[str, Any]] = (await resp.json())["faults"]
        return listed


async def in_flight(session: aiohttp.ClientSession, target: Running, prefix: str) -> float:
    async with session.get(f"{target.url}/metrics") as resp:
        text = await resp.text()
    for line in text.splitlines():
        if line.startswith(f"{prefix}_http_requests_in_flight "):
            return float(line.split()[1])
    return 0.0


async def until_held(session: aiohttp.ClientSession, target: Running, prefix: str, held: int) -> None:
    """Until ``held`` requests besides this /metrics one are in flight (the ones a fault holds)."""
    deadline = time.monotonic() + 10
    while await in_flight(session, target, prefix) < held + 1:
        assert time.monotonic() < deadline, "the requests never arrived"
        await asyncio.sleep(0.02)


# --- 11.8: a second fault of the same type takes effect --------------------------------------------------


async def test_a_latency_spike_on_top_of_a_baseline_adds_up_and_its_revert_takes_it_away() -> None:
    async with running("odds") as odds, aiohttp.ClientSession() as s:
        await inject(s, odds, "latency", {"ms": 120}, ttl_s=60)
        _, baseline = await timed(get_odds(s, odds))
        spike = await inject(s, odds, "latency", {"ms": 2000}, ttl_s=60)
        status, spiked = await timed(get_odds(s, odds))
        assert status == 200
        assert 2.0 <= spiked < 3.0, f"baseline {baseline:.3f}s, with the spike {spiked:.3f}s"
        async with s.delete(f"{odds.url}/admin/faults/{spike['id']}", headers=AUTH) as r:
            assert r.status == 200
        _, after = await timed(get_odds(s, odds))
        assert 0.1 <= after < 1.0, after


async def test_errors_of_the_same_type_the_newest_that_hits_answers() -> None:
    async with running("odds") as odds, aiohttp.ClientSession() as s:
        await inject(s, odds, "errors", {"status": 503})
        newest = await inject(s, odds, "errors", {"status": 502, "code": "TP_ODDS_UNAVAILABLE"})
        assert await get_odds(s, odds) == 502
        async with s.delete(f"{odds.url}/admin/faults/{newest['id']}", headers=AUTH) as r:
            assert r.status == 200
        assert await get_odds(s, odds) == 503
        # a newer fault that does not hit (rate 0) leaves the older one in charge
        await inject(s, odds, "errors", {"status": 504, "rate": 0})
        assert await get_odds(s, odds) == 503


# --- 11.9: a held request is released when its fault ends ----------------------------------------------


@pytest.mark.parametrize("fault_type", ["stall", "latency"])
@pytest.mark.parametrize("ending", ["deleted", "expired"])
async def test_a_request_held_by_a_20s_odds_delay_is_released_when_the_fault_ends(
    fault_type: str, ending: str
) -> None:
    ttl_s = 1.5 if ending == "expired" else 60
    async with running("odds") as odds, aiohttp.ClientSession() as s:
        fault = await inject(s, odds, fault_type, {"ms": 20_000}, ttl_s=ttl_s)
        ends_at = time.monotonic() + ttl_s
        request = asyncio.create_task(timed(get_odds(s, odds)))
        await until_held(s, odds, "odds", 1)
        if ending == "deleted":
            async with s.delete(f"{odds.url}/admin/faults/{fault['id']}", headers=AUTH) as r:
                assert r.status == 200
            ends_at = time.monotonic()
        status, _ = await asyncio.wait_for(request, timeout=19)
        released = time.monotonic() - ends_at
        assert status == 200
        assert released < 1.0, f"held {released:.2f}s after the fault {ending}"


async def test_a_play_held_by_a_20s_game_latency_is_released_when_the_fault_is_deleted() -> None:
    async with game_and_odds() as (game, _odds), aiohttp.ClientSession() as s:
        fault = await inject(s, game, "latency", {"ms": 20_000}, ttl_s=60)
        request = asyncio.create_task(timed(post_play(s, game)))
        await until_held(s, game, "rps", 1)
        async with s.delete(f"{game.url}/admin/faults/{fault['id']}", headers=AUTH) as r:
            assert r.status == 200
        deleted = time.monotonic()
        status, _ = await asyncio.wait_for(request, timeout=19)
        assert status == 200
        assert time.monotonic() - deleted < 1.0


async def test_loop_block_never_outlives_its_ttl() -> None:
    async with running("odds") as odds, aiohttp.ClientSession() as s:
        # the service shares this test's event loop: a block holds the test too
        await inject(s, odds, "loop_block", {"block_ms": 20_000, "every_ms": 10}, ttl_s=1)
        injected = time.monotonic()
        await asyncio.sleep(0.1)  # returns only after the first block
        blocked = time.monotonic() - injected
        assert 0.8 <= blocked < 2.0, f"the loop was blocked {blocked:.2f}s by a fault with a 1 s TTL"
        assert await faults(s, odds) == []
        start = time.monotonic()
        await asyncio.sleep(0.2)
        assert time.monotonic() - start < 0.5, "the loop is free once the fault expired"


# --- 11.10: a refused PUT changes nothing -----------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"params": [1]},
        {"params": "ms=50"},
        {"params": {"ms": 50}, "ttl_s": -1},
        {"params": {"ms": 50}, "ttl_s": "30"},
        {"params": {"ms": "50"}, "ttl_s": 30},
        {"params": {"ms": 50, "bogus": 1}, "ttl_s": 30},
        {"params": {"ms": 50}, "ttl_s": 30, "name": 7},
        {"params": {"ms": 50}, "colour": "red"},
        [1],
    ],
    ids=repr,
)
async def test_a_refused_put_is_a_400_and_changes_nothing(body: Any) -> None:
    async with running("odds") as odds, aiohttp.ClientSession() as s:
        fault = await inject(s, odds, "latency", {"ms": 10}, ttl_s=60)
        async with s.put(f"{odds.url}/admin/faults/{fault['id']}", json=body, headers=AUTH) as r:
            answer = await r.json()
            assert r.status == 400 and answer["code"] == "ERR_INVALID_FAULT", answer
        assert await faults(s, odds) == [fault]


async def test_a_put_applies_params_ttl_and_name_together() -> None:
    async with running("odds") as odds, aiohttp.ClientSession() as s:
        fault = await inject(s, odds, "latency", {"ms": 10, "jitter_ms": 5}, ttl_s=60)
        body = {"params": {"ms": 50}, "ttl_s": 120, "name": "slower"}
        async with s.put(f"{odds.url}/admin/faults/{fault['id']}", json=body, headers=AUTH) as r:
            assert r.status == 200
            updated = await r.json()
        assert updated["params"] == {**fault["params"], "ms": 50, "jitter_ms": 5}
        assert (updated["ttl_s"], updated["name"]) == (120, "slower")
        assert updated["expires_at"] > fault["expires_at"]
        assert await faults(s, odds) == [updated]


# --- 11.13: the admin API takes JSON types as documented ---------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"type": "latency", "params": {"ms": "10"}, "ttl_s": 5},
        {"type": "errors", "params": {"rate": True}, "ttl_s": 5},
        {"type": "errors", "params": {"status": 503.0}, "ttl_s": 5},
        {"type": "latency", "params": {"ms": 10}, "ttl_s": "5"},
        {"type": "latency", "params": {"ms": 10}, "ttl_s": True},
        {"type": "latency", "params": {"ms": 10}, "ttl_s": 5, "name": 7},
        {"type": ["latency"], "params": {"ms": 10}, "ttl_s": 5},
        {"type": "latency", "params": [10], "ttl_s": 5},
    ],
    ids=repr,
)
async def test_the_admin_api_does_not_coerce_types(body: dict[str, Any]) -> None:
    async with running("odds") as odds, aiohttp.ClientSession() as s:
        async with s.post(f"{odds.url}/admin/faults", json=body, headers=AUTH) as r:
            answer = await r.json()
            assert r.status == 400 and answer["code"] == "ERR_INVALID_FAULT", answer
        assert await faults(s, odds) == []


# --- 11.15: a cap on active faults ------------------------------------------------------------------------


async def test_a_service_holds_at_most_max_active_faults() -> None:
    async with running("odds") as odds, aiohttp.ClientSession() as s:
        held = [await inject(s, odds, "reset", {"rate": 0}) for _ in range(MAX_ACTIVE_FAULTS)]
        body = {"type": "hang", "params": {"rate": 0}, "ttl_s": 5}
        async with s.post(f"{odds.url}/admin/faults", json=body, headers=AUTH) as r:
            answer = await r.json()
            assert r.status == 409 and answer["code"] == "ERR_TOO_MANY_FAULTS", answer
            assert str(MAX_ACTIVE_FAULTS) in answer["message"]
        assert [f["id"] for f in await faults(s, odds)] == [f["id"] for f in held]
        async with s.delete(f"{odds.url}/admin/faults/{held[0]['id']}", headers=AUTH) as r:
            assert r.status == 200
        await inject(s, odds, "hang", {"rate": 0})


async def burning_threads(count: int) -> None:
    """Until exactly ``count`` cpu_burn threads run in this process (the service runs in-process)."""
    deadline = time.monotonic() + 5
    while sum(t.name == "cpu_burn" and t.is_alive() for t in threading.enumerate()) != count:
        assert time.monotonic() < deadline, f"never {count} cpu_burn threads"
        await asyncio.sleep(0.02)


async def test_a_put_of_cpu_burn_threads_changes_the_burning_threads() -> None:
    async with running("odds") as odds, aiohttp.ClientSession() as s:
        fault = await inject(s, odds, "cpu_burn", {"percent": 1, "threads": 1})
        await burning_threads(1)
        body = {"params": {"threads": 3}}
        async with s.put(f"{odds.url}/admin/faults/{fault['id']}", json=body, headers=AUTH) as r:
            assert r.status == 200
        await burning_threads(3)
        async with s.delete(f"{odds.url}/admin/faults/{fault['id']}", headers=AUTH) as r:
            assert r.status == 200
        await burning_threads(0)
