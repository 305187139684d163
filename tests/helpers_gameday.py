"""Fixtures and helpers of the game-day console tests: a real local stack whose Alertmanager pages the
console, the console in-process (real sites on loopback) or as its own process, and the API."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from crashlab.journal import read_journal
from crashlab.ports import free_port
from crashlab.rundir import RunDir
from crashlab.waits import wait_until
from gameday.console.app import Console, ConsoleConfig
from gameday.console.auth import Secrets
from gameday.console.limits import Limits
from gameday.console.operations import Operator
from gameday.console.serve import Sites, serving
from stack.local import LocalStack
from stack.local import up as local_up
from stack.runtime import RestartPolicy, Stack, StackConfig

ROOT = Path(__file__).resolve().parent.parent
SECRETS = Secrets(
    secret="test-signing-secret",
    facilitator_token="facilitator-token",
    join_code="JOIN2345",
    pager_token="pager-token",
)
FACILITATOR = {"Authorization": f"Bearer {SECRETS.facilitator_token}"}
PAGER = {"Authorization": f"Bearer {SECRETS.pager_token}"}
#: limits that no functional test reaches (the rate-limit test sets its own)
ROOMY = Limits(action_burst=1000, write_burst=1000, join_burst=1000)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- a real local stack that pages a console ---------------------------------------------------------
@dataclass
class PagedStack:
    stack: LocalStack
    #: the team console's port, fixed before the stack (its pager URL is in Alertmanager's config)
    team_port: int
    state_dir: Path

    @property
    def pager_url(self) -> str:
        return f"http://127.0.0.1:{self.team_port}/hooks/alertmanager"


@contextlib.contextmanager
def paged_stack(root: Path, profile: str = "naive") -> Iterator[PagedStack]:
    """A local stack (game, odds, Prometheus, Alertmanager) whose pages go to a console's webhook on a
    port chosen now, with the pager token."""
    team_port = free_port()
    state_dir = root / "state"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRASHLAB_STATE_DIR", str(state_dir))
        config = StackConfig(
            run_dir=RunDir.create("gameday", root / "runs"),
            profile=profile,
            pager_url=f"http://127.0.0.1:{team_port}/hooks/alertmanager",
            pager_token=SECRETS.pager_token,
            restart_policy=RestartPolicy(
                name="on-failure", max_retries=5, backoff_initial_s=0.2, backoff_max_s=1.0
            ),
            health_timeout_s=40.0,
        )
        stack = local_up(config)
        try:
            yield PagedStack(stack, team_port, state_dir)
        finally:
            stack.down()


def post_alert(
    alertmanager: str, labels: dict[str, str], annotations: dict[str, str], *, ends_in_s: float = 300
) -> None:
    """Fire an alert into a real Alertmanager (as Prometheus would): it routes, groups and pages."""
    now = datetime.now(UTC)
    body = [
        {
            "labels": labels,
            "annotations": annotations,
            "startsAt": (now - timedelta(seconds=1)).isoformat(),
            "endsAt": (now + timedelta(seconds=ends_in_s)).isoformat(),
        }
    ]
    import urllib.request

    req = urllib.request.Request(
        alertmanager + "/api/v2/alerts",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 200


# --- the console, in-process ----------------------------------------------------------------------------
@dataclass
class Running:
    console: Console
    sites: Sites
    run: RunDir

    @property
    def team(self) -> str:
        return self.sites.team_url.rstrip("/")

    @property
    def facilitator(self) -> str:
        return self.sites.facilitator_url.rstrip("/")

    def journal(self) -> bytes:
        path = self.run.journal_path
        return path.read_bytes() if path.exists() else b""

    def records(self, type_: str = "team", event: str | None = None) -> list[dict[str, Any]]:
        return [
            {"at": e.ts, "event": e.event, **e.fields}
            for e in read_journal(self.run.journal_path)
            if e.type == type_ and (event is None or e.event == event)
        ]


@contextlib.asynccontextmanager
async def console_running(
    root: Path,
    *,
    stack: Stack | None = None,
    limits: Limits = ROOMY,
    team_port: int = 0,
    listen: str = "127.0.0.1",
    prometheus_url: str | None = None,
    run: RunDir | None = None,
    also: list[Path] | None = None,
) -> AsyncIterator[Running]:
    run = run or RunDir.create("gameday", root / "runs")
    also = also or ([] if stack is None else [stack.run_dir.journal_path])
    config = ConsoleConfig(
        run=run,
        secrets=SECRETS,
        limits=limits,
        prometheus_url=prometheus_url,
        also_journals=also,
        sli_interval_s=1.0,
    )
    console = Console(config, Operator(stack))
    async with serving(console, listen=listen, team_port=team_port) as sites:
        yield Running(console, sites, run)


async def call(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    body: Any = None,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> tuple[int, Any]:
    """One request; its status and JSON body (None when the body is not JSON)."""
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    data: bytes | None = raw
    if body is not None:
        data = json.dumps(body).encode()
        sent.setdefault("Content-Type", "application/json")
    async with session.request(method, url, data=data, headers=sent) as response:
        text = await response.text()
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, None


async def join(session: aiohttp.ClientSession, running: Running, name: str, role: str = "on_call") -> str:
    status, body = await call(
        session, "POST", running.team + "/api/join", {"name": name, "role": role, "code": SECRETS.join_code}
    )
    assert status == 201, body
    token: str = body["token"]
    return token


def webhook_message(
    alert: str = "ErrorBudgetBurnPage",
    *,
    status: str = "firing",
    fingerprint: str = "a1b2c3d4e5f60718",
    starts_at: str = "2026-12-02T21:30:00.123456789Z",
    summary: str = "availability burning",
) -> dict[str, Any]:
    """Alertmanager's webhook body (version 4) with one alert."""
    labels = {"alertname": alert, "severity": "page", "slo": "availability"}
    return {
        "version": "4",
        "groupKey": '{}/{severity="page"}:' + f'{{alertname="{alert}", slo="availability"}}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "pager",
        "groupLabels": {"alertname": alert, "slo": "availability"},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": [
            {
                "status": status,
                "labels": labels,
                "annotations": {
                    "summary": summary,
                    "runbook_url": f"file:///x/docs/runbooks/{alert}.md",
                    "graph_url": "http://127.0.0.1:9090/graph?g0.expr=up",
                },
                "startsAt": starts_at,
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://127.0.0.1:9090/graph",
                "fingerprint": fingerprint,
            }
        ],
    }


