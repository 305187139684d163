"""The team console: join, the pager, the incident, the timeline, the actions; and the pager's webhook.

Routes (docs/contracts.md, "Game-day consoles"): ``GET /`` (the page), ``POST /api/join``,
``GET /api/state``, ``GET /api/events``, ``POST /api/pages/{page_id}/ack``, ``POST /api/declare``,
``POST /api/notes``, ``POST /api/actions``, ``POST /api/actions/{action_id}/undo``, ``POST /api/resolve``
and ``POST /hooks/alertmanager`` (Alertmanager, with the pager token). Every write needs a member token
in ``Authorization: Bearer``; the stream takes ``?token=``. The team's view never names a fault.
"""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from crashlab.timeutil import iso, utcnow
from gameday.console.app import CONSOLE, Console, base_app, page, state_json
from gameday.console.auth import bearer
from gameday.console.bodies import (
    ActionBody,
    DeclareBody,
    Empty,
    JoinBody,
    NoteBody,
    ResolveBody,
    WantedParams,
)
from gameday.console.http import ConsoleError, read_json, read_model, validate
from gameday.console.operations import UNAVAILABLE, UNDO, Done
from gameday.console.pager import WebhookMessage, page_records
from gameday.console.streams import serve_stream
from gameday.console.views import json_text, page_json
from gameday.state import Member


def _console(request: web.Request) -> Console:
    return request.app[CONSOLE]


def member(request: web.Request, *, query: bool = False) -> Member:
    """The member whose token the request carries; 401 otherwise."""
    console = _console(request)
    name = console.secrets.member_of(bearer(request, query=query))
    if name is None:
        raise ConsoleError(401, "not a member token of this game day; join first")
    found = console.hub.state.members.get(name)
    if found is None:
        raise ConsoleError(401, "not a member of this game day; join first")
    return found


async def _body(request: web.Request, model: Any) -> Any:
    limits = _console(request).limits
    return await read_model(request, model, limits.body_bytes, limits.body_timeout_s)


async def _no_body(request: web.Request) -> None:
    if request.body_exists:
        await _body(request, Empty)


def _writer(request: web.Request) -> tuple[Console, Member]:
    """A member's write: authenticated, within the write rate, before the end."""
    console = _console(request)
    who = member(request)
    console.take(console.write_rate, who.name, "requests")
    console.refuse_after_end()
    return console, who


def _new_id(prefix: str, taken: Any) -> str:
    while True:
        candidate = f"{prefix}{secrets.token_hex(4)}"
        if candidate not in taken:
            return candidate


# --- pages -------------------------------------------------------------------------------------------
async def index(request: web.Request) -> web.Response:
    return page(request, "team.html")


async def join(request: web.Request) -> web.Response:
    console = _console(request)
    address = request.remote or "?"
    wait = console.join_rate.wait(address)
    if wait is not None:
        raise ConsoleError(429, "too many wrong join codes from this address", retry_after_s=wait)
    body: JoinBody = await _body(request, JoinBody)
    if not console.secrets.code_matches(body.code):
        # only wrong codes count against the address: the code cannot be guessed by trying
        console.take(console.join_rate, address, "wrong join codes from this address")
        raise ConsoleError(403, "wrong join code", "code")
    console.refuse_after_end()
    state = console.hub.state
    if body.name in state.members:
        raise ConsoleError(409, f"{body.name!r} has joined already; pick another name", "name")
    if len(state.members) >= console.limits.members:
        raise ConsoleError(409, f"the team is full ({console.limits.members} members)")
    console.hub.write("team", "joined", actor=body.name, role=body.role)
    token = console.secrets.member_token(body.name)
    return state_json({"token": token, "member": {"name": body.name, "role": body.role}}, status=201)


async def get_state(request: web.Request) -> web.Response:
    who = member(request)
    view = _console(request).team_view()
    view["me"] = {"name": who.name, "role": who.role}
    return state_json(view)


async def events(request: web.Request) -> web.StreamResponse:
    who = member(request, query=True)
    console = _console(request)
    return await serve_stream(request, console.streams, "team", who.name, json_text(console.team_view()))


async def ack(request: web.Request) -> web.Response:
    console, who = _writer(request)
    await _no_body(request)
    page_id = request.match_info["page_id"]
    found = console.hub.state.pages.get(page_id)
    if found is None:
        raise ConsoleError(404, "no such page", "page_id")
    if found.acked_by is not None:
        raise ConsoleError(409, f"already acked by {found.acked_by} at {iso(found.acked_at or utcnow())}")
    console.hub.write("team", "ack", actor=who.name, page_id=page_id, alert=found.alert)
    return state_json({"page": page_json(console.hub.state.pages[page_id])})


async def declare(request: web.Request) -> web.Response:
    console, who = _writer(request)
    body: DeclareBody = await _body(request, DeclareBody)
    if body.ic not in console.hub.state.members:
        raise ConsoleError(400, "ic: not a member of this game day", "ic")
    console.hub.write("team", "declare", actor=who.name, severity=body.severity, ic=body.ic)
    incident = console.hub.state.incident
    return state_json({"incident": None if incident is None else incident.to_json()})


