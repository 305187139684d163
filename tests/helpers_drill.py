"""Fixtures for the drill runner, fault catalogue and load tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from chaos.faults import FaultContext
from crashlab.waits import wait_until
from tests.support import free_port, wait_http


@dataclass
class TinyGame:
    """A stand-in for the game's /play: answers by X-Player-Id-independent rules the test sets."""

    url: str = ""
    delay_s: float = 0.0
    status: int = 200
    plays: int = 0
    players: set[str] = field(default_factory=set)
    choices: set[str] = field(default_factory=set)


async def tiny_game() -> AsyncIterator[TinyGame]:
    state = TinyGame()

    async def play(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        state.plays += 1
        state.players.add(request.headers.get("X-Player-Id", ""))
        state.choices.add(body.get("player_choice", ""))
        if state.delay_s:
            await asyncio.sleep(state.delay_s)
        return web.json_response({"result": "win"}, status=state.status)

    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/play", play)
    app.router.add_get("/readyz", ok)
    app.router.add_get("/healthz", ok)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    state.url = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        await runner.cleanup()


@dataclass
class Services:
    """Real ``crashlab serve odds`` and ``crashlab serve game`` processes on free loopback ports."""

    urls: dict[str, str]
    token: str
    procs: dict[str, subprocess.Popen[bytes]]

    def pid(self, service: str) -> int | None:
        proc = self.procs.get(service)
        return proc.pid if proc is not None and proc.poll() is None else None

    def context(self) -> FaultContext:
        return FaultContext(urls=self.urls, admin_token=self.token, pid_of=self.pid)


@contextlib.contextmanager
def services(tmp: Path, profile: str = "hardened") -> Iterator[Services]:
    token = secrets.token_hex(8)
    env = {**os.environ, "CRASHLAB_ADMIN_TOKEN": token}
    ports = {"odds": free_port(), "game": free_port()}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    crashlab = str(Path(sys.executable).with_name("crashlab"))
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name in ("odds", "game"):
            argv = [
                crashlab,
                "serve",
                name,
                "--port",
                str(ports[name]),
                "--profile",
                profile,
                "--log-file",
                str(tmp / f"{name}.jsonl"),
                "--trace-file",
                str(tmp / f"{name}.traces.jsonl"),
            ]
            if name == "game":
                argv += ["--odds-url", urls["odds"]]
            out = (tmp / f"{name}.out").open("wb")
            with out:
                procs[name] = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
            wait_http(urls[name] + "/healthz", timeout_s=30)
        yield Services(urls, token, procs)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)
                proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def admin_faults(url: str, token: str) -> list[dict[str, Any]]:
    req = urllib.request.Request(url + "/admin/faults", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        faults: list[dict[str, Any]] = json.loads(resp.read())["faults"]
        return faults


def play(url: str, timeout_s: float = 5.0) -> tuple[int, float]:
    """POST /play once; (status, seconds)."""
    body = json.dumps({"player_choice": "rock"}).encode()
    req = urllib.request.Request(
        url + "/play", data=body, headers={"Content-Type": "application/json", "X-Player-Id": "tester"}
    )
    start = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            resp.read()
            return resp.status, time.monotonic() - start
    except urllib.error.HTTPError as exc:
        exc.read()
        exc.close()
        return exc.code, time.monotonic() - start


CRASHLAB = str(Path(sys.executable).with_name("crashlab"))


@dataclass
class DrillEnv:
    """A folder to run ``crashlab drill`` in (own runs dir and stack state file) with a local stack up
    whose target is ``target: {runtime: local, profile: hardened}``, so drills reuse it."""

    root: Path
    stack: Any  # stack.local.LocalStack

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CRASHLAB_STATE_DIR": str(self.root / "state"),
            "CRASHLAB_RUNS_DIR": str(self.runs),
        }

    def scenario(self, name: str, text: str) -> Path:
        path = self.root / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    def argv(self, *args: str) -> list[str]:
        return [CRASHLAB, *args]

    def run(self, *args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args), cwd=self.root, env=self.env, capture_output=True, text=True, timeout=timeout_s
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        out = (self.root / "drill.out").open("w")
        with out:
            return subprocess.Popen(
                self.argv(*args), cwd=self.root, env=self.env, stdout=out, stderr=subprocess.STDOUT, text=True
            )

    def faults(self, *services: str) -> dict[str, list[dict[str, Any]]]:
        """What the admin APIs (default: the game's and the odds service's) say is injected."""
        urls, token = self.stack.urls, self.stack.admin_token
        return {name: admin_faults(urls[name], token) for name in services or ("game", "odds")}

    def healthy(self) -> None:
        for name in ("game", "odds"):
            wait_http(self.stack.urls[name] + "/healthz", timeout_s=30)

    def latest_run(self, scenario: str) -> Path:
        runs = sorted(p for p in self.runs.glob(f"*-{scenario}-*") if p.is_dir() and not p.is_symlink())
        assert runs, f"no run of {scenario} under {self.runs}"
        return runs[-1]

    def prom(self, promql: str) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(
            f"{self.stack.urls['prometheus']}/api/v1/query?{query}", timeout=10
        ) as resp:
            result: list[dict[str, Any]] = json.loads(resp.read())["data"]["result"]
            return result

    def prom_value(self, promql: str) -> float | None:
        result = self.prom(promql)
        return float(result[0]["value"][1]) if result else None


@contextlib.contextmanager
def drill_env(root: Path) -> Iterator[DrillEnv]:
    from chaos.runner.stacks import stack_config, target_record
    from chaos.scenario.model import Target
    from crashlab.rundir import RunDir
    from stack.local import up

    target = Target(runtime="local", profile="hardened")
    run = RunDir.create("stack", root / "runs")
    stack = up(stack_config(target, run), state_file=root / "state" / "stack.json")
    try:
        run.update_manifest(stack_target=target_record(target))
        yield DrillEnv(root, stack)
    finally:
        stack.down()


def journal_events(run: Path, type_: str, event: str | None = None) -> list[Any]:
    from crashlab.journal import read_journal

    return [
        e
        for e in read_journal(run / "journal.jsonl")
        if e.type == type_ and (event is None or e.event == event)
    ]


def wait_for(predicate: Any, timeout_s: float, what: str) -> None:
    wait_until(predicate, timeout_s, what)
