"""The game service: ``POST /play`` against a seeded computer, calling the odds dependency each round.

Its resilience switches come from a :class:`service.flags.Switchboard` (the flag file through
OpenFeature, or a fixed profile): every request reads the snapshot in force when it starts, and a
change rebuilds only the components whose switch changed (rate-limit buckets, fallback cache, and the
odds client's breaker, bulkhead, retry budget and pooled session) and sets the server's handler
cancellation (aiohttp reads it when a client hangs up).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import Gauge

from crashlab.headers import PLAYER_ID as PLAYER_HEADER
from crashlab.headers import REQUEST_DEADLINE_MS as DEADLINE_HEADER
from crashlab.timeutil import now_iso
from service.errors import CODES, ApiError
from service.faults import GAME_FAULTS
from service.flags import FlagFileSwitchboard, StaticSwitchboard, Switchboard
from service.http import HEALTH_DETAILS, PANIC_HOOK, base_app, faults_ctx, read_json
from service.keys import FAULTS, LOG, SERVER_CONNECTIONS, SETTINGS, TRACER_PROVIDER, ServerConnections
from service.logs import JsonLog
from service.metrics import GameMetrics
from service.odds_client import DEPENDENCY, DependencyError, OddsClient
from service.panics import panic_exit
from service.profile import SWITCHES, Profile
from service.resilience.breaker import State
from service.resilience.ratelimit import PlayerBuckets
from service.resilience.ttlcache import TtlCache
from service.rules import CHOICES, Choice, computer_choice, decide
from service.settings import Settings
from service.tracing import client_trace_configs, current_ids

PLAYER_ID = re.compile(r"[A-Za-z0-9_.:@-]{1,64}")
#: the default table of win rates the fallback answers with when nothing is cached
DEFAULT_TABLE = {"anonymous": 1 / 3}


@dataclass
class Game:
    """The game's state: RNG, dependency client, fixes, background tasks."""

    settings: Settings
    metrics: GameMetrics
    log: JsonLog
    rng: random.Random
    switches: Switchboard
    #: ``rps_switch_enabled{switch}``: 1 while the switch is on
    switch_enabled: Gauge
    #: the HTTP server: whether it cancels abandoned handlers follows ``handler_cancellation``
    connections: ServerConnections
    odds: OddsClient | None = None
    #: per-player token buckets while ``rate_limit`` is on (None: off)
    buckets: PlayerBuckets | None = None
    #: the fallback's recent odds while ``fallback`` is on (None: off)
    cache: TtlCache[float] | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    in_flight: int = 0
    rounds: int = 0

    @property
    def profile(self) -> Profile:
        """The switches in force (read once per request; they change while the service runs)."""
        return self.switches.current

    def apply(self, old: Profile | None, new: Profile) -> None:
        """Rebuild what the new switches change (on the loop, in the same step as the snapshot)."""
        if old is None or old.rate_limit != new.rate_limit:
            rl = new.rate_limit
            self.buckets = PlayerBuckets(rl.rate_per_s, rl.burst, rl.max_players) if rl.enabled else None
        if old is None or old.fallback != new.fallback:
            fb = new.fallback
            self.cache = TtlCache(fb.cache_ttl_s, fb.cache_size) if fb.enabled else None
        if self.odds is not None and old is not None:
            self.odds.apply(old, new)
        if old is not None and old.handler_cancellation != new.handler_cancellation:
            self.connections.sync()
        for name, enabled in new.switches().items():
            self.switch_enabled.labels(name).set(1.0 if enabled else 0.0)
        if old is not None:
            changed = {
                name: getattr(new, name).model_dump()
                for name in SWITCHES
                if getattr(old, name) != getattr(new, name)
            }
            self.log.info("switches changed", changed=changed, source=self.switches.source)

    def spawn(self, coro: Any, where: str) -> None:
        """Fire-and-forget background work; an unexpected error is a panic (recovered or fatal)."""
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self.tasks.discard(t)
            if t.cancelled():
                return
            exc = t.exception()
            if exc is None:
                return
            if isinstance(exc, ApiError) and self.profile.panic_recovery.enabled:
                self.log.warning(f"{where} failed: {exc}", code=exc.code, kind=exc.kind, where=where)
                return
            self.metrics.panics.labels(where).inc()
            if not self.profile.panic_recovery.enabled:
                panic_exit(self.log, where, exc)
            self.log.error(
                f"recovered: {type(exc).__name__}: {exc}", code="SYS_INTERNAL", kind="system", where=where
            )

        task.add_done_callback(done)

    def on_handler_panic(self, where: str, _exc: BaseException) -> None:
        self.metrics.panics.labels(where).inc()


GAME = web.AppKey("game", Game)


