"""What both apps share: the error body, the observe middleware (metrics, access log, error
rendering, handler panic recovery), health and metrics routes, and telemetry in cleanup contexts."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Middleware
from aiohttp.web_protocol import RequestPayloadError
from opentelemetry.trace import Status, StatusCode

from crashlab.headers import REQUEST_DEADLINE_MS
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
from service.metrics import HttpMetrics, gauge_child, metrics_handler
from service.settings import Settings
from service.spans import SAMPLED_BIT, LeanSpan, LeanTracer, detach, flags_of, is_valid_of
from service.tracing import current_ids, make_tracer_provider, start_server_span

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: called for a recovered handler panic (the game counts it in ``rps_panics_total``)
PanicHook = Callable[[str, BaseException], None]
PANIC_HOOK: web.AppKey[PanicHook] = web.AppKey("panic_hook")
#: more fields for ``GET /healthz`` (the game's switches in force)
HealthDetails = Callable[[], dict[str, Any]]
HEALTH_DETAILS: web.AppKey[HealthDetails] = web.AppKey("health_details")

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


def telemetry_middleware(
    tracer: LeanTracer | None, metrics: HttpMetrics, log: JsonLog, *, with_code: bool
) -> Middleware:
    """Traces (the SERVER span), counts, times and logs every request (one JSON line); renders every
    error as the JSON error body. ``tracer`` None: no server span (benchmark only)."""
    in_flight = gauge_child(metrics.in_flight)
    requests_of, duration_of, errors_of = metrics.requests_of, metrics.duration_of, metrics.errors_of

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        start = loop.time()
        route = route_of(request)
        span = token = None
        if tracer is not None:
            span, token = start_server_span(tracer, request, route)
        in_flight.inc()
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
        except BaseException as exc:
            # only a cancellation or a redirect (HTTPException < 400) gets here
            if span is not None and not isinstance(exc, web.HTTPException):
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise
        finally:
            in_flight.dec()
            elapsed = loop.time() - start
            method = request.method
            status_text = str(status)
            if with_code:
                requests_of[route, method, status_text, code].inc()
            else:
                requests_of[route, method, status_text].inc()
            if code and errors_of is not None and code in CODES:
                errors_of[code, kind].inc()
            fields: dict[str, Any] = {}
            duration = duration_of[route, method]
            if span is not None and is_valid_of(ctx := span.get_span_context()):
                trace_id, span_id = span.hex_ids() if type(span) is LeanSpan else current_ids()
                fields["trace_id"] = trace_id
                fields["span_id"] = span_id
                if flags_of(ctx) & SAMPLED_BIT:
                    duration.observe(elapsed, exemplar={"trace_id": trace_id})
                else:
                    duration.observe(elapsed)
            else:
                duration.observe(elapsed)
            level = "warning" if status >= 500 else "info"
            if log.enabled(level):
                fields["route"] = route
                fields["method"] = method
                fields["status"] = status
                fields["duration_ms"] = round(elapsed * 1000, 2)
                deadline_ms = request.headers.get(REQUEST_DEADLINE_MS)
                if deadline_ms is not None:
                    fields["deadline_ms"] = deadline_ms
                if code:
                    fields["code"] = code
                    fields["kind"] = kind
                log.line(level, "request", fields)
            if span is not None:
                assert token is not None
                if status != 499:
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                detach(token)
                span.end()

    return middleware


class AiohttpLogBridge(logging.Handler):
    """aiohttp's own log records (a request its HTTP parser refused, an error outside the app) as one
    JSON line each in the service's log: a malformed request is the client's doing (a warning without a
    traceback), anything else an error with its traceback in a field. Never on stderr."""

    def __init__(self, log: JsonLog) -> None:
        super().__init__(logging.INFO)
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and 400 <= exc.code < 500:
            first = (exc.message or type(exc).__name__).strip().splitlines()
            self.log.warning(
                "request refused by the HTTP parser", status=exc.code, error=first[0] if first else ""
            )
            return
        fields: dict[str, Any] = {"logger": record.name}
        if exc is not None:
            fields["error"] = f"{type(exc).__name__}: {exc}"
            fields["traceback"] = "".join(traceback.format_exception(exc))
        level = (
            "error"
            if record.levelno >= logging.ERROR
            else "warning"
            if record.levelno >= logging.WARNING
            else "info"
        )
        self.log.log(level, record.getMessage(), **fields)


def route_aiohttp_logs(log: JsonLog) -> None:
    """Send the ``aiohttp`` loggers of this process to ``log`` (once per process: ``crashlab serve``)."""
    logger = logging.getLogger("aiohttp")
    for handler in [h for h in logger.handlers if isinstance(h, AiohttpLogBridge)]:
        logger.removeHandler(handler)
    logger.addHandler(AiohttpLogBridge(log))
    logger.setLevel(logging.INFO)
    logger.propagate = False


async def healthz(request: web.Request) -> web.Response:
    body: dict[str, Any] = {"status": "ok", "service": request.app[SETTINGS].service}
    details = request.app.get(HEALTH_DETAILS)
    if details is not None:
        body |= details()
    return web.json_response(body)


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
    """An app with telemetry, the telemetry middleware, /healthz, /metrics and the admin API."""
    from service.admin import add_admin_routes

    log = log or JsonLog(service, path=settings.log_file, level=settings.log_level)
    provider = make_tracer_provider(
        service, trace_file=settings.trace_file, sample_ratio=settings.profile.trace_sample_ratio
    )
    tracer = None
    if "server_span" not in settings.bench_without:
        tracer = LeanTracer(provider, f"crashlab.{service}")
    app = web.Application(
        client_max_size=settings.client_max_size,
        middlewares=[
            telemetry_middleware(tracer, metrics, log, with_code=service == "game"),
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


#: JSON bodies nested deeper than this are refused (400 ``ERR_INVALID_JSON``); ours need 3 levels
MAX_JSON_DEPTH = 32
#: integers beyond a double's exact range are refused (I-JSON, RFC 7493 section 2.2)
MAX_JSON_INT = 2**53 - 1


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text[:24]}")
    return value


def _exact_int(text: str) -> int:
    if len(text) > 17 or abs(value := int(text)) > MAX_JSON_INT:
        raise ValueError(f"integer out of range (at most {MAX_JSON_INT}): {text[:24]}")
    return value


def _too_deep(value: Any) -> bool:
    if type(value) is dict:  # a request's usual body: an object of scalars, one level
        for child in value.values():
            if isinstance(child, dict | list):
                break
        else:
            return False
    level: list[Any] = [value]
    for _ in range(MAX_JSON_DEPTH):
        level = [
            child
            for node in level
            if isinstance(node, dict | list)
            for child in (node.values() if isinstance(node, dict) else node)
        ]
        if not level:
            return False
    return any(isinstance(node, dict | list) for node in level)


#: what ``json.loads`` with these hooks builds on every call (a decoder and its scanner), made once
_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite, parse_int=_exact_int)


def parse_json(raw: bytes) -> Any:
    """Strict JSON (UTF-8, finite numbers, no NaN, at most :data:`MAX_JSON_DEPTH` levels) or an
    ``ERR_INVALID_JSON`` ApiError saying why."""
    try:
        value = _DECODER.decode(raw.decode("utf-8"))
    except RecursionError:
        raise ApiError("ERR_INVALID_JSON", f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    except UnicodeDecodeError as exc:
        raise ApiError("ERR_INVALID_JSON", f"not UTF-8 (byte {exc.start})") from None
    except ValueError as exc:
        raise ApiError("ERR_INVALID_JSON", f"not valid JSON: {exc}") from None
    if _too_deep(value):
        raise ApiError("ERR_INVALID_JSON", f"nested deeper than {MAX_JSON_DEPTH} levels")
    return value


async def read_body(request: web.Request) -> bytes:
    """The request body within the size limit and ``body_timeout_s``, or the ApiError of the contract
    (413 too large, 408 too slow, 400 cut short, 415 compressed)."""
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        raise ApiError("ERR_UNSUPPORTED_MEDIA_TYPE", "compressed request bodies are not accepted")
    try:
        if request.content.is_eof():
            # the whole body came (a small body comes with its head): nothing to wait for, no timer
            return await request.read()
        async with asyncio.timeout(request.app[SETTINGS].body_timeout_s):
            return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError("ERR_BODY_TOO_LARGE") from None
    except TimeoutError:
        raise ApiError("ERR_BODY_TIMEOUT") from None
    except (ConnectionError, RequestPayloadError):
        # the client hung up (or broke the framing) before the end of the body: whatever we answer,
        # nobody reads it; it is the client's doing, never a 5xx nor a panic
        raise ApiError("ERR_BODY_INCOMPLETE") from None


async def read_json(request: web.Request) -> Any:
    """The request body as JSON, or an ApiError with the right code (415, 413, 408, 400)."""
    if request.content_type != "application/json":
        raise ApiError("ERR_UNSUPPORTED_MEDIA_TYPE")
    return parse_json(await read_body(request))
