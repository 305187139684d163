"""The console's shared core: one :class:`Console` per game day (the journal followed, the event
streams, the actions, the rate limits) and what both apps are built on (templates, static files,
middlewares, ``/healthz``, the event stream, the runbooks).

``team.team_app(console)`` and ``facilitator.facilitator_app(console)`` are the two app factories; both
hold the same :class:`Console` under :data:`CONSOLE`. Each app's cleanup context takes a share of
:meth:`Console.running` (the journal follower and, with a Prometheus, the SLI reader run while either app
does).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from crashlab.journal import JournalEvent
from crashlab.prometheus import Prometheus
from crashlab.rundir import RunDir
from crashlab.timeutil import utcnow
from gameday.console.auth import Secrets
from gameday.console.http import ConsoleError, errors_middleware, headers_middleware
from gameday.console.hub import FOLLOW_INTERVAL_S, Hub
from gameday.console.limits import Limits, TokenBuckets
from gameday.console.operations import Operator
from gameday.console.sli import SLI_INTERVAL_S, read_slis
from gameday.console.streams import Audience, Message, Streams
from gameday.console.views import Plan, facilitator_view, json_text, record_json, runbook_path, team_view

log = logging.getLogger("gameday.console")
HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


@dataclass(frozen=True)
class ConsoleConfig:
    run: RunDir
    secrets: Secrets
    limits: Limits = field(default_factory=Limits)
    #: the stack's Prometheus, for the facilitator's live SLIs (None: no SLIs)
    prometheus_url: str | None = None
    #: more journals to follow (the stack's, when its run directory is another one)
    also_journals: Sequence[Path] = ()
    sli_interval_s: float = SLI_INTERVAL_S
    follow_interval_s: float = FOLLOW_INTERVAL_S


class Console:
    """One game day's console: what the two apps share."""

    def __init__(self, config: ConsoleConfig, operator: Operator) -> None:
        self.config = config
        self.secrets = config.secrets
        self.limits = config.limits
        self.operator = operator
        self.hub = Hub(config.run.journal_path, config.also_journals)
        self.streams = Streams(config.limits.streams)
        self.plan = Plan(config.run)
        self.slis: dict[str, Any] | None = None
        self.action_rate = TokenBuckets(config.limits.action_burst, config.limits.action_every_s)
        self.write_rate = TokenBuckets(config.limits.write_burst, config.limits.write_every_s)
        self.join_rate = TokenBuckets(config.limits.join_burst, config.limits.join_every_s)
        #: actions being undone right now (a second undo of one is refused until the first is journaled)
        self.undoing: set[str] = set()
        self.hub.listeners.append(self._on_events)
        self._users = 0
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def title(self) -> str:
        manifest = self.plan.manifest()
        title = manifest.get("title") or manifest.get("scenario") or self.config.run.run_id
        return str(title)

    # --- views -----------------------------------------------------------------------------------------
    def team_view(self) -> dict[str, Any]:
        return team_view(
            self.hub.state, utcnow(), actions=self.operator.catalogue(), switches=self.operator.switches()
        )

    def facilitator_view(self) -> dict[str, Any]:
        return facilitator_view(
            self.hub.state,
            utcnow(),
            actions=self.operator.catalogue(),
            switches=self.operator.switches(),
            plan=self.plan,
            slis=self.slis,
        )

    def view(self, audience: Audience) -> dict[str, Any]:
        return self.facilitator_view() if audience == "facilitator" else self.team_view()

    def _on_events(self, events: Sequence[JournalEvent]) -> None:
        for audience in ("team", "facilitator"):
            if not self.streams.of(audience):
                continue
            messages: list[Message] = []
            for event in events:
                record = record_json(event, facilitator=audience == "facilitator")
                if record is not None:
                    messages.append((f"{event.type}.{event.event}", json_text(record)))
            messages.append(("state", json_text(self.view(audience))))
            self.streams.broadcast(audience, messages)

    # --- checks shared by the handlers ----------------------------------------------------------------
    def refuse_after_end(self) -> None:
        life = self.hub.state.lifecycle
        if life.ended:
            raise ConsoleError(409, f"the game day has ended ({life.ended_reason or 'ended'})")

    def take(self, buckets: TokenBuckets, key: str, what: str) -> None:
        wait = buckets.take(key)
        if wait is not None:
            raise ConsoleError(
                429,
                f"too many {what}: at most {buckets.burst} at once, then one every {buckets.every_s:g} s",
                retry_after_s=wait,
            )

    # --- lifetime --------------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The journal followed (and the SLIs read) while at least one app of this console runs."""
        if self._users == 0:
            self.hub.load()
            self._tasks = [asyncio.create_task(self.hub.follow(self.config.follow_interval_s))]
            if self.config.prometheus_url:
                self._tasks.append(
                    asyncio.create_task(self._read_slis(Prometheus(self.config.prometheus_url)))
                )
        self._users += 1
        try:
            yield
        finally:
            self._users -= 1
            if self._users == 0:
                self.streams.close_all()
                for task in self._tasks:
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)
                self._tasks = []

    async def _read_slis(self, prometheus: Prometheus) -> None:
        while True:
            try:
                self.slis = await asyncio.to_thread(read_slis, prometheus)
                self.streams.broadcast("facilitator", [("sli", json_text(self.slis))])
            except Exception:  # the SLIs are a help for the facilitator: never a reason to stop
                log.exception("reading the SLIs failed")
            await asyncio.sleep(self.config.sli_interval_s)


CONSOLE: web.AppKey[Console] = web.AppKey("console", Console)


async def _console_ctx(app: web.Application) -> AsyncIterator[None]:
    async with app[CONSOLE].running():
        yield


async def _close_streams(app: web.Application) -> None:
    # on shutdown (before the handlers are waited for): every open stream ends
    app[CONSOLE].streams.close_all()


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def page(request: web.Request, template: str) -> web.Response:
    """A console's page: a frame the script fills from the API (nothing a person typed is in it)."""
    static = request.app.router["static"]

    def static_url(name: str) -> str:
        return str(static.url_for(filename=name))

    html = TEMPLATES.get_template(template).render(title=request.app[CONSOLE].title, static=static_url)
    return web.Response(text=html, content_type="text/html", charset="utf-8")


async def runbook(request: web.Request) -> web.Response:
    """This checkout's runbook, as plain text (the alerts' ``runbook_url`` points here)."""
    path = runbook_path(request.match_info["name"])
    if path is None:
        raise ConsoleError(404, "no such runbook", "name")
    return web.Response(text=path.read_text(encoding="utf-8"), content_type="text/plain", charset="utf-8")


def base_app(console: Console, *, client_max_size: int) -> web.Application:
    app = web.Application(
        client_max_size=client_max_size, middlewares=[headers_middleware, errors_middleware]
    )
    app[CONSOLE] = console
    app.cleanup_ctx.append(_console_ctx)
    app.on_shutdown.append(_close_streams)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/runbooks/{name}.md", runbook)
    app.router.add_static("/static/", STATIC_DIR, name="static", follow_symlinks=False, append_version=True)
    return app


def state_json(data: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(text=json_text(data), status=status, content_type="application/json")
