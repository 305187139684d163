"""The admin API: token enforced, faults listed, injected with a TTL, updated, reverted, expired."""

from __future__ import annotations

import asyncio

import aiohttp

from crashlab.waits import wait_until_async
from tests.helpers_service import AUTH, Running, game_and_odds, inject, metric, play, running


async def fault_ids(s: aiohttp.ClientSession, target: Running) -> list[str]:
    async with s.get(f"{target.url}/admin/faults", headers=AUTH) as r:
        return [f["id"] for f in (await r.json())["faults"]]


async def test_admin_needs_the_token() -> None:
    async with running("odds") as odds, aiohttp.ClientSession() as s:
        url = f"{odds.url}/admin/faults"
        body = {"type": "errors", "params": {"rate": 1}, "ttl_s": 5}
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "test-token"}):
            async with s.post(url, json=body, headers=headers) as r:
                assert r.status == 401 and (await r.json())["code"] == "ERR_UNAUTHORIZED"
            async with s.delete(url, headers=headers) as r:
                assert r.status == 401
        async with s.get(url, headers=AUTH) as r:
            assert (await r.json()) == {"faults": []}
    async with running("odds", token=None) as odds, aiohttp.ClientSession() as s:
        r = await s.get(f"{odds.url}/admin/faults", headers={"Authorization": "Bearer "})
        r.release()
        assert r.status == 401


async def test_fault_lifecycle_and_ttl_expiry() -> None:
    async with running("odds") as odds, aiohttp.ClientSession() as s:
        url = f"{odds.url}/admin/faults"
        first = await inject(s, odds, "latency", {"ms": 10}, ttl_s=60)
        short = await inject(s, odds, "errors", {"rate": 1, "status": 503}, ttl_s=0.4)
        assert set(first) == {"id", "type", "name", "params", "ttl_s", "started_at", "expires_at"}
        assert first["params"]["jitter_ms"] == 0 and first["expires_at"] > first["started_at"]
        assert await metric(s, odds, "odds_active_faults", fault="errors") == 1
        async with s.get(f"{odds.url}/odds/bob") as r:
            assert r.status == 503
        async with s.put(f"{url}/{first['id']}", json={"params": {"ms": 20}}, headers=AUTH) as r:
            assert r.status == 200 and (await r.json())["params"]["ms"] == 20
        assert await fault_ids(s, odds) == [first["id"], short["id"]]

        async def only_the_long_one() -> bool:
            return await fault_ids(s, odds) == [first["id"]]

        await wait_until_async(only_the_long_one, 5, "the 0.4 s fault to expire by itself")
        assert await metric(s, odds, "odds_active_faults", fault="errors") == 0
        async with s.get(f"{odds.url}/odds/bob") as r:
            assert r.status == 200
        async with s.delete(f"{url}/{short['id']}", headers=AUTH) as r:
            assert r.status == 404 and (await r.json())["code"] == "ERR_FAULT_NOT_FOUND"
        async with s.delete(f"{url}/{first['id']}", headers=AUTH) as r:
            assert r.status == 200
        await inject(s, odds, "hang", {"rate": 0.5})
        await inject(s, odds, "reset", {"rate": 0.1})
        async with s.delete(url, headers=AUTH) as r:
            assert [f["type"] for f in (await r.json())["reverted"]] == ["hang", "reset"]


async def test_invalid_faults_are_refused_with_the_field() -> None:
    async with running("game") as game, aiohttp.ClientSession() as s:
        url = f"{game.url}/admin/faults"
        cases = [
            ({"type": "latency", "params": {"ms": 10}}, "ttl_s"),
            ({"type": "latency", "params": {"ms": 10}, "ttl_s": 0}, "ttl_s"),
            ({"type": "latency", "params": {"ms": 10}, "ttl_s": 4000}, "ttl_s"),
            ({"type": "hang", "params": {}, "ttl_s": 5}, "type"),  # an odds-only fault
            ({"type": "latency", "params": {"ms": -1}, "ttl_s": 5}, "params.ms"),
            ({"type": "errors", "params": {"rate": 2}, "ttl_s": 5}, "params.rate"),
            ({"type": "latency", "params": {"ms": 1, "bogus": 1}, "ttl_s": 5}, "params.bogus"),
            ({"type": "exception", "params": {"where": "nowhere"}, "ttl_s": 5}, "params.where"),
        ]
        for body, field in cases:
            async with s.post(url, json=body, headers=AUTH) as r:
                answer = await r.json()
                assert r.status == 400 and answer["code"] == "ERR_INVALID_FAULT", body
                assert answer["message"].startswith(field), answer


async def test_game_faults_take_effect() -> None:
    async with game_and_odds() as (game, _odds), aiohttp.ClientSession() as s:
        fault = await inject(s, game, "errors", {"rate": 1, "status": 503, "code": "SYS_OVERLOADED"})
        status, body, _ = await play(s, game)
        assert (status, body["code"]) == (503, "SYS_OVERLOADED")
        async with s.delete(f"{game.url}/admin/faults/{fault['id']}", headers=AUTH) as r:
            assert r.status == 200
        await inject(s, game, "memory_leak", {"mb_per_s": 200, "max_mb": 40}, ttl_s=5)
        before = await metric(s, game, "process_resident_memory_bytes")

        async def grown_20_mb() -> bool:
            return await metric(s, game, "process_resident_memory_bytes") - before > 20 * 2**20

        await wait_until_async(grown_20_mb, 5, "the game's memory to grow by 20 MB")
        await inject(s, game, "loop_block", {"block_ms": 300, "every_ms": 50}, ttl_s=2)
        loop = asyncio.get_running_loop()

        async def loop_blocked() -> bool:  # the game shares this event loop: a 10 ms sleep lasts 300
            start = loop.time()
            await asyncio.sleep(0.01)
            return loop.time() - start >= 0.25

        await wait_until_async(loop_blocked, 2, "a 300 ms block of the shared event loop", every_s=0)
        await inject(s, game, "cpu_burn", {"percent": 50}, ttl_s=0.5)
        assert await metric(s, game, "rps_active_faults", fault="cpu_burn") == 1

        async def burn_ended() -> bool:
            return await metric(s, game, "rps_active_faults", fault="cpu_burn") == 0

        await wait_until_async(burn_ended, 5, "the 0.5 s cpu_burn to end by its TTL")
