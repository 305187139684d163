"""The odds client's one attempt, on every way it can end (an answer, an error status, a body that is
not JSON, a timeout, a reset, a cancellation): the outcome it counts, its client span (the status code
attribute only for an answer read, the status), its duration and in-flight metrics, and what becomes of
a per-call connection (naive: kept open, leaked, after an error status)."""

from __future__ import annotations

import asyncio
import io
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from service.logs import JsonLog
from service.metrics import GameMetrics
from service.odds_client import DependencyError, OddsClient
from service.profile import load_profile

#: one attempt a call (no retries), no breaker nor bulkhead: each call is one exchange to look at
ONE_ATTEMPT: dict[str, Any] = {
    "retry": {"enabled": False, "naive_max_attempts": 1},
    "circuit_breaker": False,
    "bulkhead": False,
}
#: hardened: a pooled session, an attempt cut at 0.2 s
POOLED = {**ONE_ATTEMPT, "deadline": {"enabled": True, "request_ms": 5000, "attempt_ms": 200}}
#: set when a call reaches ``/hang``
ARRIVED = web.AppKey("arrived", asyncio.Event)


async def _hang(request: web.Request) -> web.Response:
    request.app[ARRIVED].set()
    await asyncio.sleep(30)
    return web.json_response({})


async def _reset(request: web.Request) -> web.Response:
    assert request.transport is not None
    request.transport.close()
    await asyncio.sleep(30)
    return web.json_response({})


@asynccontextmanager
async def _odds() -> AsyncIterator[tuple[str, asyncio.Event]]:
    """A local odds server: ``/ok``, ``/500``, ``/404``, ``/text`` (200, not JSON), ``/hang``, ``/reset``."""
    app = web.Application()
    arrived = app[ARRIVED] = asyncio.Event()
    app.router.add_get("/ok", _answering(200, None))
    app.router.add_get("/500", _answering(500, "down"))
    app.router.add_get("/404", _answering(404, "none"))
    app.router.add_get("/text", _answering(200, "not json"))
    app.router.add_get("/hang", _hang)
    app.router.add_get("/reset", _reset)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", arrived
    finally:
        await runner.cleanup()


