"""Both consoles of one game day on their sites: the team's (on ``listen``, 127.0.0.1 by default) and the
facilitator's (always 127.0.0.1 only).

When ``listen`` is an address other than loopback or a wildcard, the team console also listens on
127.0.0.1 (same port): Alertmanager, on loopback, still reaches the pager's webhook. The access log
never holds a query string (the event streams carry their token in it).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from gameday.console.app import Console
from gameday.console.facilitator import facilitator_app
from gameday.console.team import team_app

LOOPBACK = "127.0.0.1"
#: how long open requests (event streams end at once) get at shutdown
SHUTDOWN_TIMEOUT_S = 3.0


class AccessLog(AbstractAccessLogger):
    """Method, path (never the query), status and time."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %s %s %.1fms", request.remote, request.method, request.path, response.status, time * 1000
        )


def _is_loopback_or_any(host: str) -> bool:
    if host in ("", "localhost", "0.0.0.0", "::"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def team_hosts(listen: str) -> list[str]:
    """Where the team site listens: ``listen``, and 127.0.0.1 too when ``listen`` covers no loopback
    address (Alertmanager, on loopback, posts the pages there)."""
    return [listen] if _is_loopback_or_any(listen) else [listen, LOOPBACK]


def pager_host(listen: str) -> str:
    """Where Alertmanager (on loopback) reaches the team site: ``listen`` when it is a loopback address,
    else 127.0.0.1 (a wildcard covers it; another address gets a loopback site of its own)."""
    try:
        return listen if ipaddress.ip_address(listen).is_loopback else LOOPBACK
    except ValueError:
        return LOOPBACK


def _url(host: str, port: int) -> str:
    shown = LOOPBACK if host in ("", "0.0.0.0") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


@dataclass(frozen=True)
class Sites:
    team_url: str
    facilitator_url: str
    #: the webhook Alertmanager posts pages to (on loopback)
    pager_url: str
    team_port: int
    facilitator_port: int

    def ready_line(self, pid: int) -> dict[str, object]:
        """What the console prints on stdout once it listens (no secret in it)."""
        return {
            "event": "ready",
            "pid": pid,
            "team_url": self.team_url,
            "facilitator_url": self.facilitator_url,
            "pager_url": self.pager_url,
        }


async def _start(app: web.Application, hosts: list[str], port: int) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log_class=AccessLog,
        access_log=logging.getLogger("gameday.console.access"),
        shutdown_timeout=SHUTDOWN_TIMEOUT_S,
    )
    await runner.setup()
    try:
        for host in hosts:
            site = web.TCPSite(runner, host, port)
            await site.start()
            port = int(runner.addresses[0][1])
    except BaseException:
        await runner.cleanup()
        raise
    return runner, port


@contextlib.asynccontextmanager
async def serving(
    console: Console, *, listen: str = LOOPBACK, team_port: int = 0, facilitator_port: int = 0
) -> AsyncIterator[Sites]:
    """Serve both consoles until the block ends."""
    team, team_port = await _start(team_app(console), team_hosts(listen), team_port)
    try:
        facilitator, facilitator_port = await _start(facilitator_app(console), [LOOPBACK], facilitator_port)
        try:
            yield Sites(
                team_url=_url(listen, team_port),
                facilitator_url=_url(LOOPBACK, facilitator_port),
                pager_url=f"{_url(pager_host(listen), team_port)}hooks/alertmanager",
                team_port=team_port,
                facilitator_port=facilitator_port,
            )
        finally:
            await facilitator.cleanup()
    finally:
        await team.cleanup()
