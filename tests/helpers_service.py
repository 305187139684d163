"""Fixtures for the service tests: the real game and odds apps on free loopback ports.

In-process (``running``): the apps run in the test's event loop behind a real TCP site.
Subprocess (``ServiceProcess``): ``python -m crashlab serve ...``, for exit codes and signals.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from service import flagfile
from service.profile import Profile, load_profile
from service.runner import create_app, start
from service.settings import Settings
from tests.support import free_port, wait_http

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = {"Content-Type": "application/json"}
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Running:
    url: str
    app: web.Application
    settings: Settings


def seed_flag_file(path: Path, profile: Profile) -> None:
    if not path.exists():
        flagfile.write(path, profile)


@asynccontextmanager
async def running(
    service: str,
    profile: str = "hardened",
    *,
    odds_url: str = "http://127.0.0.1:9",
    overrides: dict[str, Any] | None = None,
    log_file: Path | None = None,
    trace_file: Path | None = None,
    seed: int = 42,
    token: str | None = TOKEN,
    settings: dict[str, Any] | None = None,
    flag_file: Path | None = None,
) -> AsyncIterator[Running]:
    """``settings``: more :class:`Settings` fields (timeouts, limits). With ``flag_file`` (written from
    ``profile`` + ``overrides`` when missing) the game reads its switches from that file through
    OpenFeature."""
    effective = load_profile(profile, env={}, overrides=overrides)
    if flag_file is not None:
        seed_flag_file(flag_file, effective)
    config = Settings(
        service=service,
        profile=effective,
        flag_file=flag_file,
        port=free_port(),
        odds_url=odds_url,
        log_file=log_file,
        trace_file=trace_file,
        seed=seed,
        admin_token=token,
        shutdown_timeout_s=1.0,
        **(settings or {}),
    )
    app = create_app(config)
    runner, port = await start(app, config)
    try:
        yield Running(f"http://127.0.0.1:{port}", app, config)
    finally:
        await runner.cleanup()


@asynccontextmanager
async def game_and_odds(
    profile: str = "hardened", overrides: dict[str, Any] | None = None, **kw: Any
) -> AsyncIterator[tuple[Running, Running]]:
    async with (
        running("odds") as odds,
        running("game", profile, odds_url=odds.url, overrides=overrides, **kw) as game,
    ):
        yield game, odds


async def play(
    session: aiohttp.ClientSession, game: Running, choice: str = "rock", player: str | None = None, **kw: Any
) -> tuple[int, dict[str, Any], aiohttp.typedefs.LooseHeaders]:
    headers = dict(JSON)
    if player is not None:
        headers["X-Player-Id"] = player
    async with session.post(f"{game.url}/play", json={"player_choice": choice}, headers=headers, **kw) as r:
        body: dict[str, Any] = await r.json()
        return r.status, body, r.headers


async def inject(
    session: aiohttp.ClientSession, target: Running, type_: str, params: dict[str, Any], ttl_s: float = 30
) -> dict[str, Any]:
    body = {"type": type_, "params": params, "ttl_s": ttl_s}
    async with session.post(f"{target.url}/admin/faults", json=body, headers=AUTH) as r:
        data: dict[str, Any] = await r.json()
        assert r.status == 201, data
        return data


async def revert_all(session: aiohttp.ClientSession, target: Running) -> None:
    async with session.delete(f"{target.url}/admin/faults", headers=AUTH) as r:
        assert r.status == 200


async def metric(session: aiohttp.ClientSession, target: Running, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels`` (0 when none)."""
    async with session.get(f"{target.url}/metrics") as r:
        text = await r.text()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)", line)
        if m is None or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(m.group(3))
    return total


class ServiceProcess:
    """``crashlab serve`` as a subprocess on a free port; stopped by PID."""

    def __init__(self, service: str, *args: str, env: dict[str, str] | None = None, tmp: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stdout_path = tmp / f"{service}-{self.port}.out"
        self.stderr_path = tmp / f"{service}-{self.port}.err"
        full_env = {**os.environ, "CRASHLAB_ADMIN_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1", **(env or {})}
        full_env = {
            k: v for k, v in full_env.items() if not k.startswith("CRASHLAB_SWITCH_") or k in (env or {})
        }
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "crashlab", "serve", service, "--port", str(self.port), *args],
                cwd=ROOT,
                env=full_env,
                stdout=out,
                stderr=err,
            )
        wait_http(f"{self.url}/healthz", timeout_s=20)

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def terminate(self, timeout_s: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout_s)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)

    async def wait_exit(self, timeout_s: float) -> int | None:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout_s
        while loop.time() < end:
            code = self.proc.poll()
            if code is not None:
                return code
            await asyncio.sleep(0.1)
        return None
