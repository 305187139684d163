"""``crashlab serve`` as a real process: JSON logs, OTLP JSON trace lines, graceful stop, panic exit 2."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import aiohttp

from tests.helpers_service import AUTH, JSON, ServiceProcess


async def test_serve_logs_traces_and_stops_cleanly(tmp_path: Path) -> None:
    odds = ServiceProcess("odds", "--trace-file", str(tmp_path / "odds-traces.jsonl"), tmp=tmp_path)
    game = ServiceProcess(
        "game",
        "--profile", "naive",
        "--odds-url", odds.url,
        "--log-file", str(tmp_path / "game.jsonl"),
        "--trace-file", str(tmp_path / "game-traces.jsonl"),
        tmp=tmp_path,
    )  # fmt: skip
    try:
        async with (
            aiohttp.ClientSession() as s,
            s.post(f"{game.url}/play", json={"player_choice": "rock"}, headers=JSON) as r,
        ):
            assert r.status == 200
            trace_id = (await r.json())["trace_id"]
    finally:
        assert game.terminate() == 0
        assert odds.terminate() == 0
    lines = [json.loads(line) for line in (tmp_path / "game.jsonl").read_text().splitlines()]
    assert all({"ts", "level", "service", "msg"} <= set(line) for line in lines)
    request = next(line for line in lines if line["msg"] == "request" and line["route"] == "/play")
    assert request["trace_id"] == trace_id and request["status"] == 200
    assert any(json.loads(line).get("msg") == "listening" for line in game.stdout.splitlines())
    for name in ("game-traces.jsonl", "odds-traces.jsonl"):
        batches = [json.loads(line) for line in (tmp_path / name).read_text().splitlines()]
        spans = [
            sp for b in batches for rs in b["resourceSpans"] for ss in rs["scopeSpans"] for sp in ss["spans"]
        ]
        assert any(sp["traceId"] == trace_id for sp in spans), name  # W3C context reached odds


async def test_naive_background_panic_exits_2(tmp_path: Path) -> None:
    odds = ServiceProcess("odds", tmp=tmp_path)
    game = ServiceProcess("game", "--profile", "naive", "--odds-url", odds.url, tmp=tmp_path)
    try:
        async with aiohttp.ClientSession() as s:
            fault = {"type": "exception", "params": {"where": "background"}, "ttl_s": 30}
            async with s.post(f"{game.url}/admin/faults", json=fault, headers=AUTH) as r:
                assert r.status == 201
            async with s.post(f"{game.url}/play", json={"player_choice": "rock"}, headers=JSON) as r:
                assert r.status == 200  # the round answered; its background work panicked
        assert await game.wait_exit(10) == 2
        assert game.stderr.strip().splitlines()[-1].startswith("panic: ")
    finally:
        game.kill()
        odds.terminate()


async def test_hardened_recovers_the_same_panic(tmp_path: Path) -> None:
    odds = ServiceProcess("odds", tmp=tmp_path)
    game = ServiceProcess("game", "--profile", "hardened", "--odds-url", odds.url, tmp=tmp_path)
    try:
        async with aiohttp.ClientSession() as s:
            for where in ("background", "handler"):
                fault = {"type": "exception", "params": {"where": where}, "ttl_s": 30}
                async with s.post(f"{game.url}/admin/faults", json=fault, headers=AUTH) as r:
                    assert r.status == 201
            async with s.post(f"{game.url}/play", json={"player_choice": "rock"}, headers=JSON) as r:
                body = await r.json()
                assert (r.status, body["code"], body["kind"]) == (500, "SYS_INTERNAL", "system")
            async with s.delete(f"{game.url}/admin/faults", headers=AUTH) as r:
                assert r.status == 200
            fault = {"type": "exception", "params": {"where": "background"}, "ttl_s": 30}
            async with s.post(f"{game.url}/admin/faults", json=fault, headers=AUTH) as r:
                assert r.status == 201
            async with s.post(f"{game.url}/play", json={"player_choice": "rock"}, headers=JSON) as r:
                assert r.status == 200
            assert await game.wait_exit(1.0) is None
            async with s.get(f"{game.url}/metrics") as r:
                text = await r.text()
            assert 'rps_panics_total{where="handler"} 1.0' in text
            assert 'rps_panics_total{where="background"} 1.0' in text
    finally:
        assert game.terminate() == 0
        odds.terminate()


async def test_sigterm_drains_in_flight_requests(tmp_path: Path) -> None:
    odds = ServiceProcess("odds", tmp=tmp_path)
    log = tmp_path / "g.jsonl"
    game = ServiceProcess("game", "--odds-url", odds.url, "--log-file", str(log), tmp=tmp_path)
    try:
        async with aiohttp.ClientSession() as s:
            fault = {"type": "latency", "params": {"ms": 1000}, "ttl_s": 30}
            async with s.post(f"{game.url}/admin/faults", json=fault, headers=AUTH) as r:
                assert r.status == 201
            round_ = s.post(f"{game.url}/play", json={"player_choice": "rock"}, headers=JSON)
            pending = asyncio.create_task(round_)
            await asyncio.sleep(0.4)
            game.proc.send_signal(signal.SIGTERM)
            response = await pending
            assert response.status == 200 and (await response.json())["result"] in ("win", "lose", "draw")
            response.release()
        assert await game.wait_exit(10) == 0
    finally:
        game.kill()
        odds.terminate()
    messages = [json.loads(line)["msg"] for line in log.read_text().splitlines()]
    assert messages.index("shutdown requested; draining") < len(messages) - 1
    assert messages[-1] == "stopping"
