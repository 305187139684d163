"""The game reads its switches from a flag file through OpenFeature and applies a rewrite within a
second, without a restart: on /healthz, in rps_switch_enabled and in what it does."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from openfeature.contrib.provider.flagd import FlagdProvider

from service import flagfile
from service.errors import ServiceError
from service.flags import FlagFileSwitchboard, read_profile
from service.profile import SWITCHES, load_profile
from tests.helpers_service import (
    ServiceProcess,
    inject,
    metric,
    play,
    revert_all,
    running,
)

#: what a flip may take: the provider looks at the file every 0.2 s
APPLY_S = 1.0


async def healthz(s: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with s.get(f"{url}/healthz") as r:
        body: dict[str, Any] = await r.json()
        assert r.status == 200
        return body


async def wait_switch(s: aiohttp.ClientSession, url: str, name: str, value: bool, timeout_s: float) -> float:
    """Seconds until ``/healthz`` reports ``name`` as ``value``; fails after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while True:
        switches = (await healthz(s, url))["switches"]
        if switches[name] is value:
            return loop.time() - start
        if loop.time() - start > timeout_s:
            raise AssertionError(f"/healthz still reports {name}={switches[name]} after {timeout_s} s")
        await asyncio.sleep(0.02)


async def abandon(url: str) -> None:
    """A player who gives up after 0.3 s."""
    async with aiohttp.ClientSession() as s:
        try:
            async with s.post(
                f"{url}/play", json={"player_choice": "rock"}, timeout=aiohttp.ClientTimeout(total=0.3)
            ):
                pass
        except TimeoutError:
            pass


