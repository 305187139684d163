"""Benchmark: ``POST /play`` of the fully instrumented game vs a bare aiohttp handler doing the same.

Both run side by side in ONE server process (same event loop, same aiohttp), pinned to CPU 0:

- ``bare``: an ``aiohttp.web`` handler with the same work (JSON body, validation, seeded RNG, rules,
  a pooled ``GET /odds/{player}`` and a fire-and-forget ``POST /results``), no middleware, no telemetry;
- ``full``: the game app (hardened profile: deadline, retry budget, breaker, bulkhead, rate limit,
  shedding, fallback cache) with metrics, one JSON log line per request (to a file) and every request
  traced (100 % sampling, BatchSpanProcessor -> OTLP JSON lines file), its switches a fixed profile;
- ``flags``: ``full`` with its switches read through OpenFeature from a flag file, as in a stack
  (``Settings.flag_file``; the snapshot is per request, no flag evaluation on the request path);
- ``sampled``: the same as ``full`` at ``--sample`` (default 0.1).

A minimal odds server and the load generator (closed loop, ``--concurrency`` connections) run on
CPU 1. Targets are loaded one at a time, interleaved over ``--rounds``; for each the script prints
requests/s and server CPU per request (medians over rounds), p50/p99 latency (all requests), and
the ratios to ``bare``.

    .venv/bin/python bench/service.py [--seconds 2] [--rounds 6] [--concurrency 32] [--sample 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service import flagfile  # noqa: E402
from service.keys import LOG  # noqa: E402
from service.profile import load_profile  # noqa: E402
from service.rules import CHOICES, computer_choice, decide  # noqa: E402
from service.runner import create_app, start  # noqa: E402
from service.settings import Settings  # noqa: E402

PLAYERS = 500
DEVNULL = open(os.devnull, "w")  # noqa: SIM115 - the server role's stdout for logs, open for the process


def _pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and cpu < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {cpu})


# --- roles run as subprocesses -------------------------------------------------------------------


class _CannedOdds(asyncio.Protocol):
    """A minimal HTTP/1.1 keep-alive odds server: canned answers, so CPU 1 stays free for the load."""

    ODDS = b'{"player_id": "p", "win_rate": 0.33, "rounds": 3}'
    RECORDED = b'{"recorded": true}'

    def __init__(self) -> None:
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].lower()
            length = 0
            at = head.find(b"content-length:")
            if at >= 0:
                length = int(head[at + 15 : head.find(b"\r\n", at) if head.find(b"\r\n", at) > 0 else None])
            if len(self.buf) < end + 4 + length:
                return
            self.buf = self.buf[end + 4 + length :]
            if head.startswith(b"post"):
                status, body = b"201 Created", self.RECORDED
            else:
                status, body = b"200 OK", self.ODDS
            assert self.transport is not None
            self.transport.write(
                b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode() + b"\r\n\r\n" + body
            )  # fmt: skip


async def _odds_role(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_CannedOdds, "127.0.0.1", port, backlog=1024)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    server.close()
    await server.wait_closed()


async def _ok() -> web.Response:
    return web.json_response({"status": "ok"})


async def _serve_forever(app: web.Application, port: int) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()


SESSION = web.AppKey("session", aiohttp.ClientSession)
TASKS = web.AppKey("tasks", set)


def bare_app(odds_url: str, seed: int) -> web.Application:
    rng = random.Random(seed)
    counter = [0]

    async def play(request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            return web.json_response({"code": "ERR_UNSUPPORTED_MEDIA_TYPE"}, status=415)
        try:
            body = json.loads(await request.read())
        except ValueError:
            return web.json_response({"code": "ERR_INVALID_JSON"}, status=400)
        choice = body.get("player_choice") if isinstance(body, dict) else None
        if choice not in CHOICES:
            return web.json_response({"code": "ERR_INVALID_CHOICE"}, status=400)
        player = request.headers.get("X-Player-Id", "anonymous")
        session = request.app[SESSION]
        async with session.get(f"{odds_url}/odds/{player}") as r:
            win_rate = (await r.json())["win_rate"]
        computer = computer_choice(rng)
        result = decide(choice, computer)
        counter[0] += 1

        async def record() -> None:
            payload = {"player_id": player, "result": result, "round_id": str(counter[0])}
            async with session.post(f"{odds_url}/results", json=payload) as r:
                await r.read()

        task = asyncio.get_running_loop().create_task(record())
        request.app[TASKS].add(task)
        task.add_done_callback(request.app[TASKS].discard)
        return web.json_response(
            {
                "player_choice": choice,
                "computer_choice": computer,
                "result": result,
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "round_id": f"{seed}-{counter[0]}",
                "trace_id": "0" * 32,
                "degraded": False,
                "win_rate": win_rate,
            }
        )

    async def ctx(app: web.Application) -> Any:
        app[SESSION] = aiohttp.ClientSession()
        yield
        await app[SESSION].close()

    app = web.Application()
    app[TASKS] = set()
    app.cleanup_ctx.append(ctx)
    app.router.add_post("/play", play)
    app.router.add_get("/healthz", lambda r: _ok())
    return app


async def _server_role(odds_url: str, ports: list[int], sample: float, tmp: Path) -> None:
    bare = web.AppRunner(bare_app(odds_url, 42), access_log=None)
    await bare.setup()
    await web.TCPSite(bare, "127.0.0.1", ports[0], backlog=1024).start()
    runners: list[web.AppRunner] = [bare]
    devnull = DEVNULL
    games = (("full", ports[1], 1.0), ("flags", ports[2], 1.0), ("sampled", ports[3], sample))
    for name, port, ratio in games:
        # round_buffer_kb emulates the game's own work, not telemetry: off, as the bare handler has none
        overrides = {"trace_sample_ratio": ratio, "round_buffer_kb": 0}
        profile = load_profile("hardened", env={}, overrides=overrides)
        settings = Settings(
            service="game",
            profile=profile,
            port=port,
            odds_url=odds_url,
            log_file=tmp / f"{name}.jsonl",
            trace_file=tmp / f"{name}-traces.jsonl",
            # "flags": the same switches, read through OpenFeature from a flag file (as in a stack)
            flag_file=flagfile.write(tmp / "flags.json", profile) if name == "flags" else None,
        )
        app = create_app(settings)
        app[LOG]._streams[0] = devnull  # stdout -> /dev/null; the file line stays
        runner, _ = await start(app, settings)
        runners.append(runner)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    for runner in runners:
        await runner.cleanup()


# --- the load generator ---------------------------------------------------------------------------


class _Player(asyncio.Protocol):
    """One keep-alive connection sending ``POST /play`` back to back (a cheap closed-loop client)."""

    def __init__(
        self, port: int, n: int, stop_at: float, done: asyncio.Future[None], out: list[float]
    ) -> None:
        rng = random.Random(n)
        self.requests = []
        for _ in range(16):
            body = json.dumps({"player_choice": CHOICES[rng.randrange(3)]}).encode()
            self.requests.append(
                b"POST /play HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
                b"X-Player-Id: bench-%d\r\nContent-Length: %d\r\n\r\n%s"
                % (port, rng.randrange(PLAYERS), len(body), body)
            )
        self.i = 0
        self.stop_at = stop_at
        self.done = done
        self.out = out
        self.errors = 0
        self.buf = b""
        self.t0 = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        self.t0 = time.perf_counter()
        self.transport.write(self.requests[self.i % len(self.requests)])
        self.i += 1

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buf[:end].lower()
        at = head.find(b"content-length:")
        stop = head.find(b"\r\n", at)
        length = int(head[at + 15 : stop if stop > 0 else None])
        if len(self.buf) < end + 4 + length:
            return
        now = time.perf_counter()
        self.out.append(now - self.t0)
        if not head.startswith(b"http/1.1 200"):
            self.errors += 1
        self.buf = self.buf[end + 4 + length :]
        if now < self.stop_at:
            self._send()
        else:
            assert self.transport is not None
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def _load(port: int, seconds: float, concurrency: int) -> tuple[int, int, list[float]]:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds
    players = []
    for n in range(concurrency):
        done: asyncio.Future[None] = loop.create_future()
        _, player = await loop.create_connection(
            lambda n=n, done=done: _Player(port, n, stop_at, done, latencies),  # type: ignore[misc]
            "127.0.0.1",
            port,
        )
        players.append(player)
    await asyncio.gather(*(p.done for p in players))
    return len(latencies), sum(p.errors for p in players), latencies


def _wait_port(port: int, timeout_s: float = 15.0) -> None:
    import socket

    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"127.0.0.1:{port} did not listen within {timeout_s}s")


def _pct(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 100 else max(values)


async def _measure(
    args: argparse.Namespace, ports: list[int], server_pid: int
) -> dict[str, dict[str, list[float]]]:
    proc = psutil.Process(server_pid)
    stats: dict[str, dict[str, list[float]]] = {
        n: {"n": [], "s": [], "cpu": [], "lat": [], "err": []} for n in NAMES
    }
    for port in ports:  # warm-up
        await _load(port, 1.0, args.concurrency)
    for _ in range(args.rounds):
        for name, port in zip(NAMES, ports, strict=True):
            cpu0 = sum(proc.cpu_times()[:2])
            t0 = time.perf_counter()
            n, errors, lat = await _load(port, args.seconds, args.concurrency)
            stats[name]["s"].append(time.perf_counter() - t0)
            stats[name]["cpu"].append(sum(proc.cpu_times()[:2]) - cpu0)
            stats[name]["n"].append(n)
            stats[name]["err"].append(errors)
            stats[name]["lat"].extend(lat)
    return stats


NAMES = ("bare", "full", "flags", "sampled")


def _bench(args: argparse.Namespace) -> None:
    from tests.support import free_port, wait_http

    _pin(1)
    odds_port = free_port()
    ports = [free_port() for _ in range(len(NAMES))]
    tmp = Path(tempfile.mkdtemp(prefix="crashlab-bench-"))
    me = str(Path(__file__).resolve())
    odds = subprocess.Popen([sys.executable, me, "--role", "odds", "--port", str(odds_port)])
    server = subprocess.Popen(
        [sys.executable, me, "--role", "server", "--odds-url", f"http://127.0.0.1:{odds_port}",
         "--ports", ",".join(map(str, ports)), "--sample", str(args.sample), "--tmp", str(tmp)]
    )  # fmt: skip
    try:
        _wait_port(odds_port)
        for port in ports:
            wait_http(f"http://127.0.0.1:{port}/healthz")
        stats = asyncio.run(_measure(args, ports, server.pid))
    finally:
        for p in (server, odds):
            p.send_signal(signal.SIGTERM)
            p.wait(20)
    full_log = tmp / "full.jsonl"
    lines = sum(1 for _ in full_log.open()) if full_log.exists() else 0
    rows = {}
    for name in NAMES:
        s = stats[name]
        n = sum(s["n"])
        # medians over rounds: other jobs on the machine disturb single rounds
        rows[name] = {
            "rps": statistics.median(k / t for k, t in zip(s["n"], s["s"], strict=True)),
            "p50_ms": _pct(s["lat"], 50) * 1000,
            "p99_ms": _pct(s["lat"], 99) * 1000,
            "cpu_ms_per_req": statistics.median(
                1000 * c / max(1, k) for c, k in zip(s["cpu"], s["n"], strict=True)
            ),
            "errors": sum(s["err"]),
            "requests": n,
            "server_cpu_pct": 100 * sum(s["cpu"]) / sum(s["s"]),
        }
    bare = rows["bare"]
    print(
        f"cores: {os.cpu_count()}  server pinned to CPU 0, load+odds to CPU 1  concurrency={args.concurrency}"
        f"  {args.rounds} rounds x {args.seconds}s per target  sample={args.sample}"
    )
    print(
        f"{'target':<9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'cpu ms/req':>11} {'x bare (rps)':>13}"
        f" {'x bare (cpu)':>13} {'errors':>7} {'server cpu %':>13}"
    )
    for name, r in rows.items():
        print(
            f"{name:<9} {r['rps']:>8.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['cpu_ms_per_req']:>11.3f}"
            f" {r['rps'] / bare['rps']:>13.2f} {bare['cpu_ms_per_req'] / r['cpu_ms_per_req']:>13.2f}"
            f" {r['errors']:>7} {r['server_cpu_pct']:>13.0f}"
        )
    full, flags = (rows[n]["rps"] / bare["rps"] for n in ("full", "flags"))
    # paired round by round (flags is loaded right after full in every round): the spread is the noise
    paired = [
        100 * (a_cpu / a_n) / (b_cpu / b_n) - 100
        for a_cpu, a_n, b_cpu, b_n in zip(
            stats["flags"]["cpu"], stats["flags"]["n"], stats["full"]["cpu"], stats["full"]["n"], strict=True
        )
        if a_n and b_n
    ]
    print(
        f"switches through OpenFeature (flag file): {flags:.2f} x bare; without (fixed profile): {full:.2f}"
        f" x bare; difference {100 * (flags - full) / full:+.1f} % in req/s (target: within 3 %)"
    )
    if paired:
        print(
            f"  CPU per request, flags vs full, paired by round: median {statistics.median(paired):+.1f} %"
            f" (rounds {min(paired):+.1f} .. {max(paired):+.1f} %)"
        )
    print(f"full: {lines} JSON log lines (measured + warm-up requests); logs and traces in {tmp}")
    if args.json:
        print(json.dumps(rows))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--role", choices=["bench", "odds", "server"], default="bench")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ports", default="")
    parser.add_argument("--odds-url", default="")
    parser.add_argument("--tmp", default="")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--sample", type=float, default=0.1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.role == "odds":
        _pin(1)
        asyncio.run(_odds_role(args.port))
    elif args.role == "server":
        _pin(0)
        asyncio.run(
            _server_role(args.odds_url, [int(p) for p in args.ports.split(",")], args.sample, Path(args.tmp))
        )
    else:
        _bench(args)


if __name__ == "__main__":
    main()