async def add_note(request: web.Request) -> web.Response:
    console, who = _writer(request)
    body: NoteBody = await _body(request, NoteBody)
    notes = console.hub.state.notes
    if body.kind == "drop":
        target = notes.get(body.ref or "")
        if target is None or target.kind != "hypothesis":
            raise ConsoleError(400, "ref: a drop names the note_id of a hypothesis", "ref")
        if target.dropped_at is not None:
            raise ConsoleError(409, "that hypothesis was dropped already", "ref")
    elif body.ref is not None:
        raise ConsoleError(400, "ref: only a drop names another note", "ref")
    note_id = _new_id("n-", notes)
    fields: dict[str, Any] = {"note_id": note_id, "kind": body.kind, "text": body.text}
    if body.ref is not None:
        fields["ref"] = body.ref
    console.hub.write("team", "note", actor=who.name, **fields)
    return state_json({"note_id": note_id}, status=201)


async def act(request: web.Request) -> web.Response:
    console = _console(request)
    who = member(request)
    console.take(console.action_rate, who.name, "actions")
    console.refuse_after_end()
    body: ActionBody = await _body(request, ActionBody)
    action_id = _new_id("a-", console.hub.state.actions)
    requested_at = iso(utcnow())
    if body.action == UNAVAILABLE:
        wanted = validate(WantedParams, body.params, prefix="params")
        fields: dict[str, Any] = {"params": {"wanted": wanted.wanted}, "result": "not_available"}
        console.hub.write("team", "action", actor=who.name, action_id=action_id, action=UNAVAILABLE, **fields)
        return state_json({"action_id": action_id, "result": "not_available", "before": {}, "after": {}})
    action, params = console.operator.check(body.action, body.params)
    done = await console.operator.run(action, params)
    record = _journal_action(console, who, action_id, action.name, params, requested_at, done)
    return state_json({"action_id": action_id, **record})


def _journal_action(
    console: Console,
    who: Member,
    action_id: str,
    name: str,
    params: dict[str, Any],
    requested_at: str,
    done: Done,
    **extra: Any,
) -> dict[str, Any]:
    """Journal what became of an action (its ``team action`` record); the outcome's fields."""
    record: dict[str, Any] = {"result": done.result, "before": done.before, "after": done.after}
    if done.error is not None:
        record["error"] = done.error
    console.hub.write(
        "team",
        "action",
        actor=who.name,
        action_id=action_id,
        action=name,
        params=params,
        requested_at=requested_at,
        **extra,
        **record,
    )
    return record


async def undo(request: web.Request) -> web.Response:
    console = _console(request)
    who = member(request)
    console.take(console.action_rate, who.name, "actions")
    console.refuse_after_end()
    await _no_body(request)
    action_id = request.match_info["action_id"]
    original = console.hub.state.actions.get(action_id)
    if original is None:
        raise ConsoleError(404, "no such action", "action_id")
    action = console.operator.actions.get(original.action)
    if action is None or not action.undoable or original.result != "ok":
        raise ConsoleError(409, f"{original.action} {action_id} cannot be undone")
    if original.undone_by is not None or action_id in console.undoing:
        raise ConsoleError(409, f"{action_id} is undone already ({original.undone_by or 'in progress'})")
    undo_id = _new_id("a-", console.hub.state.actions)
    requested_at = iso(utcnow())
    console.undoing.add(action_id)
    try:
        done = await console.operator.undo(action, original.params, original.before, original.after)
        params = {"action": original.action}
        record = _journal_action(console, who, undo_id, UNDO, params, requested_at, done, undo_of=action_id)
    finally:
        console.undoing.discard(action_id)
    return state_json({"action_id": undo_id, "undo_of": action_id, **record})


async def resolve(request: web.Request) -> web.Response:
    console, who = _writer(request)
    body: ResolveBody = await _body(request, ResolveBody)
    incident = console.hub.state.incident
    if incident is not None and incident.resolved_at is not None:
        raise ConsoleError(409, f"resolved already by {incident.resolved_by}")
    console.hub.write("team", "resolve", actor=who.name, summary=body.summary)
    resolved = console.hub.state.incident
    return state_json({"incident": None if resolved is None else resolved.to_json()})


# --- the pager's webhook -----------------------------------------------------------------------------
async def alertmanager_hook(request: web.Request) -> web.Response:
    console = _console(request)
    if not console.secrets.is_pager(bearer(request)):
        raise ConsoleError(401, "not the pager token")
    limits = console.limits
    message = validate(
        WebhookMessage, await read_json(request, limits.webhook_body_bytes, limits.body_timeout_s)
    )
    records = page_records(message)
    written, repeats = [], 0
    for record in records:
        if console.hub.state.is_page_news(record["page_id"], record["status"]):
            console.hub.write("team", "page", **record)
            written.append(record["page_id"])
        else:
            repeats += 1
    return state_json({"pages": written, "repeats": repeats})


def team_app(console: Console) -> web.Application:
    """The team console (with the pager's webhook)."""
    app = base_app(console, client_max_size=console.limits.webhook_body_bytes)
    app.router.add_get("/", index)
    app.router.add_post("/api/join", join)
    app.router.add_get("/api/state", get_state)
    app.router.add_get("/api/events", events)
    app.router.add_post("/api/pages/{page_id}/ack", ack)
    app.router.add_post("/api/declare", declare)
    app.router.add_post("/api/notes", add_note)
    app.router.add_post("/api/actions", act)
    app.router.add_post("/api/actions/{action_id}/undo", undo)
    app.router.add_post("/api/resolve", resolve)
    app.router.add_post("/hooks/alertmanager", alertmanager_hook)
    return app