async def wait_metric(
    s: aiohttp.ClientSession,
    target: Any,
    name: str,
    bound: float,
    timeout_s: float,
    *,
    below: bool = False,
    **labels: str,
) -> float:
    """The metric once it is at least ``bound`` (at most, ``below``), or its value after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while True:
        value = await metric(s, target, name, **labels)
        if (value <= bound if below else value >= bound) or loop.time() > end:
            return value
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    ("spec", "overrides"),
    [
        ("naive", None),
        ("hardened", None),
        ("naive", {"pooled_client": {"enabled": False, "pool_exhausted_at": 150}, "retry": True}),
    ],
)
def test_the_flag_file_holds_every_setting(tmp_path: Path, spec: str, overrides: Any) -> None:
    profile = load_profile(spec, env={}, overrides=overrides)
    path = flagfile.write(tmp_path / "flags" / "flags.json", profile)
    doc = json.loads(path.read_text())
    assert doc["$schema"] == flagfile.SCHEMA_URL
    for name in SWITCHES:
        assert doc["flags"][name]["variants"] == {"on": True, "off": False}
    board = FlagFileSwitchboard(path)
    try:
        assert board.current == profile  # read back through OpenFeature: every switch, every setting
    finally:
        board.close()
    assert flagfile.switches(path) == profile.switches()
    assert path.stat().st_mode & 0o777 == 0o644


async def test_a_flip_reaches_healthz_and_the_breaker_within_a_second_without_restart(
    tmp_path: Path,
) -> None:
    flags = tmp_path / "flags.json"
    overrides = {
        "retry": {"naive_max_attempts": 1},  # each round fails at once (no endless naive retries)
        "circuit_breaker": {"enabled": False, "failure_threshold": 3, "open_s": 30},
    }
    flagfile.write(flags, load_profile("naive", env={}, overrides=overrides))
    async with running("odds") as odds, aiohttp.ClientSession() as s:
        game = ServiceProcess("game", "--flag-file", str(flags), "--odds-url", odds.url, tmp=tmp_path)
        try:
            assert (await healthz(s, game.url))["switches"]["circuit_breaker"] is False
            await inject(s, odds, "errors", {"rate": 1, "status": 500}, ttl_s=60)
            codes = [(await play(s, game))[1]["code"] for _ in range(5)]
            assert codes == ["TP_ODDS_UNAVAILABLE"] * 5  # no breaker
            assert await metric(s, game, "rps_switch_enabled", switch="circuit_breaker") == 0

            loop = asyncio.get_running_loop()
            flipped = loop.time()
            assert flagfile.set_switch(flags, "circuit_breaker", True) is False
            took = await wait_switch(s, game.url, "circuit_breaker", True, timeout_s=5)
            codes = []
            while "TP_ODDS_CIRCUIT_OPEN" not in codes and len(codes) < 10:
                codes.append((await play(s, game))[1]["code"])
            opened = loop.time() - flipped
            assert codes == ["TP_ODDS_UNAVAILABLE"] * 3 + ["TP_ODDS_CIRCUIT_OPEN"]
            assert took < APPLY_S and opened < APPLY_S, (took, opened)
            assert await metric(s, game, "rps_switch_enabled", switch="circuit_breaker") == 1
            assert await metric(s, game, "rps_circuit_state", dependency="odds") == 2

            assert flagfile.set_switch(flags, "circuit_breaker", False) is True
            assert await wait_switch(s, game.url, "circuit_breaker", False, timeout_s=5) < APPLY_S
            assert (await play(s, game))[1]["code"] == "TP_ODDS_UNAVAILABLE"
            assert game.proc.poll() is None  # the same process all along
            listening = [x for x in game.stdout.splitlines() if '"listening"' in x]
            assert len(listening) == 1 and json.loads(listening[0])["flag_file"] == str(flags)
        finally:
            await revert_all(s, odds)
            assert game.terminate() == 0


async def test_handler_cancellation_flipped_at_run_time(tmp_path: Path) -> None:
    flags = tmp_path / "flags.json"
    overrides = {"deadline": False, "rate_limit": False, "fallback": False}
    async with (
        running("odds") as odds,
        running("game", "hardened", odds_url=odds.url, overrides=overrides, flag_file=flags) as game,
        aiohttp.ClientSession() as s,
    ):
        await inject(s, odds, "latency", {"ms": 700}, ttl_s=60)

        async def answered(count: int) -> tuple[float, float, float]:
            await wait_metric(s, game, "rps_http_requests_total", count, 5, route="/play")
            return (
                await metric(s, game, "rps_http_requests_total", route="/play", status="499"),
                await metric(s, game, "rps_http_requests_total", route="/play", status="200"),
                await metric(s, game, "rps_rounds_total"),
            )

        await abandon(game.url)  # on: the handler and its odds call are cancelled
        assert await answered(1) == (1, 0, 0)

        flagfile.set_switch(flags, "handler_cancellation", False)
        await wait_switch(s, game.url, "handler_cancellation", False, timeout_s=APPLY_S)
        await abandon(game.url)  # off: the work runs on and plays the round for nobody
        assert await answered(2) == (1, 1, 1)

        flagfile.set_switch(flags, "handler_cancellation", True)
        await wait_switch(s, game.url, "handler_cancellation", True, timeout_s=APPLY_S)
        await abandon(game.url)
        assert await answered(3) == (2, 1, 1)


async def test_fallback_rate_limit_and_deadline_switch_on_at_run_time(tmp_path: Path) -> None:
    flags = tmp_path / "flags.json"
    overrides = {
        "retry": {"naive_max_attempts": 1},
        "rate_limit": {"rate_per_s": 0.1, "burst": 2},
        # the rounds' background calls fail too: naive would exit this (the test's) process
        "panic_recovery": True,
    }
    async with (
        running("odds") as odds,
        running("game", "naive", odds_url=odds.url, overrides=overrides, flag_file=flags) as game,
        aiohttp.ClientSession() as s,
    ):
        await inject(s, odds, "errors", {"rate": 1, "status": 500}, ttl_s=60)
        assert (await play(s, game, player="ann"))[0] == 502
        flagfile.set_switch(flags, "fallback", True)
        await wait_switch(s, game.url, "fallback", True, timeout_s=APPLY_S)
        status, body, _ = await play(s, game, player="ann")
        assert status == 200 and body["degraded_reason"].startswith("default:")

        flagfile.set_switch(flags, "rate_limit", True)
        await wait_switch(s, game.url, "rate_limit", True, timeout_s=APPLY_S)
        statuses = [(await play(s, game, player="bob"))[0] for _ in range(3)]
        assert statuses == [200, 200, 429]  # burst 2, from the file's settings

        await revert_all(s, odds)
        await inject(s, odds, "stall", {"ms": 3000}, ttl_s=60)
        flagfile.set_switch(flags, "deadline", True)
        await wait_switch(s, game.url, "deadline", True, timeout_s=APPLY_S)
        loop = asyncio.get_running_loop()
        start = loop.time()
        status, body, _ = await play(s, game, player="cy")
        # the deadline (800 ms) ends the odds call; the fallback answers
        assert status == 200 and body["degraded_reason"] == "default:timeout"
        assert loop.time() - start < 2.0
        await revert_all(s, odds)


async def test_pooled_client_switched_off_and_on_at_run_time(tmp_path: Path) -> None:
    flags = tmp_path / "flags.json"
    async with (
        running("odds") as odds,
        running("game", "hardened", odds_url=odds.url, flag_file=flags) as game,
        aiohttp.ClientSession() as s,
    ):
        for _ in range(3):
            assert (await play(s, game))[0] == 200
        # the pooled session keeps its connections open for the next calls
        assert await wait_metric(s, game, "rps_open_connections", 1, 5, dependency="odds") >= 1
        flagfile.set_switch(flags, "pooled_client", False)
        await wait_switch(s, game.url, "pooled_client", False, timeout_s=APPLY_S)
        for _ in range(3):
            assert (await play(s, game))[0] == 200
        # the retired pool closed; each call now opens and closes its own connection
        assert await wait_metric(s, game, "rps_open_connections", 0, 5, below=True, dependency="odds") == 0
        flagfile.set_switch(flags, "pooled_client", True)
        await wait_switch(s, game.url, "pooled_client", True, timeout_s=APPLY_S)
        assert (await play(s, game))[0] == 200
        assert await wait_metric(s, game, "rps_open_connections", 1, 5, dependency="odds") >= 1


async def test_a_bad_flag_file_keeps_the_switches_in_force(tmp_path: Path) -> None:
    flags = tmp_path / "flags.json"
    log = tmp_path / "game.jsonl"
    async with (
        running("odds") as odds,
        running("game", "naive", odds_url=odds.url, flag_file=flags, log_file=log) as game,
        aiohttp.ClientSession() as s,
    ):
        doc = json.loads(flags.read_text())
        doc["flags"]["circuit_breaker.settings"]["variants"]["active"]["failure_threshold"] = 0
        doc["flags"]["circuit_breaker"]["defaultVariant"] = "on"
        flags.write_text(json.dumps(doc))

        async def logged(text: str) -> list[dict[str, Any]]:
            loop = asyncio.get_running_loop()
            end = loop.time() + 5
            while True:
                lines = [json.loads(x) for x in log.read_text().splitlines() if text in x]
                if lines or loop.time() > end:
                    return lines
                await asyncio.sleep(0.1)

        errors = await logged("circuit_breaker.settings.failure_threshold")
        assert errors and errors[0]["level"] == "error"
        assert (await healthz(s, game.url))["switches"]["circuit_breaker"] is False
        flags.write_text("{not json")
        assert await logged("Could not parse JSON")
        assert (await healthz(s, game.url))["switches"]["circuit_breaker"] is False
        flags.unlink()
        assert await logged("Provided file path not valid")
        assert (await healthz(s, game.url))["switches"]["circuit_breaker"] is False
        flagfile.write(flags, load_profile("naive", env={}, overrides={"circuit_breaker": True}))
        await wait_switch(s, game.url, "circuit_breaker", True, timeout_s=APPLY_S)
        changed = await logged('"switches changed"')
        assert list(changed[-1]["changed"]) == ["circuit_breaker"]


def test_serve_writes_a_missing_flag_file_from_its_profile_and_keeps_an_existing_one(
    tmp_path: Path,
) -> None:
    flags = tmp_path / "flags.json"
    env = {"CRASHLAB_SWITCH_CIRCUIT_BREAKER": "true"}
    game = ServiceProcess("game", "--profile", "naive", "--flag-file", str(flags), env=env, tmp=tmp_path)
    try:
        assert flagfile.switches(flags)["circuit_breaker"] is True  # naive + the override
        assert load_profile("naive", env=env) == read_profile(flags)
    finally:
        assert game.terminate() == 0
    flagfile.set_switch(flags, "retry", True)
    game = ServiceProcess("game", "--profile", "hardened", "--flag-file", str(flags), tmp=tmp_path)
    try:
        # the existing file rules: a restart keeps what was flipped
        assert flagfile.switches(flags)["retry"] is True and flagfile.switches(flags)["deadline"] is False
        assert "its switches apply, not --profile" in game.stderr
    finally:
        assert game.terminate() == 0


def test_concurrent_flips_of_different_switches_lose_none(tmp_path: Path) -> None:
    path = flagfile.write(tmp_path / "flags.json", load_profile("naive", env={}))
    with ThreadPoolExecutor(len(SWITCHES)) as pool:
        list(pool.map(lambda name: flagfile.set_switch(path, name, True), SWITCHES))
    assert flagfile.switches(path) == dict.fromkeys(SWITCHES, True)
    with pytest.raises(ServiceError, match="did you mean circuit_breaker"):
        flagfile.set_switch(path, "circuit-breaker", True)


async def test_requests_evaluate_no_flag_a_change_evaluates_each_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    evaluations: list[str] = []
    for kind in ("boolean", "object"):
        name = f"resolve_{kind}_details"
        original = getattr(FlagdProvider, name)

        def counting(self: Any, *args: Any, _original: Any = original, **kw: Any) -> Any:
            evaluations.append(kw["flag_key"] if "flag_key" in kw else args[0])
            return _original(self, *args, **kw)

        monkeypatch.setattr(FlagdProvider, name, counting)
    flags = tmp_path / "flags.json"
    async with (
        running("odds") as odds,
        running("game", "hardened", odds_url=odds.url, flag_file=flags) as game,
        aiohttp.ClientSession() as s,
    ):
        await wait_switch(s, game.url, "retry", True, timeout_s=APPLY_S)
        evaluations.clear()
        for _ in range(20):
            assert (await play(s, game))[0] == 200
        assert evaluations == []  # the request path reads the snapshot only
        flagfile.set_switch(flags, "retry", False)
        await wait_switch(s, game.url, "retry", False, timeout_s=APPLY_S)
        # one evaluation of every flag per change: 10 switches, their settings, the profile's knobs
        assert sorted(evaluations) == sorted(
            [*SWITCHES, *(flagfile.settings_flag(n) for n in SWITCHES), flagfile.PROFILE_FLAG]
        )