def _player(request: web.Request) -> str:
    player = request.headers.get(PLAYER_HEADER, "anonymous")
    if PLAYER_ID.fullmatch(player) is None:
        raise ApiError("ERR_INVALID_PLAYER", f"{PLAYER_HEADER} must be 1..64 of A-Z a-z 0-9 _ . : @ -")
    return player


def _choice(body: Any) -> Choice:
    if not isinstance(body, dict):
        raise ApiError("ERR_INVALID_BODY", 'body must be an object {"player_choice": ...}')
    if len(body) != 1 or "player_choice" not in body:  # the errors' details only when there is one
        unknown = sorted(set(body) - {"player_choice"})
        if unknown:
            raise ApiError("ERR_INVALID_BODY", f"unknown field {unknown[0]!r}")
        raise ApiError("ERR_INVALID_BODY", "player_choice: required")
    choice = body["player_choice"]
    if choice not in CHOICES or not isinstance(choice, str):
        raise ApiError("ERR_INVALID_CHOICE")
    return CHOICES[CHOICES.index(choice)]


def _deadline(request: web.Request, profile: Profile) -> float | None:
    if not profile.deadline.enabled:
        return None
    loop = asyncio.get_running_loop()
    budget_ms = float(profile.deadline.request_ms)
    given = request.headers.get(DEADLINE_HEADER)
    if given is not None:
        with contextlib.suppress(ValueError):
            budget_ms = min(budget_ms, max(0.0, float(given)))
    return loop.time() + budget_ms / 1000


async def _win_rate(game: Game, player: str, deadline: float | None) -> tuple[float, str | None]:
    """The player's win rate from odds, or from the fallback (cache, then default table) with a reason."""
    assert game.odds is not None
    try:
        data = await game.odds.call("get_odds", "GET", f"/odds/{player}", deadline=deadline)
        rate = float(data["win_rate"])
    except DependencyError as exc:
        if game.cache is None:
            raise
        cached = game.cache.get(player)
        reason = exc.outcome if exc.outcome != "rejected" else exc.code.removeprefix("TP_ODDS_").lower()
        if cached is not None:
            game.metrics.degraded_of["cache",].inc()
            return cached, f"cache:{reason}"
        game.metrics.degraded_of["default",].inc()
        return DEFAULT_TABLE.get(player, game.profile.fallback.default_win_rate), f"default:{reason}"
    except (KeyError, TypeError, ValueError):
        raise ApiError("TP_ODDS_BAD_RESPONSE") from None
    if game.cache is not None:
        game.cache.put(player, rate)
    return rate, None


async def _record(game: Game, player: str, result: str, round_id: str, faults: Any) -> None:
    """Background: tell odds about the round (fire-and-forget)."""
    if faults.in_force and faults.hit("exception", "background") is not None:
        raise RuntimeError("injected exception in background work")
    assert game.odds is not None
    deadline = None
    limits = game.switches.current.deadline  # (the switchboard's attribute: no property call)
    if limits.enabled:
        deadline = asyncio.get_running_loop().time() + limits.request_ms / 1000
    await game.odds.call(
        "record_result",
        "POST",
        "/results",
        json={"player_id": player, "result": result, "round_id": round_id},
        deadline=deadline,
    )


async def play(request: web.Request) -> web.Response:
    """A round. Load shedding is here, not in a middleware: it concerns /play only, and a middleware
    is a coroutine layer on every request (with which aiohttp adds one of its own)."""
    game = request.app[GAME]
    profile = game.switches.current  # the switches in force when the round starts
    shed = profile.load_shedding
    if shed.enabled and game.in_flight >= shed.max_in_flight:
        game.metrics.shed.inc()
        raise ApiError("SYS_OVERLOADED", retry_after_s=shed.retry_after_s)
    game.in_flight += 1
    try:
        faults = request.app[FAULTS]
        body = await read_json(request)
        choice = _choice(body)
        player = _player(request)
        buckets = game.buckets
        if buckets is not None:
            wait = buckets.take(player)
            if wait > 0:
                game.metrics.rate_limited.inc()
                raise ApiError("ERR_RATE_LIMITED", retry_after_s=max(1.0, wait))
        if faults.in_force:  # no fault (nearly always): none of the three checks, no coroutine
            if faults.hit("exception", "handler") is not None:
                raise RuntimeError("injected exception in handler")
            await faults.hold("latency")
            errors = faults.error()
            if errors is not None:
                code = errors.code if errors.code in CODES else "SYS_INJECTED"
                raise ApiError(code, "injected error", status=errors.status)
        # the round's working buffer: memory grows with in-flight rounds
        buffer = bytearray(b"\x01") * (profile.round_buffer_kb * 1024)
        deadline = _deadline(request, profile)
        win_rate, degraded = await _win_rate(game, player, deadline)
        computer = computer_choice(game.rng)
        result = decide(choice, computer)
        game.rounds += 1
        round_id = f"{game.settings.seed}-{game.rounds}"
        game.metrics.rounds_of[result,].inc()
        game.spawn(_record(game, player, result, round_id, faults), "background")
        trace_id, _ = current_ids()
        del buffer
        answer: dict[str, Any] = {
            "player_choice": choice,
            "computer_choice": computer,
            "result": result,
            "timestamp": now_iso(),
            "round_id": round_id,
            "trace_id": trace_id,
            "degraded": degraded is not None,
            "win_rate": round(win_rate, 4),
        }
        if degraded is not None:
            answer["degraded_reason"] = degraded
        return web.json_response(answer)
    finally:
        game.in_flight -= 1