def _answering(status: int, text: str | None) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A handler answering ``status`` with ``text`` (None: a JSON answer)."""

    async def handler(request: web.Request) -> web.Response:
        del request
        if text is None:
            return web.json_response({"win_rate": 0.5}, status=status)
        return web.Response(status=status, text=text)

    return handler


@asynccontextmanager
async def _client(profile: str, base_url: str) -> AsyncIterator[tuple[OddsClient, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    overrides = POOLED if profile == "hardened" else ONE_ATTEMPT
    client = OddsClient(
        base_url,
        load_profile(profile, env={}, overrides=overrides),
        GameMetrics(),
        JsonLog("game", stream=io.StringIO()),
        provider,
        [],
        random.Random(0),
    )
    await client.start()
    try:
        yield client, exporter
    finally:
        await client.close()


def _sample(client: OddsClient, name: str, **labels: str) -> float:
    value = client.metrics.registry.get_sample_value(name, {"dependency": "odds", **labels})
    return value or 0.0


#: path -> (outcome counted, error code raised or None, the span's status code attribute or None,
#: the span's status description or None (unset), leaked in naive)
CASES = {
    "/ok": ("ok", None, 200, None, False),
    "/500": ("error", "TP_ODDS_UNAVAILABLE", 500, "error", True),
    "/404": ("error", "TP_ODDS_UNAVAILABLE", 404, "error", True),
    "/text": ("error", "TP_ODDS_BAD_RESPONSE", 200, "error", False),
    "/reset": ("reset", "TP_ODDS_UNAVAILABLE", None, "reset", False),
}


@pytest.mark.parametrize("profile", ["naive", "hardened"])
@pytest.mark.parametrize("path", list(CASES))
async def test_an_attempt_counts_its_outcome_on_its_span_and_metrics(profile: str, path: str) -> None:
    outcome, code, status_code, description, leaks = CASES[path]
    async with _odds() as (url, _), _client(profile, url) as (client, exporter):
        error: DependencyError | None = None
        try:
            await client.call("op", "GET", path, deadline=asyncio.get_running_loop().time() + 5)
        except DependencyError as exc:
            error = exc
        assert (error.code if error else None) == code
        assert _sample(client, "rps_dependency_requests_total", operation="op", outcome=outcome) == 1
        assert _sample(client, "rps_dependency_request_duration_seconds_count", operation="op") == 1
        assert _sample(client, "rps_dependency_in_flight") == 0
        (span,) = exporter.get_finished_spans()
        assert span.attributes is not None
        assert span.attributes.get("http.response.status_code") == status_code
        if description is None:
            assert span.status.status_code is StatusCode.UNSET
        else:
            assert (span.status.status_code, span.status.description) == (StatusCode.ERROR, description)
        if profile == "naive":
            # naive: a new connection per call, left open (leaked) after an error status only
            assert (len(client._leaked), client._per_call_open) == ((1, 1) if leaks else (0, 0))


@pytest.mark.parametrize("profile", ["naive", "hardened"])
async def test_a_timed_out_attempt(profile: str) -> None:
    async with _odds() as (url, _), _client(profile, url) as (client, exporter):
        loop = asyncio.get_running_loop()
        # naive has no timeout of its own: the call is cut by the caller's (a deadline it does not see)
        deadline = loop.time() + 5
        if profile == "naive":
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):
                    await client.call("op", "GET", "/hang", deadline=deadline)
            expected = ("error", None)  # cancelled by the caller: no outcome counted
        else:
            with pytest.raises(DependencyError) as caught:
                await client.call("op", "GET", "/hang", deadline=deadline)
            assert caught.value.code == "TP_ODDS_TIMEOUT" and caught.value.retryable
            expected = ("timeout", "timeout")
        description, outcome = expected
        (span,) = exporter.get_finished_spans()
        assert span.attributes is not None and "http.response.status_code" not in span.attributes
        assert (span.status.status_code, span.status.description) == (StatusCode.ERROR, description)
        counted = _sample(client, "rps_dependency_requests_total", operation="op", outcome="timeout")
        assert counted == (1 if outcome else 0)
        assert _sample(client, "rps_dependency_request_duration_seconds_count", operation="op") == 1
        assert _sample(client, "rps_dependency_in_flight") == 0
        assert client._per_call_open == 0 and not client._leaked


@pytest.mark.parametrize("profile", ["naive", "hardened"])
async def test_a_cancelled_attempt_ends_its_span_and_releases_its_connection(profile: str) -> None:
    async with _odds() as (url, arrived), _client(profile, url) as (client, exporter):
        call = asyncio.create_task(
            client.call("op", "GET", "/hang", deadline=asyncio.get_running_loop().time() + 5)
        )
        await asyncio.wait_for(arrived.wait(), 5)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        (span,) = exporter.get_finished_spans()
        assert span.attributes is not None and "http.response.status_code" not in span.attributes
        assert (span.status.status_code, span.status.description) == (StatusCode.ERROR, "error")
        assert _sample(client, "rps_dependency_request_duration_seconds_count", operation="op") == 1
        assert _sample(client, "rps_dependency_in_flight") == 0
        assert client._per_call_open == 0 and not client._leaked
        if profile == "hardened":
            pool = client.fixes.pool
            assert pool is not None and pool.users == 0


async def test_a_retired_pool_closes_when_its_last_call_ends() -> None:
    """A pool resized while a call uses it stays open for that call, and closes as the call ends."""
    async with _odds() as (url, arrived), _client("hardened", url) as (client, _):
        old = client.fixes.pool
        assert old is not None
        call = asyncio.create_task(
            client.call("op", "GET", "/hang", deadline=asyncio.get_running_loop().time() + 5)
        )
        await asyncio.wait_for(arrived.wait(), 5)
        profile = client.profile
        pooled = profile.pooled_client.model_copy(update={"limit": profile.pooled_client.limit + 1})
        client.apply(profile, profile.model_copy(update={"pooled_client": pooled}))
        await asyncio.wait(set(client._closers), timeout=5)  # the retirement: the pool has a call
        assert old.retired and not old.session.closed and old in client._retired
        with pytest.raises(DependencyError):  # the attempt's 0.2 s cap
            await call
        assert old.users == 0 and old.session.closed and old not in client._retired
        new = client.fixes.pool
        assert new is not None and new is not old and not new.session.closed
