"""What both apps share: the error body, the observe middleware (metrics, access log, error
rendering, handler panic recovery), health and metrics routes, and telemetry in cleanup contexts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware
from opentelemetry import trace

from service.errors import CODES, ApiError
from service.faults import BACKGROUND_STARTERS, FaultStore
from service.keys import (
    FAULTS,
    LOG,
    METRICS,
    SERVER_CONNECTIONS,
    SETTINGS,
    TRACER_PROVIDER,
    ServerConnections,
)
from service.logs import JsonLog
from service.metrics import HttpMetrics, metrics_handler
from service.settings import Settings
from service.tracing import current_ids, make_tracer_provider, tracing_middleware

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: called for a recovered handler panic (the game counts it in ``rps_panics_total``)
PanicHook = Callable[[str, BaseException], None]
PANIC_HOOK: web.AppKey[PanicHook] = web.AppKey("panic_hook")

_HTTP_CODES = {
    404: "ERR_NOT_FOUND",
    405: "ERR_METHOD_NOT_ALLOWED",
    413: "ERR_BODY_TOO_LARGE",
    415: "ERR_UNSUPPORTED_MEDIA_TYPE",
    400: "ERR_INVALID_BODY",
}


def error_response(
    code: str, message: str | None = None, *, status: int | None = None, retry_after_s: float | None = None
) -> web.Response:
    err = CODES[code]
    trace_id, _ = current_ids()
    body = {"code": err.code, "kind": err.kind, "message": message or err.message, "trace_id": trace_id}
    response = web.json_response(body, status=status or err.status)
    if retry_after_s is not None:
        response.headers["Retry-After"] = str(max(0, round(retry_after_s)))
    return response


def route_of(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def observe_middleware(metrics: HttpMetrics, log: JsonLog, *, with_code: bool) -> Middleware:
    """Counts, times and logs every request; renders every error as the JSON error body."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        start = loop.time()
        route = route_of(request)
        metrics.in_flight.inc()
        code = ""
        kind = ""
        status = 499  # the client went away before an answer
        try:
            try:
                response = await handler(request)
            except ApiError as exc:
                code, kind = exc.code, exc.kind
                response = error_response(
                    exc.code, exc.message, status=exc.status, retry_after_s=exc.retry_after_s
                )
            except web.HTTPException as exc:
                if exc.status < 400:
                    status = exc.status
                    raise
                code = _HTTP_CODES.get(exc.status, "ERR_INVALID_BODY" if exc.status < 500 else "SYS_INTERNAL")
                kind = CODES[code].kind
                response = error_response(code, exc.reason, status=exc.status)
            except asyncio.CancelledError:
                code, kind = "CLIENT_GONE", "business"
                raise
            except Exception as exc:
                code, kind = "SYS_INTERNAL", "system"
                hook = request.app.get(PANIC_HOOK)
                if hook is not None:
                    hook("handler", exc)
                log.error(
                    f"recovered: {type(exc).__name__}: {exc}",
                    code=code,
                    kind=kind,
                    route=route,
                    where="handler",
                )
                response = error_response("SYS_INTERNAL")
            status = response.status
            return response
        finally:
            metrics.in_flight.dec()
            elapsed = loop.time() - start
            labels = (
                (route, request.method, str(status), code)
                if with_code
                else (route, request.method, str(status))
            )
            metrics.requests.labels(*labels).inc()
            span_ctx = trace.get_current_span().get_span_context()
            fields: dict[str, Any] = {}
            trace_id = ""
            if span_ctx.is_valid:
                trace_id = format(span_ctx.trace_id, "032x")
                fields["trace_id"] = trace_id
                fields["span_id"] = format(span_ctx.span_id, "016x")
            duration = metrics.duration.labels(route, request.method)
            if trace_id and span_ctx.trace_flags.sampled:
                duration.observe(elapsed, exemplar={"trace_id": trace_id})
            else:
                duration.observe(elapsed)
            fields |= {
                "route": route,
                "method": request.method,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
            }
            deadline_ms = request.headers.get("X-Request-Deadline-Ms")
            if deadline_ms is not None:
                fields["deadline_ms"] = deadline_ms
            if code:
                if metrics.errors is not None and code in CODES:
                    metrics.errors.labels(code, kind).inc()
                fields["code"] = code
                fields["kind"] = kind
            log.log("warning" if status >= 500 else "info", "request", **fields)

    return middleware


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "service": request.app[SETTINGS].service})


async def telemetry_ctx(app: web.Application) -> AsyncIterator[None]:
    """Flushes logs every 200 ms while serving; at shutdown flushes traces, then logs."""
    log = app[LOG]

    async def flusher() -> None:
        while True:
            await asyncio.sleep(0.2)
            log.flush()

    task = asyncio.get_running_loop().create_task(flusher())
    log.info("started", port=app[SETTINGS].port, profile=app[SETTINGS].profile.name)
    yield
    task.cancel()
    log.info("stopping")
    # in a thread: an OTLP/HTTP export must not block the loop (its collector may share it)
    await asyncio.to_thread(app[TRACER_PROVIDER].shutdown)
    log.close()


def faults_ctx(allowed: tuple[str, ...]) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        metrics = app[METRICS]

        def on_change(counts: dict[str, int]) -> None:
            for name, count in counts.items():
                metrics.active_faults.labels(name).set(count)

        store = FaultStore(allowed, on_change=on_change, seed=app[SETTINGS].seed)
        store.starters.update({k: v for k, v in BACKGROUND_STARTERS.items() if k in allowed})
        app[FAULTS] = store
        yield
        store.revert_all()

    return ctx


def base_app(
    service: str,
    settings: Settings,
    metrics: HttpMetrics,
    *,
    log: JsonLog | None = None,
    extra_middlewares: tuple[Middleware, ...] = (),
) -> web.Application:
    """An app with telemetry, the observe middleware, /healthz, /metrics and the admin API."""
    from service.admin import add_admin_routes

    log = log or JsonLog(service, path=settings.log_file, level=settings.log_level)
    provider = make_tracer_provider(
        service, trace_file=settings.trace_file, sample_ratio=settings.profile.trace_sample_ratio
    )
    app = web.Application(
        client_max_size=settings.client_max_size,
        middlewares=[
            tracing_middleware(provider, service),
            observe_middleware(metrics, log, with_code=service == "game"),
            *extra_middlewares,
        ],
    )
    app[SETTINGS] = settings
    app[LOG] = log
    app[METRICS] = metrics
    app[TRACER_PROVIDER] = provider
    app[SERVER_CONNECTIONS] = ServerConnections()
    app.cleanup_ctx.append(telemetry_ctx)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_handler(metrics.registry))  # type: ignore[arg-type]
    add_admin_routes(app)
    return app


async def read_json(request: web.Request) -> Any:
    """The request body as JSON, or an ApiError with the right code (415, 413, 400)."""
    if request.content_type != "application/json":
        raise ApiError("ERR_UNSUPPORTED_MEDIA_TYPE")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError("ERR_BODY_TOO_LARGE") from None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError("ERR_INVALID_JSON") from None
