"""A scripted team playing a game day through the console's HTTP API, exactly as people would: each
member joins with the join code, the team follows the event stream (SSE) and the state for pages and
crashes, and each move is made by its member with their own token once its trigger happened and its
``after`` has passed (:mod:`gameday.team_script` has the format).

The console may go away (it crashed; the runner starts it again): every request is retried until the
game day ends, a member whose token the new console does not know joins again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from crashlab.timeutil import iso, parse_iso, utcnow
from gameday.actions import ACTIONS
from gameday.session import ConsoleLaunch
from gameday.team_script import Move, TeamScript

log = logging.getLogger("crashlab.gameday.team")

#: how often the state is read when the event stream says nothing
POLL_S = 1.0
RETRY_S = 0.5
REQUEST_TIMEOUT_S = 30.0


class ConsoleRefused(Exception):
    """The console answered a move with a 4xx (other than an unknown token): the move is not retried."""


@dataclass
class Outcome:
    """What became of one move."""

    index: int
    by: str
    do: str
    #: ``done``, ``refused`` (a 4xx), ``skipped`` (nothing to do, e.g. no page to ack), ``pending``
    status: str = "pending"
    at: str = ""
    detail: str = ""
    answer: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "move": self.index,
            "by": self.by,
            "do": self.do,
            "status": self.status,
            "at": self.at,
            "detail": self.detail,
        }


@dataclass
class _Trigger:
    at: datetime
    page_id: str | None = None


@dataclass
class ScriptedTeam:
    script: TeamScript
    launch: ConsoleLaunch
    #: the game day's ``--speed``: divides the moves' ``at`` (game time)
    speed: float = 1.0
    say: Callable[[str], None] = lambda line: None
    outcomes: list[Outcome] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)
    _started_at: datetime | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def game_started(self, at: datetime) -> None:
        """The game day's clock started (``on: time`` moves count from here)."""
        self._started_at = at
        self._changed.set()

    @property
    def base(self) -> str:
        return self.launch.team_url.rstrip("/")

    # --- the game ------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Join, then make every move when its time comes; returns when every move is made (cancel it
        when the game day ends)."""
        self.outcomes = [Outcome(i, m.by, m.do) for i, m in enumerate(self.script.moves)]
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for member in self.script.members:
                await self._join(session, member.name)
            listener = asyncio.create_task(self._listen(session), name="team-events")
            played: list[asyncio.Task[None]] = []
            try:
                pending = list(enumerate(self.script.moves))
                while pending:
                    self._changed.clear()
                    state = await self._state(session)
                    for index, move in list(pending):
                        trigger = self._trigger(move, state)
                        if trigger is not None:
                            pending.remove((index, move))
                            played.append(asyncio.create_task(self._play(session, index, move, trigger)))
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(POLL_S):
                            await self._changed.wait()
                await asyncio.gather(*played)
            finally:
                listener.cancel()
                for task in played:
                    task.cancel()
                await asyncio.gather(listener, *played, return_exceptions=True)

    def _trigger(self, move: Move, state: dict[str, Any]) -> _Trigger | None:
        if move.on == "time":
            if self._started_at is None or move.at is None:
                return None
            return _Trigger(self._started_at + timedelta(seconds=move.at / self.speed))
        if move.on == "page":
            pages = sorted(_list(state, "pages"), key=lambda p: str(p.get("delivered_at", "")))
            if len(pages) < move.nth:
                return None
            page = pages[move.nth - 1]
            return _Trigger(_when(page.get("delivered_at")), str(page.get("page_id", "")))
        crashes = sorted(_list(state, "crashes"), key=lambda c: str(c.get("at", "")))
        if len(crashes) < move.nth:
            return None
        return _Trigger(_when(crashes[move.nth - 1].get("at")))

    async def _play(self, session: aiohttp.ClientSession, index: int, move: Move, trigger: _Trigger) -> None:
        due = trigger.at + timedelta(seconds=move.after)
        delay = (due - utcnow()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)
        outcome = self.outcomes[index]
        try:
            answer = await self._make(session, move, trigger)
        except ConsoleRefused as exc:
            outcome.status, outcome.detail = "refused", str(exc)
        except LookupError as exc:
            outcome.status, outcome.detail = "skipped", str(exc)
        else:
            outcome.status, outcome.answer = "done", answer
            outcome.detail = _summary(answer)
        outcome.at = iso(utcnow())
        self.say(
            f"team: {move.by} {move.do}: {outcome.status}{': ' + outcome.detail if outcome.detail else ''}"
        )

    async def _make(self, session: aiohttp.ClientSession, move: Move, trigger: _Trigger) -> Any:
        params = dict(move.with_)
        if move.do == "ack":
            page_id = trigger.page_id or await self._oldest_unacked(session, move.by)
            return await self._post(session, move.by, f"/api/pages/{page_id}/ack", {})
        if move.do == "declare":
            ic = params.get("ic") or next(
                (m.name for m in self.script.members if m.role == "incident_commander"), move.by
            )
            return await self._post(
                session, move.by, "/api/declare", {"severity": params.get("severity", "SEV2"), "ic": ic}
            )
        if move.do == "note":
            body = {"kind": params.get("kind", "note"), "text": params["text"]}
            if params.get("ref"):
                body["ref"] = params["ref"]
            return await self._post(session, move.by, "/api/notes", body)
        if move.do == "resolve":
            return await self._post(session, move.by, "/api/resolve", {"summary": params["summary"]})
        assert move.do in ACTIONS or move.do == "unavailable", move.do
        return await self._post(session, move.by, "/api/actions", {"action": move.do, "params": params})

    async def _oldest_unacked(self, session: aiohttp.ClientSession, member: str) -> str:
        state = await self._state(session, member)
        pages = sorted(_list(state, "pages"), key=lambda p: str(p.get("delivered_at", "")))
        for page in pages:
            if not page.get("acked_by") and page.get("status", "firing") == "firing":
                return str(page.get("page_id"))
        raise LookupError("no unacked page")

    # --- the console's API, retried -------------------------------------------------------------------
    async def _join(self, session: aiohttp.ClientSession, name: str) -> str:
        role = self.script.member(name).role
        body = {"name": name, "role": role, "code": self.launch.join_code}
        while True:
            try:
                async with session.post(f"{self.base}/api/join", json=body) as resp:
                    data = await _json(resp)
                    if resp.status in (200, 201) and isinstance(data, dict) and "token" in data:
                        self.tokens[name] = str(data["token"])
                        return self.tokens[name]
                    if 400 <= resp.status < 500 and resp.status != 429:
                        raise ConsoleRefused(f"join as {name}: {resp.status} {_error(data)}")
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(RETRY_S)

    async def _request(
        self, session: aiohttp.ClientSession, member: str, method: str, path: str, body: Any = None
    ) -> Any:
        """One request as ``member``, retried while the console is away or busy (429); a 401 means a new
        console that does not know the member's token: join again."""
        while True:
            token = self.tokens.get(member) or await self._join(session, member)
            headers = {"Authorization": f"Bearer {token}"}
            try:
                async with session.request(method, f"{self.base}{path}", json=body, headers=headers) as resp:
                    data = await _json(resp)
                    if resp.status < 400:
                        return data
                    if resp.status == 401:
                        self.tokens.pop(member, None)
                    elif resp.status == 429:
                        await asyncio.sleep(float(resp.headers.get("Retry-After", "1") or 1))
                    elif resp.status < 500:
                        raise ConsoleRefused(f"{method} {path}: {resp.status} {_error(data)}")
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(RETRY_S)

    async def _post(self, session: aiohttp.ClientSession, member: str, path: str, body: Any) -> Any:
        return await self._request(session, member, "POST", path, body)

    async def _state(self, session: aiohttp.ClientSession, member: str | None = None) -> dict[str, Any]:
        who = member or self.script.members[0].name
        data = await self._request(session, who, "GET", "/api/state")
        return data if isinstance(data, dict) else {}

    async def _listen(self, session: aiohttp.ClientSession) -> None:
        """Follow the console's event stream; every event wakes the move loop up (it reads the state)."""
        member = self.script.members[0].name
        stream_timeout = aiohttp.ClientTimeout(total=None, sock_connect=5)
        while True:
            token = self.tokens.get(member) or await self._join(session, member)
            try:
                async with session.get(
                    f"{self.base}/api/events", params={"token": token}, timeout=stream_timeout
                ) as resp:
                    if resp.status == 401:
                        self.tokens.pop(member, None)
                    elif resp.status == 200:
                        async for line in resp.content:
                            if line.startswith((b"event:", b"data:")):
                                self._changed.set()
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(RETRY_S)


def _list(state: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = state.get(key)
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _when(value: Any) -> datetime:
    try:
        return parse_iso(str(value))
    except (ValueError, OverflowError):
        return utcnow()


async def _json(resp: aiohttp.ClientResponse) -> Any:
    try:
        return await resp.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError):
        return None


def _error(data: Any) -> str:
    if isinstance(data, dict):
        return str(data.get("error", data))[:200]
    return str(data)[:200]


def _summary(answer: Any) -> str:
    if isinstance(answer, dict) and "result" in answer:
        error = f" ({answer['error']})" if answer.get("error") else ""
        return f"{answer['result']}{error}"
    return ""


def write_outcomes(team: ScriptedTeam, path: Path) -> None:
    """The moves and what became of them, for the run directory (``gameday/team.json``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"script": team.script.source, "moves": [o.to_json() for o in team.outcomes]}
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
