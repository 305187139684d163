"""What both consoles share at the HTTP level: the one-line JSON error, the middlewares (errors, security
headers) and reading a JSON body within the limits.

Every refused request is a 4xx with ``{"error": "...", "field": "..."}`` (``field`` when one field is at
fault) and changes nothing: bodies are read and validated completely before anything is written.
"""

from __future__ import annotations

import asyncio
import logging
import unicodedata
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError
from pydantic import BaseModel, ValidationError

from service.errors import ApiError
from service.http import parse_json

log = logging.getLogger("gameday.console")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Model = TypeVar("Model", bound=BaseModel)

#: the pages load their own scripts and styles only; nothing inline, nothing from elsewhere
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class ConsoleError(Exception):
    """A refused request: its status, a one-line message and the field at fault."""

    def __init__(
        self, status: int, message: str, field: str | None = None, *, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.retry_after_s = retry_after_s


def error_response(
    status: int, message: str, field: str | None = None, retry_after_s: float | None = None
) -> web.Response:
    body: dict[str, Any] = {"error": " ".join(message.split())}
    if field is not None:
        body["field"] = field
    response = web.json_response(body, status=status)
    if retry_after_s is not None:
        response.headers["Retry-After"] = str(max(1, round(retry_after_s + 0.5)))
    return response


_HTTP_MESSAGES = {
    404: "no such page or API route",
    405: "method not allowed on this route",
    413: "request body too large",
}


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error as the one-line JSON error; nothing unexpected leaks a traceback to a client."""
    try:
        response = await handler(request)
    except ConsoleError as exc:
        response = error_response(exc.status, exc.message, exc.field, exc.retry_after_s)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_response(exc.status, _HTTP_MESSAGES.get(exc.status, exc.reason))
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        response = error_response(500, "internal error; see the console's log")
    return response


@web.middleware
async def headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path.startswith(("/api/", "/hooks/")):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


async def read_json(request: web.Request, limit: int, timeout_s: float) -> Any:
    """The body as strict JSON (``application/json``, at most ``limit`` bytes, within ``timeout_s``)."""
    if request.content_type != "application/json":
        raise ConsoleError(415, "the body must be JSON (Content-Type: application/json)")
    if request.headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity"):
        raise ConsoleError(415, "compressed bodies are not accepted")
    if request.content_length is not None and request.content_length > limit:
        raise ConsoleError(413, f"request body too large (at most {limit} bytes)")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            while chunk := await request.content.read(64 * 1024):
                size += len(chunk)
                if size > limit:
                    raise ConsoleError(413, f"request body too large (at most {limit} bytes)")
                chunks.append(chunk)
    except TimeoutError:
        raise ConsoleError(408, f"the body did not arrive within {timeout_s:.0f} s") from None
    except (ConnectionError, RequestPayloadError):
        raise ConsoleError(400, "the body was cut short") from None
    try:
        return parse_json(b"".join(chunks))
    except ApiError as exc:
        raise ConsoleError(400, f"the body is not valid JSON: {exc.message}") from None


def validate(model: type[Model], data: Any, prefix: str = "") -> Model:
    """``data`` as ``model``, or a 400 naming the first field at fault (under ``prefix``)."""
    if not isinstance(data, dict):
        what = f"{prefix} must be" if prefix else "the body must be"
        raise ConsoleError(400, f"{what} a JSON object (got {_json_type(data)})", prefix or None)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in ([prefix] if prefix else []) + list(first["loc"])) or None
        message = first["msg"]
        if first["type"] == "extra_forbidden":
            message = "unknown field"
        elif first["type"] == "missing":
            message = "required"
        raise ConsoleError(400, f"{field}: {message}" if field else message, field) from None


def _json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


async def read_model(request: web.Request, model: type[Model], limit: int, timeout_s: float) -> Model:
    return validate(model, await read_json(request, limit, timeout_s))


#: bidirectional controls (they can make a note read as something else): never in typed text
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def clean_text(value: str, *, multiline: bool) -> str:
    """What a person typed, stripped; ``ValueError`` for control characters (newlines and tabs are fine
    in multi-line text), bidirectional overrides and lone surrogates."""
    text = value.strip()
    for ch in text:
        if multiline and ch in "\n\t":
            continue
        category = unicodedata.category(ch)
        if category in ("Cc", "Cs") or ch in _BIDI:
            raise ValueError(f"contains a control character (U+{ord(ch):04X})")
    return text