# --- the console as its own process ---------------------------------------------------------------------
class ConsoleProcess:
    """``python -m gameday.console`` with the test's secrets in its environment; stopped by PID."""

    def __init__(self, run: Path, tmp: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.run = run
        self.tmp = tmp
        self.args = list(args)
        self.env = {**os.environ, **SECRETS.env(), "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready: dict[str, Any] = {}
        self.starts = 0

    def start(self, timeout_s: float = 30.0) -> dict[str, Any]:
        self.starts += 1
        out = self.tmp / f"console-{self.starts}.out"
        err = self.tmp / f"console-{self.starts}.err"
        with out.open("wb") as o, err.open("wb") as e:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gameday.console", "--run", str(self.run), *self.args],
                cwd=ROOT,
                env=self.env,
                stdout=o,
                stderr=e,
            )

        def ready() -> dict[str, Any] | None:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"console exited {self.proc.returncode}: {err.read_text()}")
            text = out.read_text()
            return json.loads(text.splitlines()[0]) if text.endswith("\n") else None

        self.ready = wait_until(ready, timeout_s, "the console's ready line")
        return self.ready

    @property
    def stderr(self) -> str:
        return (self.tmp / f"console-{self.starts}.err").read_text()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(15)


def wait_for(check: Any, timeout_s: float, what: str) -> Any:
    return wait_until(check, timeout_s, what, every_s=0.05)


def monotonic_ms() -> float:
    return time.monotonic() * 1000
