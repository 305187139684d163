"""Run one service until SIGTERM/SIGINT, then shut down gracefully: stop accepting, drain in-flight
requests (up to ``shutdown_timeout_s``), finish background work, flush logs and traces."""

from __future__ import annotations

import asyncio
import signal

from aiohttp import web

from service.errors import ServiceError
from service.flags import read_profile
from service.game_app import create_game_app
from service.heap import settle_heap
from service.http import route_aiohttp_logs
from service.keys import LOG, SERVER_CONNECTIONS
from service.odds_app import create_odds_app
from service.settings import Settings

#: seconds an unread request body is drained after the answer before the connection is closed
LINGERING_S = 2.0


def create_app(settings: Settings) -> web.Application:
    if settings.service == "game":
        return create_game_app(settings)
    if settings.flag_file is not None:
        # odds has no switches; it takes the profile's trace settings from the same file
        settings.profile = read_profile(settings.flag_file)
    return create_odds_app(settings)


def make_runner(app: web.Application, settings: Settings) -> web.AppRunner:
    """The AppRunner. Whether a handler whose client hung up is cancelled follows the game's
    ``handler_cancellation`` switch while it runs (``ServerConnections.sync``; naive: abandoned
    requests keep running); the odds service always cancels."""
    return web.AppRunner(
        app,
        handler_cancellation=True,
        access_log=None,
        shutdown_timeout=settings.shutdown_timeout_s,
        handle_signals=False,
        # a request head must be complete within header_timeout_s of the connection (or of the previous
        # answer): aiohttp's keep-alive timer closes connections that have not sent one (slowloris)
        keepalive_timeout=settings.header_timeout_s,
        # after an answer, an unread rest of the body is drained for at most this long, then closed
        lingering_time=LINGERING_S,
        # compressed bodies are refused (415), never inflated: no decompression bomb
        auto_decompress=False,
    )


async def start(app: web.Application, settings: Settings) -> tuple[web.AppRunner, int]:
    """Set up and start serving; returns the runner and the bound port."""
    runner = make_runner(app, settings)
    await runner.setup()
    assert runner.server is not None
    app[SERVER_CONNECTIONS].attach(runner.server)
    site = web.TCPSite(runner, settings.host, settings.port, backlog=2048, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise ServiceError(
            f"{settings.service}: cannot listen on {settings.host}:{settings.port}: {exc.strerror}"
        ) from None
    port = settings.port
    if runner.addresses:
        port = int(runner.addresses[0][1])
    return runner, port


async def serve(settings: Settings) -> int:
    try:
        app = create_app(settings)
    except OSError as exc:
        raise ServiceError(f"{settings.service}: {exc.filename or ''}: {exc.strerror}") from None
    route_aiohttp_logs(app[LOG])
    runner, port = await start(app, settings)
    settle_heap()
    settings.port = port
    app[LOG].info(
        "listening",
        host=settings.host,
        port=port,
        profile=settings.profile.name,
        switches=settings.profile.switches(),
        # every setting in force at start (from the flag file when there is one)
        settings=settings.profile.model_dump(mode="json"),
        flag_file=str(settings.flag_file) if settings.flag_file else None,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    app[LOG].info("shutdown requested; draining")
    await runner.cleanup()
    return 0
