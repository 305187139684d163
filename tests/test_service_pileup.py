"""The incident's mechanism: under a stalling odds service and impatient players, the naive game
piles up in-flight work, connections and memory until it dies; the hardened one stays up."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import psutil

from tests.helpers_service import AUTH, JSON, ServiceProcess

PLAYERS = 40
DURATION_S = 10.0
PATIENCE_S = 1.0
MEMORY_HEADROOM_MB = 60
ENV = {"CRASHLAB_SWITCH_POOLED_CLIENT_POOL_EXHAUSTED_AT": "120"}


async def _player(url: str, n: int, stop: asyncio.Event, session: aiohttp.ClientSession) -> None:
    """Plays, gives up after PATIENCE_S and tries again at once (a bounded loop)."""
    timeout = aiohttp.ClientTimeout(total=PATIENCE_S)
    for _ in range(1000):
        if stop.is_set():
            return
        try:
            headers = {**JSON, "X-Player-Id": f"player-{n}"}
            async with session.post(
                url, json={"player_choice": "rock"}, headers=headers, timeout=timeout
            ) as r:
                await r.read()
                if r.status >= 500:
                    await asyncio.sleep(0.2)
        except (TimeoutError, aiohttp.ClientError):
            await asyncio.sleep(0.05)


async def _storm(game: ServiceProcess, limit_bytes: int) -> tuple[int | None, int]:
    """Run the players for DURATION_S while a watcher SIGKILLs the game at the memory limit.

    Returns the game's exit code (None when it survived) and its peak RSS.
    """
    stop = asyncio.Event()
    proc = psutil.Process(game.proc.pid)
    peak = 0
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        players = [asyncio.create_task(_player(f"{game.url}/play", n, stop, session)) for n in range(PLAYERS)]
        loop = asyncio.get_running_loop()
        end = loop.time() + DURATION_S
        code: int | None = None
        while loop.time() < end:
            code = game.proc.poll()
            if code is not None:
                break
            try:
                rss = proc.memory_info().rss
            except psutil.NoSuchProcess:
                continue
            peak = max(peak, rss)
            if rss > limit_bytes:
                game.proc.kill()  # the supervisor's memory limit: like an OOM kill
                code = game.proc.wait(5)
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.gather(*players, return_exceptions=True)
    return code, peak


async def _stall_odds(odds: ServiceProcess) -> None:
    async with aiohttp.ClientSession() as s:
        body = {"type": "stall", "params": {"ms": 2500, "jitter_ms": 500}, "ttl_s": 60}
        async with s.post(f"{odds.url}/admin/faults", json=body, headers=AUTH) as r:
            assert r.status == 201


async def test_naive_dies_in_the_pileup_and_hardened_survives(tmp_path: Path) -> None:
    odds = ServiceProcess("odds", tmp=tmp_path)
    try:
        await _stall_odds(odds)
        results = {}
        for profile in ("naive", "hardened"):
            game = ServiceProcess("game", "--profile", profile, "--odds-url", odds.url, env=ENV, tmp=tmp_path)
            try:
                baseline = psutil.Process(game.proc.pid).memory_info().rss
                code, peak = await _storm(game, baseline + MEMORY_HEADROOM_MB * 2**20)
                alive = code is None
                if alive:
                    async with aiohttp.ClientSession() as s, s.get(f"{game.url}/healthz") as r:
                        alive = r.status == 200
                results[profile] = (code, alive, peak, game.stderr)
            finally:
                game.kill() if profile == "naive" else game.terminate()
        print({k: (v[0], v[1], round(v[2] / 2**20)) for k, v in results.items()})
        naive_code, naive_alive, _, naive_err = results["naive"]
        assert not naive_alive
        # a panic (pool exhausted in background work) or the memory limit's SIGKILL
        assert naive_code in (2, -9), naive_code
        if naive_code == 2:
            assert naive_err.strip().splitlines()[-1].startswith("panic: ")
        hardened_code, hardened_alive, _, _ = results["hardened"]
        assert hardened_code is None and hardened_alive
    finally:
        odds.terminate()
