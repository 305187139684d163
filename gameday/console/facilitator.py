"""The facilitator console: everything the team sees, plus the faults (active, past, next), the live
SLIs, the expected mitigations; and the facilitator's moves: hint, extend, end, reveal.

Routes: ``GET /`` (the page; the token comes in the URL's fragment, never sent to a server),
``GET /api/state``, ``GET /api/events``, ``POST /api/hint``, ``POST /api/extend``, ``POST /api/end``,
``POST /api/reveal``. Every request but ``/`` and ``/healthz`` needs the facilitator token; a member's
token is refused with 403. End, extend and reveal are journal records the runner follows.
"""

from __future__ import annotations

from aiohttp import web

from crashlab.durations import format_duration
from crashlab.timeutil import iso
from gameday.console.app import CONSOLE, Console, base_app, page, state_json
from gameday.console.auth import bearer
from gameday.console.bodies import Empty, EndBody, ExtendBody, HintBody
from gameday.console.http import ConsoleError, read_model
from gameday.console.streams import serve_stream
from gameday.console.views import json_text
from gameday.state import FACILITATOR


def facilitator(request: web.Request, *, query: bool = False) -> Console:
    """The console, when the request carries the facilitator token."""
    console = request.app[CONSOLE]
    token = bearer(request, query=query)
    if console.secrets.is_facilitator(token):
        return console
    if console.secrets.member_of(token) is not None:
        raise ConsoleError(403, "a member token cannot use the facilitator console")
    raise ConsoleError(401, "not the facilitator token")


def _writer(request: web.Request) -> Console:
    console = facilitator(request)
    console.take(console.write_rate, FACILITATOR, "requests")
    console.refuse_after_end()
    return console


async def index(request: web.Request) -> web.Response:
    return page(request, "facilitator.html")


async def get_state(request: web.Request) -> web.Response:
    return state_json(facilitator(request).facilitator_view())


async def events(request: web.Request) -> web.StreamResponse:
    console = facilitator(request, query=True)
    return await serve_stream(
        request, console.streams, "facilitator", FACILITATOR, json_text(console.facilitator_view())
    )


async def hint(request: web.Request) -> web.Response:
    console = _writer(request)
    body = await read_model(request, HintBody, console.limits.body_bytes, console.limits.body_timeout_s)
    record = console.hub.write("team", "hint", actor=FACILITATOR, text=body.text)
    return state_json({"at": iso(record.ts), "text": body.text}, status=201)


async def extend(request: web.Request) -> web.Response:
    console = _writer(request)
    body = await read_model(request, ExtendBody, console.limits.body_bytes, console.limits.body_timeout_s)
    life = console.hub.state.lifecycle
    if life.max_duration_s is None:
        raise ConsoleError(409, "the game day has not started (no max duration to extend)")
    by_s = float(body.by)
    total = life.max_duration_s + by_s
    console.hub.write("gameday", "extended", actor=FACILITATOR, by_s=by_s, max_duration_s=total)
    ends = console.hub.state.lifecycle.ends_at
    return state_json(
        {
            "by_s": by_s,
            "max_duration_s": total,
            "max_duration": format_duration(total),
            "ends_at": ends and iso(ends),
        }
    )


async def end(request: web.Request) -> web.Response:
    console = _writer(request)
    body = await read_model(request, EndBody, console.limits.body_bytes, console.limits.body_timeout_s)
    life = console.hub.state.lifecycle
    if life.end_requested_at is not None:
        raise ConsoleError(409, f"the end was requested already at {iso(life.end_requested_at)}")
    record = console.hub.write(
        "gameday", "end_requested", actor=FACILITATOR, reason=body.reason or "facilitator"
    )
    return state_json({"end_requested_at": iso(record.ts)}, status=202)


async def reveal(request: web.Request) -> web.Response:
    # after the end too: the debrief is when a blind game day's faults are revealed
    console = facilitator(request)
    console.take(console.write_rate, FACILITATOR, "requests")
    if request.body_exists:
        await read_model(request, Empty, console.limits.body_bytes, console.limits.body_timeout_s)
    life = console.hub.state.lifecycle
    if life.revealed_at is not None:
        raise ConsoleError(409, f"the faults were revealed already at {iso(life.revealed_at)}")
    record = console.hub.write("gameday", "revealed", actor=FACILITATOR)
    return state_json({"revealed_at": iso(record.ts)})


def facilitator_app(console: Console) -> web.Application:
    app = base_app(console, client_max_size=console.limits.body_bytes)
    app.router.add_get("/", index)
    app.router.add_get("/api/state", get_state)
    app.router.add_get("/api/events", events)
    app.router.add_post("/api/hint", hint)
    app.router.add_post("/api/extend", extend)
    app.router.add_post("/api/end", end)
    app.router.add_post("/api/reveal", reveal)
    return app
