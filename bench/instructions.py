"""Instructions per ``POST /play`` of each ``bench/service.py`` target, counted by valgrind's callgrind:
the same figure whatever else the machine runs (CPU time per request is not, on a shared machine).

For each target, one server process (``bench/service.py``'s apps and settings) runs under
``valgrind --tool=callgrind --instr-atstart=no``; a closed-loop client (``--concurrency`` keep-alive
connections) sends ``--warmup`` requests, callgrind's counters are switched on and zeroed, ``--requests``
more are sent, and the dump's total (instructions of every thread of the process: the event loop and
the span processor's) divided by the requests is printed. The odds server (canned answers) runs outside
valgrind. Under valgrind the server runs some 50 times slower, so the request deadline and the attempt
timeout are raised to a minute (the same code runs; nothing times out).

Only user-space instructions are counted (no system calls): compare targets by it, and read the CPU
time of ``bench/service.py`` for the whole. ``--profile DIR`` keeps the callgrind files
(``callgrind_annotate DIR/<target>.out`` shows the C functions: the interpreter, json, malloc, ...).

    .venv/bin/python bench/instructions.py [--targets bare,full,...] [--requests 1000] [--warmup 300]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp import web

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from loopback import closed_loop, play_request, serve_canned, wait_port  # noqa: E402


def _bench_service() -> Any:
    """``bench/service.py`` (its name is the service package's: loaded from its file)."""
    spec = importlib.util.spec_from_file_location("bench_service", BENCH / "service.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_service"] = module
    spec.loader.exec_module(module)
    return module


bench_service = _bench_service()

#: nothing times out under valgrind's slowdown, and the code path is the service's: the attempt cap
#: is below the request's deadline, as in the hardened profile (800 and 300 ms), so an attempt takes the
#: cap's ClientTimeout, made once (equal caps made a new one on every attempt, an artifact)
SLOW_OK: dict[str, Any] = {"deadline": {"request_ms": 60_000, "attempt_ms": 30_000}}


async def _server_role(odds_url: str, target: str, port: int, tmp: Path) -> None:
    from service.heap import settle_heap
    from service.keys import LOG
    from service.runner import create_app, start

    if target in ("ceiling", "bare"):
        app = bench_service.ceiling_app() if target == "ceiling" else bench_service.bare_app(odds_url, 42)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    else:
        settings = bench_service.game_settings(target, port, odds_url, 0.1, tmp, extra=SLOW_OK)
        app = create_app(settings)
        app[LOG]._streams[0] = bench_service.DEVNULL
        runner, _ = await start(app, settings)
    settle_heap()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    # --cprofile: SIGUSR1 starts Python's profiler, SIGUSR2 stops it and writes tmp/profile.pstats
    profiler = cProfile.Profile()
    loop.add_signal_handler(signal.SIGUSR1, profiler.enable)

    def dump() -> None:
        profiler.disable()
        profiler.dump_stats(tmp / "profile.pstats")

    loop.add_signal_handler(signal.SIGUSR2, dump)
    await stop.wait()
    await runner.cleanup()


async def _send(port: int, count: int, concurrency: int) -> int:
    """Send ``count`` requests over ``concurrency`` connections; returns the non-200 answers."""
    left = [count]

    def more() -> bool:
        if left[0] <= 0:
            return False
        left[0] -= 1
        return True

    choices = ("rock", "paper", "scissors")
    return await closed_loop(
        port, lambda n: [play_request(port, f"bench-{n}", choices[n % 3])], more, concurrency
    )


def _control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=True, capture_output=True, timeout=600)


def _totals(path: Path) -> int:
    for line in path.read_text().splitlines():
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    raise SystemExit(f"{path}: no totals line")


