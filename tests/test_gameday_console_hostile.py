"""Hostile input to every console endpoint gets a 4xx with a one-line JSON error and changes nothing:
no token, a wrong token, a member token on the facilitator's routes (and the other way round), the
pager's token anywhere else, oversized, malformed, mistyped and deeply nested bodies, control
characters, unknown routes and methods. Markup typed into a note is kept as text and never leaves the
console as markup. Rate limits answer 429 with Retry-After."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gameday.console.limits import Limits
from tests.helpers_gameday import (
    FACILITATOR,
    PAGER,
    SECRETS,
    Running,
    bearer,
    call,
    console_running,
    join,
    webhook_message,
)

MARKUP = '<script>alert(1)</script><img src=x onerror="alert(2)">&amp;'


@dataclass
class World:
    running: Running
    session: aiohttp.ClientSession
    ana: str
    page_id: str
    action_id: str


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with console_running(tmp_path) as running, aiohttp.ClientSession() as session:
        ana = await join(session, running, "ana", "incident_commander")
        status, body = await call(
            session, "POST", running.team + "/hooks/alertmanager", webhook_message(), headers=PAGER
        )
        assert status == 200 and len(body["pages"]) == 1, body
        status, done = await call(
            session,
            "POST",
            running.team + "/api/actions",
            {"action": "unavailable", "params": {"wanted": "scale out"}},
            token=ana,
        )
        assert status == 200, done
        yield World(running, session, ana, body["pages"][0], done["action_id"])


@dataclass(frozen=True)
class Route:
    site: str  # "team" | "facilitator"
    method: str
    path: str
    #: a valid body (None: the route takes none)
    body: dict[str, Any] | None
    #: who may call it: "member", "facilitator", "pager", "anyone"
    auth: str

    def url(self, w: World) -> str:
        base = w.running.team if self.site == "team" else w.running.facilitator
        return base + self.path.format(page_id=w.page_id, action_id=w.action_id)


ROUTES = [
    Route(
        "team", "POST", "/api/join", {"name": "bo", "role": "on_call", "code": SECRETS.join_code}, "anyone"
    ),
    Route("team", "GET", "/api/state", None, "member"),
    Route("team", "GET", "/api/events", None, "member"),
    Route("team", "POST", "/api/pages/{page_id}/ack", None, "member"),
    Route("team", "POST", "/api/declare", {"severity": "SEV2", "ic": "ana"}, "member"),
    Route("team", "POST", "/api/notes", {"kind": "note", "text": "odds p99 at 8 s"}, "member"),
    Route(
        "team", "POST", "/api/actions", {"action": "unavailable", "params": {"wanted": "more pods"}}, "member"
    ),
    Route("team", "POST", "/api/actions/{action_id}/undo", None, "member"),
    Route("team", "POST", "/api/resolve", {"summary": "breaker on"}, "member"),
    Route("team", "POST", "/hooks/alertmanager", webhook_message(fingerprint="ffff0000"), "pager"),
    Route("facilitator", "GET", "/api/state", None, "facilitator"),
    Route("facilitator", "GET", "/api/events", None, "facilitator"),
    Route("facilitator", "POST", "/api/hint", {"text": "look at odds"}, "facilitator"),
    Route("facilitator", "POST", "/api/extend", {"by": "5m"}, "facilitator"),
    Route("facilitator", "POST", "/api/end", {"reason": "done"}, "facilitator"),
    Route("facilitator", "POST", "/api/reveal", None, "facilitator"),
]
GUARDED = [r for r in ROUTES if r.auth != "anyone"]
WITH_BODY = [r for r in ROUTES if r.body is not None]


def _id(route: Route) -> str:
    return f"{route.site}:{route.method}:{route.path}"


async def hostile(
    w: World,
    route: Route,
    *,
    headers: dict[str, str],
    raw: bytes | None = None,
    content_type: str | None = "application/json",
) -> tuple[int, Any]:
    """Send it; assert a 4xx with a one-line JSON error and an unchanged journal; return it."""
    before = w.running.journal()
    sent = dict(headers)
    if content_type is not None and raw is not None:
        sent["Content-Type"] = content_type
    status, body = await call(w.session, route.method, route.url(w), raw=raw, headers=sent)
    assert 400 <= status < 500, (route, status, body)
    assert isinstance(body, dict) and isinstance(body.get("error"), str), (route, body)
    assert "\n" not in body["error"] and set(body) <= {"error", "field"}, body
    assert w.running.journal() == before, f"{_id(route)} changed the journal"
    return status, body


def credentials(w: World, who: str) -> dict[str, str]:
    return {
        "member": bearer(w.ana),
        "facilitator": FACILITATOR,
        "pager": PAGER,
        "anyone": {},
    }[who]


def valid_raw(route: Route) -> bytes | None:
    return None if route.body is None else json.dumps(route.body).encode()


@pytest.mark.parametrize("route", GUARDED, ids=_id)
async def test_no_token_or_a_wrong_one_is_refused(world: World, route: Route) -> None:
    for headers in ({}, bearer("nope"), {"Authorization": "Basic YW5hOmFuYQ=="}, bearer("m1.YW5h.forged")):
        status, _ = await hostile(world, route, headers=headers, raw=valid_raw(route))
        assert status == 401, (route, headers)


@pytest.mark.parametrize("route", GUARDED, ids=_id)
async def test_each_token_opens_only_its_own_routes(world: World, route: Route) -> None:
    others = [who for who in ("member", "facilitator", "pager") if who != route.auth]
    for who in others:
        status, body = await hostile(world, route, headers=credentials(world, who), raw=valid_raw(route))
        # a member on the facilitator console: forbidden, and said so; anything else: not its token
        expected = 403 if (who == "member" and route.site == "facilitator") else 401
        assert status == expected, (route, who, body)


@pytest.mark.parametrize("route", WITH_BODY, ids=_id)
async def test_bad_bodies_are_refused(world: World, route: Route) -> None:
    headers = credentials(world, route.auth)
    assert route.body is not None
    key = next(iter(route.body))
    big = json.dumps({**route.body, key: "x" * (300 * 1024 if route.auth == "pager" else 17 * 1024)}).encode()
    cases: list[tuple[bytes, str | None, int]] = [
        (big, "application/json", 413),
        (b'{"name": ', "application/json", 400),  # cut JSON
        (b"\xff\xfe{}", "application/json", 400),  # not UTF-8
        (b"[1, 2, 3]", "application/json", 400),
        (b'"text"', "application/json", 400),
        (b"[" * 100 + b"]" * 100, "application/json", 400),
        (b'{"a": NaN}', "application/json", 400),
        (json.dumps(route.body).encode(), "text/plain", 415),
        (json.dumps(route.body).encode(), "application/x-www-form-urlencoded", 415),
    ]
    if route.auth != "pager":  # Alertmanager may add fields: the pager ignores unknown ones
        cases.append((json.dumps({**route.body, "extra": 1}).encode(), "application/json", 400))
    for raw, content_type, expected in cases:
        status, body = await hostile(world, route, headers=headers, raw=raw, content_type=content_type)
        assert status == expected, (route, raw[:40], content_type, body)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/join", {"name": "", "role": "on_call", "code": SECRETS.join_code}, "name"),
        ("/api/join", {"name": "bo\u202eevil", "role": "on_call", "code": SECRETS.join_code}, "name"),
        ("/api/join", {"name": "a\x00b", "role": "on_call", "code": SECRETS.join_code}, "name"),
        ("/api/join", {"name": "facilitator", "role": "on_call", "code": SECRETS.join_code}, "name"),
        ("/api/join", {"name": "b" * 41, "role": "on_call", "code": SECRETS.join_code}, "name"),
        ("/api/join", {"name": "bo", "role": "ceo", "code": SECRETS.join_code}, "role"),
        ("/api/join", {"name": "bo", "role": "on_call", "code": 12345678}, "code"),
        ("/api/join", {"name": "bo", "role": "on_call", "code": "WRONG000"}, "code"),
        ("/api/join", {"name": "ana", "role": "on_call", "code": SECRETS.join_code}, "name"),
        ("/api/declare", {"severity": "SEV0", "ic": "ana"}, "severity"),
        ("/api/declare", {"severity": "SEV1", "ic": "nobody"}, "ic"),
        ("/api/declare", {"severity": "SEV1"}, "ic"),
        ("/api/notes", {"kind": "note", "text": ""}, "text"),
        ("/api/notes", {"kind": "note", "text": "   "}, "text"),
        ("/api/notes", {"kind": "note", "text": "x" * 2001}, "text"),
        ("/api/notes", {"kind": "note", "text": "bell\x07"}, "text"),
        ("/api/notes", {"kind": "rumour", "text": "x"}, "kind"),
        ("/api/notes", {"kind": "note", "text": 5}, "text"),
        ("/api/notes", {"kind": "drop", "text": "x", "ref": "n-nothere"}, "ref"),
        ("/api/notes", {"kind": "drop", "text": "x"}, "ref"),
        ("/api/notes", {"kind": "note", "text": "x", "ref": "../etc"}, "ref"),
        ("/api/actions", {"action": "scale_out", "params": {}}, "action"),
        ("/api/actions", {"action": "flag", "params": {"warp_drive": True}}, "params.warp_drive"),
        ("/api/actions", {"action": "flag", "params": {"circuit_breaker": "yes"}}, "params.circuit_breaker"),
        ("/api/actions", {"action": "flag", "params": {}}, "params"),
        ("/api/actions", {"action": "flag", "params": [1]}, "params"),
        ("/api/actions", {"action": "unavailable", "params": {}}, "params.wanted"),
        ("/api/actions", {"action": "unavailable", "params": {"wanted": "x", "more": 1}}, "params.more"),
        ("/api/actions", {"action": 7}, "action"),
        ("/api/resolve", {"summary": None}, "summary"),
    ],
)
async def test_invalid_team_requests_name_the_field(
    world: World, path: str, body: dict[str, Any], field: str
) -> None:
    headers = {} if path == "/api/join" else bearer(world.ana)
    route = Route("team", "POST", path, body, "member")
    status, answer = await hostile(world, route, headers=headers, raw=json.dumps(body).encode())
    assert answer.get("field") == field, answer
    assert status in (400, 403, 409), answer


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/hint", {"text": ""}, "text"),
        ("/api/hint", {"text": ["a"]}, "text"),
        ("/api/extend", {"by": "forever"}, "by"),
        ("/api/extend", {"by": 0}, "by"),
        ("/api/extend", {"by": -60}, "by"),
        ("/api/extend", {"by": "5h"}, "by"),
        ("/api/extend", {"by": True}, "by"),
        ("/api/end", {"reason": "a\nb"}, "reason"),
        ("/api/end", {"reason": "x" * 201}, "reason"),
    ],
)
async def test_invalid_facilitator_requests_name_the_field(
    world: World, path: str, body: dict[str, Any], field: str
) -> None:
    route = Route("facilitator", "POST", path, body, "facilitator")
    status, answer = await hostile(world, route, headers=FACILITATOR, raw=json.dumps(body).encode())
    assert status == 400 and answer.get("field") == field, answer


async def test_unknown_ids_routes_and_methods(world: World) -> None:
    w = world
    member = bearer(w.ana)
    cases = [
        (Route("team", "POST", "/api/pages/nope-20260101T000000.000Z/ack", None, "member"), member, 404),
        (Route("team", "POST", "/api/actions/a-00000000/undo", None, "member"), member, 404),
        (Route("team", "POST", "/api/actions/{action_id}/undo", None, "member"), member, 409),  # not undoable
        (Route("team", "GET", "/api/nothing", None, "member"), member, 404),
        (Route("team", "DELETE", "/api/notes", None, "member"), member, 405),
        (Route("team", "GET", "/api/notes", None, "member"), member, 405),
        (Route("team", "PUT", "/hooks/alertmanager", None, "pager"), PAGER, 405),
        (Route("team", "GET", "/runbooks/..%2Fsecrets.md", None, "anyone"), {}, 404),
        (Route("team", "GET", "/runbooks/NoSuchAlert.md", None, "anyone"), {}, 404),
        (Route("team", "GET", "/static/..%2F..%2Fapp.py", None, "anyone"), {}, 404),
        (Route("facilitator", "POST", "/api/join", None, "anyone"), {}, 404),
        (Route("facilitator", "POST", "/hooks/alertmanager", None, "pager"), PAGER, 404),
        (Route("facilitator", "POST", "/api/notes", None, "member"), member, 404),
    ]
    for route, headers, expected in cases:
        status, body = await hostile(w, route, headers=headers)
        assert status == expected, (route, body)
    # a page acked twice: the second is a conflict and changes nothing
    status, _ = await call(w.session, "POST", f"{w.running.team}/api/pages/{w.page_id}/ack", token=w.ana)
    assert status == 200
    status, body = await hostile(
        w, Route("team", "POST", "/api/pages/{page_id}/ack", None, "member"), headers=member
    )
    assert status == 409 and "already acked by ana" in body["error"]


async def test_a_bad_webhook_delivery_changes_nothing(world: World) -> None:
    route = Route("team", "POST", "/hooks/alertmanager", None, "pager")
    bad_alerts = [
        {"status": "exploded"},
        {"fingerprint": "not-hex!"},
        {"startsAt": "yesterday"},
        {"labels": {"alertname": 5}},
        {"annotations": ["runbook"]},
    ]
    for change in bad_alerts:
        message = webhook_message(fingerprint="0badc0de")
        message["alerts"][0].update(change)
        status, body = await hostile(world, route, headers=PAGER, raw=json.dumps(message).encode())
        assert status == 400 and body.get("field", "").startswith("alerts.0."), body
    many = webhook_message(fingerprint="0badc0de")
    many["alerts"] = many["alerts"] * 201
    status, body = await hostile(world, route, headers=PAGER, raw=json.dumps(many).encode())
    assert status == 400 and body["field"] == "alerts"


async def test_markup_in_a_note_is_text_everywhere(world: World) -> None:
    w = world
    status, body = await call(
        w.session, "POST", w.running.team + "/api/notes", {"kind": "hypothesis", "text": MARKUP}, token=w.ana
    )
    assert status == 201, body
    (note,) = w.running.records("team", "note")
    assert note["text"] == MARKUP  # the journal keeps what was typed, as data
    for url, headers in (
        (w.running.team + "/api/state", bearer(w.ana)),
        (w.running.facilitator + "/api/state", FACILITATOR),
    ):
        async with w.session.get(url, headers=headers) as response:
            raw = await response.text()
            assert response.headers["Content-Type"].startswith("application/json")
            assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "<" not in raw and ">" not in raw and "&amp;" not in raw  # escaped as \u003c, \u003e, \u0026
        assert json.loads(raw)["timeline"][-1]["text"] == MARKUP
    for url in (w.running.team + "/", w.running.facilitator + "/"):
        async with w.session.get(url) as response:
            html = await response.text()
            assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert "alert(1)" not in html and "onerror" not in html
    # the event stream: its first state holds the note, escaped
    async with w.session.get(w.running.team + "/api/events", params={"token": w.ana}) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        first = b""
        while b"\r\n\r\n" not in first:
            first += await response.content.readany()
    text = first.decode()
    assert text.startswith("event: state") and "\\u003cscript\\u003e" in text and "<" not in text


async def test_rate_limits_answer_429_and_change_nothing(tmp_path: Path) -> None:
    limits = Limits(
        action_burst=2, action_every_s=60, write_burst=3, write_every_s=60, join_burst=2, join_every_s=60
    )
    async with console_running(tmp_path, limits=limits) as running, aiohttp.ClientSession() as session:
        ana = await join(session, running, "ana")
        wanted = {"action": "unavailable", "params": {"wanted": "x"}}
        for _ in range(2):
            status, _ = await call(session, "POST", running.team + "/api/actions", wanted, token=ana)
            assert status == 200
        before = running.journal()
        async with session.post(running.team + "/api/actions", json=wanted, headers=bearer(ana)) as response:
            assert response.status == 429
            assert 1 <= int(response.headers["Retry-After"]) <= 60
            assert "at most 2 at once, then one every 60 s" in (await response.json())["error"]
        assert running.journal() == before
        # writes are counted apart from actions
        for i in range(3):
            status, _ = await call(
                session, "POST", running.team + "/api/notes", {"kind": "note", "text": f"n{i}"}, token=ana
            )
            assert status == 201
        status, _ = await call(
            session, "POST", running.team + "/api/notes", {"kind": "note", "text": "more"}, token=ana
        )
        assert status == 429
        # wrong join codes: two, then even the right code waits (the code cannot be guessed by trying)
        for _ in range(2):
            status, _ = await call(
                session,
                "POST",
                running.team + "/api/join",
                {"name": "eve", "role": "observer", "code": "GUESS000"},
            )
            assert status == 403
        before = running.journal()
        status, body = await call(
            session,
            "POST",
            running.team + "/api/join",
            {"name": "bo", "role": "observer", "code": SECRETS.join_code},
        )
        assert status == 429, body
        assert running.journal() == before


async def test_a_token_in_the_query_opens_only_the_event_streams(world: World) -> None:
    w = world
    for url, token in (
        (w.running.team + "/api/state", w.ana),
        (w.running.facilitator + "/api/state", SECRETS.facilitator_token),
    ):
        before = w.running.journal()
        async with w.session.get(url, params={"token": token}) as response:
            assert response.status == 401
        async with w.session.post(
            url.replace("/api/state", "/api/notes"),
            params={"token": token},
            json={"kind": "note", "text": "x"},
        ) as response:
            assert response.status in (401, 404)
        assert w.running.journal() == before
