"""The game-day console's pager under fan-out: a console process (``python -m gameday.console --no-stack``)
with N team members following its event stream; Alertmanager-shaped webhook deliveries, one new page
each, one after the other. Prints, per N: webhook answered (ms), webhook sent -> the ``team.page`` event
received by every member (p50 / p95 / max over all members and pages, ms), and the size of the ``state``
event that follows each page (it grows with the game day: every stream gets the whole view).

    .venv/bin/python bench/console.py [--members 1 16 48] [--pages 40]   (a game day holds 50 members)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
SECRETS = {
    "CRASHLAB_GAMEDAY_SECRET": "bench-secret",
    "CRASHLAB_GAMEDAY_FACILITATOR_TOKEN": "bench-facilitator",
    "CRASHLAB_GAMEDAY_JOIN_CODE": "BENCH234",
    "CRASHLAB_GAMEDAY_PAGER_TOKEN": "bench-pager",
}


def message(i: int) -> dict[str, Any]:
    labels = {"alertname": f"BenchAlert{i}", "severity": "page"}
    return {
        "version": "4",
        "status": "firing",
        "receiver": "pager",
        "groupKey": f"bench-{i}",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": f"page {i}", "runbook_url": "http://127.0.0.1/r.md"},
                "startsAt": "2026-12-02T21:30:00Z",
                "fingerprint": f"{i:016x}",
            }
        ],
    }


async def follow(
    session: aiohttp.ClientSession,
    url: str,
    token: str,
    seen: dict[str, float],
    ready: asyncio.Event,
    sizes: list[int],
    news: asyncio.Event,
) -> None:
    timeout = aiohttp.ClientTimeout(total=None)
    async with session.get(url + "api/events", params={"token": token}, timeout=timeout) as response:
        buffer = b""
        event = ""
        while chunk := await response.content.readany():
            buffer += chunk
            while b"\r\n\r\n" in buffer:
                block, buffer = buffer.split(b"\r\n\r\n", 1)
                for line in block.split(b"\r\n"):
                    if line.startswith(b"event: "):
                        event = line[7:].decode()
                    elif line.startswith(b"data: ") and event == "state":
                        ready.set()
                        sizes.append(len(line) - 6)
                    elif line.startswith(b"data: ") and event == "team.page":
                        seen[json.loads(line[6:])["alert"]] = time.perf_counter()
                        news.set()


async def all_seen(seen: list[dict[str, float]], alert: str, news: asyncio.Event, timeout_s: float) -> None:
    try:
        async with asyncio.timeout(timeout_s):
            while not all(alert in s for s in seen):
                news.clear()
                await news.wait()
    except TimeoutError:
        pass


async def one_round(url: str, members: int, pages: int) -> dict[str, Any]:
    code = SECRETS["CRASHLAB_GAMEDAY_JOIN_CODE"]
    async with aiohttp.ClientSession() as session:
        tokens = []
        for m in range(members):
            body = {"name": f"m{m}", "role": "observer", "code": code}
            async with session.post(url + "api/join", json=body) as r:
                tokens.append((await r.json())["token"])
        seen: list[dict[str, float]] = [{} for _ in tokens]
        sizes: list[int] = []
        readies = [asyncio.Event() for _ in tokens]
        news = asyncio.Event()
        tasks = [
            asyncio.create_task(follow(session, url, t, seen[i], readies[i], sizes, news))
            for i, t in enumerate(tokens)
        ]
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 30)
        answered: list[float] = []
        latencies: list[float] = []
        pager = {"Authorization": "Bearer bench-pager"}
        for p in range(pages):
            alert = f"BenchAlert{p}"
            sent = time.perf_counter()
            async with session.post(url + "hooks/alertmanager", json=message(p), headers=pager) as r:
                assert r.status == 200, await r.text()
            answered.append((time.perf_counter() - sent) * 1000)
            await all_seen(seen, alert, news, 10.0)
            latencies.extend((s[alert] - sent) * 1000 for s in seen if alert in s)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    latencies.sort()
    return {
        "members": members,
        "pages": pages,
        "webhook p50": f"{statistics.median(answered):.1f} ms",
        "delivery p50": f"{statistics.median(latencies):.1f} ms",
        "p95": f"{latencies[int(0.95 * (len(latencies) - 1))]:.1f} ms",
        "max": f"{latencies[-1]:.1f} ms",
        "missed": members * pages - len(latencies),
        "state bytes": sizes[-1] if sizes else 0,
    }


def start_console(run: Path) -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gameday.console", "--run", str(run), "--no-stack"],
        cwd=ROOT,
        env={**os.environ, **SECRETS},
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    ready = json.loads(proc.stdout.readline())
    return proc, str(ready["team_url"])


COLUMNS = ("members", "pages", "webhook p50", "delivery p50", "p95", "max", "missed", "state bytes")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--members", type=int, nargs="+", default=[1, 16, 48])
    parser.add_argument("--pages", type=int, default=40)
    args = parser.parse_args()
    print("  ".join(f"{c:>12}" for c in COLUMNS))
    for members in args.members:
        with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
            run = Path(tmp) / "run"
            run.mkdir()
            proc, url = start_console(run)
            try:
                row = asyncio.run(one_round(url, members, args.pages))
            finally:
                proc.terminate()
                proc.wait(10)
        print("  ".join(f"{row[c]!s:>12}" for c in COLUMNS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