def measure(target: str, args: argparse.Namespace, odds_url: str, out: Path) -> tuple[list[float], int]:
    """(instructions per request of each thread of the server, non-200 answers)."""
    from crashlab.ports import free_port
    from tests.support import wait_http

    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="crashlab-instr-"))
    valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--separate-threads=yes",
                f"--callgrind-out-file={out / target}.%p"]  # fmt: skip
    server = subprocess.Popen(
        [*([] if args.cprofile else valgrind), sys.executable, str(Path(__file__).resolve()),
         "--role", "server", f"--target={target}",
         "--port", str(port), "--odds-url", odds_url, "--tmp", str(tmp), "--loop", args.loop],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        end = time.monotonic() + 600
        while True:  # start-up under valgrind takes a while; a server that exited never answers
            if server.poll() is not None:
                raise SystemExit(f"{target}: the server exited ({server.returncode}) before answering")
            try:
                wait_http(f"http://127.0.0.1:{port}/healthz", timeout_s=5)
                break
            except Exception:
                if time.monotonic() > end:
                    raise
        errors = asyncio.run(_send(port, args.warmup, args.concurrency))
        if args.cprofile:
            stats = tmp / "profile.pstats"
            server.send_signal(signal.SIGUSR1)
            errors += asyncio.run(_send(port, args.requests, args.concurrency))
            server.send_signal(signal.SIGUSR2)
            end = time.monotonic() + 30
            while not stats.exists() and time.monotonic() < end:
                time.sleep(0.1)
            time.sleep(0.5)
            shutil.move(stats, out / f"{target}.pstats")
            return [], errors
        _control("-i", "on", str(server.pid))
        _control("-z", str(server.pid))
        errors += asyncio.run(_send(port, args.requests, args.concurrency))
        _control("-d", str(server.pid))
        # one file per thread (<target>.<pid>.<dump>-<thread>): the event loop's is the first, then the
        # span processor's and the flag file watcher's
        dumps = sorted(out.glob(f"{target}.{server.pid}.*-*"), key=lambda p: p.name)
        threads = [_totals(p) / args.requests for p in dumps]
        for n, path in enumerate(dumps, 1):
            shutil.move(path, out / f"{target}.out-{n:02d}")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(120)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        for leftover in out.glob(f"{target}.{server.pid}*"):
            leftover.unlink()
        shutil.rmtree(tmp, ignore_errors=True)
    return threads, errors


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--role", choices=["bench", "server", "odds"], default="bench")
    parser.add_argument("--target", default="")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--odds-url", default="")
    parser.add_argument("--tmp", default="")
    parser.add_argument("--targets", default="ceiling,bare,full")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--profile", default="", help="keep the callgrind files in this directory")
    parser.add_argument(
        "--cprofile",
        action="store_true",
        help="no valgrind: Python's profiler over the requests, DIR/<target>.pstats (needs --profile)",
    )
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio", help="the server's")
    args = parser.parse_args()
    if args.role == "server":
        server = _server_role(args.odds_url, args.target, args.port, Path(args.tmp))
        bench_service._run_loop(server, args.loop)
        return
    if args.role == "odds":
        asyncio.run(serve_canned(args.port, bench_service._odds_answer))
        return
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("bench/instructions.py needs valgrind (Debian: apt install valgrind)")
    from crashlab.ports import free_port

    out = Path(args.profile or tempfile.mkdtemp(prefix="crashlab-callgrind-"))
    out.mkdir(parents=True, exist_ok=True)
    odds_port = free_port()
    odds = subprocess.Popen([sys.executable, __file__, "--role", "odds", "--port", str(odds_port)])
    results: dict[str, float] = {}
    try:
        wait_port(odds_port)
        print(
            f"instructions per POST /play (callgrind, {args.requests} requests after {args.warmup},"
            f" concurrency {args.concurrency}; loop={args.loop}; load average {os.getloadavg()[0]:.2f})"
        )
        for target in args.targets.split(","):
            t0 = time.monotonic()
            threads, errors = measure(target, args, f"http://127.0.0.1:{odds_port}", out)
            per = results[target] = sum(threads)
            ratio = f"  {results['bare'] / per:5.2f} x bare" if "bare" in results and per else ""
            split = " + ".join(f"{t / 1000:.0f}" for t in threads if t >= 500)
            print(
                f"{target:<13} {per / 1000:>9.0f} k instructions{ratio}  (threads: {split} k;"
                f" {errors} non-200, {time.monotonic() - t0:.0f} s)",
                flush=True,
            )
    finally:
        odds.send_signal(signal.SIGTERM)
        odds.wait(30)
    if "full" in results:
        for target, per in results.items():
            if target.startswith("-"):
                print(f"  {target.removeprefix('-'):<12} {(results['full'] - per) / 1000:>7.0f} k of full's")
    if args.profile:
        print(f"callgrind files in {out} (callgrind_annotate {out}/<target>.out-01: the event loop's thread)")
    else:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
