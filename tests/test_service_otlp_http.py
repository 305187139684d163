"""With OTEL_EXPORTER_OTLP_ENDPOINT set, spans go out by OTLP/HTTP (protobuf) to a collector endpoint."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.helpers_service import game_and_odds, play
from tests.support import free_port


async def test_spans_are_exported_by_otlp_http(monkeypatch: pytest.MonkeyPatch) -> None:
    received: list[ExportTraceServiceRequest] = []

    async def traces(request: web.Request) -> web.Response:
        message = ExportTraceServiceRequest()
        message.ParseFromString(await request.read())
        received.append(message)
        return web.Response(body=b"", content_type="application/x-protobuf")

    collector = web.Application()
    collector.router.add_post("/v1/traces", traces)
    runner = web.AppRunner(collector)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    try:
        async with game_and_odds() as (game, _odds), aiohttp.ClientSession() as s:
            trace_id = (await play(s, game))[1]["trace_id"]
            for _ in range(60):  # the batch processor exports about every second
                if any(m.resource_spans for m in received):
                    break
                await asyncio.sleep(0.1)
        # shutdown flushed the rest
        await asyncio.sleep(0.1)
    finally:
        await runner.cleanup()
    services = set()
    trace_ids = set()
    for message in received:
        for rs in message.resource_spans:
            attrs = {a.key: a.value.string_value for a in rs.resource.attributes}
            services.add(attrs["service.name"])
            trace_ids.update(sp.trace_id.hex() for ss in rs.scope_spans for sp in ss.spans)
    assert services == {"game", "odds"}
    assert trace_id in trace_ids