async def readyz(request: web.Request) -> web.Response:
    game = request.app[GAME]
    assert game.odds is not None
    circuit = game.odds.circuit_state
    odds_ok = False
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.5)) as session,
            session.get(game.odds.base_url + "/healthz") as r,
        ):
            odds_ok = r.status == 200
    except (aiohttp.ClientError, TimeoutError):
        odds_ok = False
    fallback = game.profile.fallback.enabled
    # with a fallback the game answers (degraded) whatever the dependency does
    ready = fallback or (odds_ok and circuit is not State.OPEN)
    body = {
        "status": "ready" if ready else "not_ready",
        "dependencies": {
            DEPENDENCY: {"reachable": odds_ok, "circuit": circuit.name.lower().replace("_", "-")}
        },
        "fallback": fallback,
        "profile": game.profile.name,
        "faults": request.app[FAULTS].counts(),
    }
    return web.json_response(body, status=200 if ready else 503)


def _healthz_switches(game: Game) -> Callable[[], dict[str, Any]]:
    return lambda: {"switches": game.profile.switches()}


async def _game_ctx(app: web.Application) -> AsyncIterator[None]:
    game = app[GAME]
    game.odds = OddsClient(
        game.settings.odds_url,
        game.profile,
        game.metrics,
        game.log,
        app[TRACER_PROVIDER],
        client_trace_configs(app[TRACER_PROVIDER]),
        random.Random(game.settings.seed + 1),
        client_spans="client_span" not in game.settings.bench_without,
    )
    await game.odds.start()
    game.switches.on_change(game.apply)
    game.switches.start(lambda level, message: game.log.log(level, message))
    try:
        yield
    finally:
        game.switches.close()
    # graceful: let background work finish (bounded), then close connections
    if game.tasks:
        await asyncio.wait(set(game.tasks), timeout=app[SETTINGS].shutdown_timeout_s)
    for task in list(game.tasks):
        task.cancel()
    await game.odds.close()


def switchboard(settings: Settings) -> Switchboard:
    """The flag file through OpenFeature when the settings name one, else the fixed profile."""
    if settings.flag_file is not None:
        board: Switchboard = FlagFileSwitchboard(settings.flag_file)
        settings.profile = board.current
        return board
    return StaticSwitchboard(settings.profile)


def create_game_app(settings: Settings, switches: Switchboard | None = None) -> web.Application:
    switches = switches or switchboard(settings)
    try:
        return _create_game_app(settings, switches)
    except BaseException:
        switches.close()
        raise


def _create_game_app(settings: Settings, switches: Switchboard) -> web.Application:
    metrics = GameMetrics(enabled="metrics" not in settings.bench_without)
    app = base_app("game", settings, metrics)
    gauge = Gauge(
        "rps_switch_enabled", "Switch in force (1 on, 0 off)", ["switch"], registry=metrics.registry
    )
    game = Game(
        settings=settings,
        metrics=metrics,
        log=app[LOG],
        rng=random.Random(settings.seed),
        switches=switches,
        switch_enabled=gauge,
        connections=app[SERVER_CONNECTIONS],
    )
    game.apply(None, switches.current)
    app[GAME] = game
    app[SERVER_CONNECTIONS].cancel_handlers = lambda: game.profile.handler_cancellation.enabled
    app[PANIC_HOOK] = game.on_handler_panic
    app[HEALTH_DETAILS] = _healthz_switches(game)
    app.cleanup_ctx.append(faults_ctx(GAME_FAULTS))
    app.cleanup_ctx.append(_game_ctx)
    app.router.add_post("/play", play)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/openapi.json", openapi)
    return app


async def openapi(request: web.Request) -> web.FileResponse:
    from pathlib import Path

    del request
    return web.FileResponse(
        Path(__file__).parent / "openapi.json", headers={"Content-Type": "application/json"}
    )
