"""The odds dependency: the third-party gateway the game calls for win rates and to record rounds.

Its own faults (latency, first-byte stall, errors, hang, reset, ...) apply to ``/odds/*`` and
``/results``; health, metrics and admin stay answerable.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from service.errors import CODES, ApiError
from service.faults import ODDS_FAULTS
from service.http import Handler, base_app, faults_ctx, read_json
from service.keys import FAULTS, SERVER_CONNECTIONS
from service.metrics import OddsMetrics
from service.settings import Settings

MAX_PLAYERS = 100_000
PLAYER_ID = re.compile(r"[A-Za-z0-9_.:@-]{1,64}")
RESULTS = ("win", "lose", "draw")


class Ledger:
    """Per-player round counts (bounded, least recently used players dropped)."""

    def __init__(self) -> None:
        self._players: OrderedDict[str, list[int]] = OrderedDict()

    def record(self, player: str, result: str) -> None:
        counts = self._players.pop(player, None) or [0, 0, 0]
        counts[RESULTS.index(result)] += 1
        self._players[player] = counts
        if len(self._players) > MAX_PLAYERS:
            self._players.popitem(last=False)

    def odds(self, player: str) -> dict[str, Any]:
        wins, losses, draws = self._players.get(player, [0, 0, 0])
        rounds = wins + losses + draws
        return {
            "player_id": player,
            "win_rate": round(wins / rounds, 4) if rounds else 1 / 3,
            "rounds": rounds,
        }


LEDGER = web.AppKey("ledger", Ledger)


def _valid_player(player: str) -> bool:
    return PLAYER_ID.fullmatch(player) is not None


async def get_odds(request: web.Request) -> web.Response:
    player = request.match_info["player_id"]
    if not _valid_player(player):
        raise ApiError("ERR_INVALID_PLAYER")
    return web.json_response(request.app[LEDGER].odds(player))


async def post_result(request: web.Request) -> web.Response:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ApiError("ERR_INVALID_BODY", "body must be an object {player_id, result, round_id}")
    player, result = body.get("player_id"), body.get("result")
    if not isinstance(player, str) or not _valid_player(player):
        raise ApiError("ERR_INVALID_PLAYER")
    if result not in RESULTS:
        raise ApiError("ERR_INVALID_BODY", "result must be win, lose or draw")
    request.app[LEDGER].record(player, result)
    return web.json_response({"recorded": True, "round_id": body.get("round_id")}, status=201)


async def readyz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ready", "faults": request.app[FAULTS].counts()})


def fault_middleware() -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if not (path.startswith("/odds/") or path == "/results"):
            return await handler(request)
        store = request.app[FAULTS]
        await store.hold("stall")
        reset = store.hit("reset")
        if reset is not None and request.transport is not None:
            request.transport.abort()
            raise asyncio.CancelledError  # nothing more to do for this request
        hang = store.hit("hang")
        if hang is not None:
            await hang.ended.wait()
        errors = store.error()
        response = await handler(request) if errors is None else None
        await store.hold("latency")
        if errors is not None:
            code = errors.code if errors.code in CODES else "SYS_INJECTED"
            raise ApiError(code, errors.code or "injected error", status=errors.status)
        assert response is not None
        return response

    return middleware


def create_odds_app(settings: Settings) -> web.Application:
    metrics = OddsMetrics()
    app = base_app("odds", settings, metrics, extra_middlewares=(fault_middleware(),))
    app[LEDGER] = Ledger()
    app.cleanup_ctx.append(faults_ctx(ODDS_FAULTS))
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/odds/{player_id}", get_odds)
    app.router.add_post("/results", post_result)
    metrics.open_connections.set_function(lambda: float(app[SERVER_CONNECTIONS].count()))
    return app
