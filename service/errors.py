"""The service error taxonomy: every error answer is ``{code, kind, message, trace_id}``.

Kinds follow the incident write-up: ``business`` (the caller's fault, 4xx), ``system`` (ours) and
``third_party`` (the odds dependency). Codes are stable: drills, dashboards and reports key on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from crashlab.errors import CrashlabError

Kind = Literal["business", "system", "third_party"]


class ServiceError(CrashlabError):
    """A service could not start or was configured wrongly; the message says what and where."""


@dataclass(frozen=True)
class ErrorCode:
    code: str
    kind: Kind
    status: int
    message: str


def _c(code: str, kind: Kind, status: int, message: str) -> ErrorCode:
    return ErrorCode(code, kind, status, message)


#: Every code either service can answer with.
CODES: dict[str, ErrorCode] = {
    c.code: c
    for c in (
        _c("ERR_INVALID_CHOICE", "business", 400, "player_choice must be one of rock, paper, scissors"),
        _c("ERR_INVALID_JSON", "business", 400, "the request body is not valid JSON"),
        _c("ERR_INVALID_BODY", "business", 400, "the request body does not match the schema"),
        _c("ERR_INVALID_PLAYER", "business", 400, "the player id is not valid"),
        _c("ERR_UNSUPPORTED_MEDIA_TYPE", "business", 415, "the request body must be application/json"),
        _c("ERR_BODY_TOO_LARGE", "business", 413, "the request body is too large"),
        _c("ERR_BODY_TIMEOUT", "business", 408, "the request body did not arrive in time"),
        _c("ERR_BODY_INCOMPLETE", "business", 400, "the request body ended before its declared length"),
        _c("ERR_NOT_FOUND", "business", 404, "no such route"),
        _c("ERR_METHOD_NOT_ALLOWED", "business", 405, "method not allowed on this route"),
        _c("ERR_RATE_LIMITED", "business", 429, "too many rounds for this player; slow down"),
        _c("ERR_UNAUTHORIZED", "business", 401, "a valid admin bearer token is required"),
        _c("ERR_FORBIDDEN", "business", 403, "the admin API only answers loopback peers"),
        _c("ERR_INVALID_FAULT", "business", 400, "the fault is not valid"),
        _c("ERR_FAULT_NOT_FOUND", "business", 404, "no such fault"),
        _c("ERR_TOO_MANY_FAULTS", "business", 409, "the service holds the most active faults it takes"),
        _c("SYS_OVERLOADED", "system", 503, "the service is overloaded; retry later"),
        _c("SYS_INTERNAL", "system", 500, "an unexpected error was recovered"),
        _c("SYS_INJECTED", "system", 500, "an injected error"),
        _c("TP_ODDS_TIMEOUT", "third_party", 504, "the odds service did not answer in time"),
        _c("TP_ODDS_UNAVAILABLE", "third_party", 502, "the odds service failed"),
        _c("TP_ODDS_CIRCUIT_OPEN", "third_party", 503, "the odds circuit is open"),
        _c("TP_ODDS_BULKHEAD_FULL", "third_party", 503, "too many concurrent odds calls"),
        _c("TP_ODDS_BAD_RESPONSE", "third_party", 502, "the odds service answered something unexpected"),
    )
}


class ApiError(Exception):
    """Raised by handlers and middlewares; rendered as the error body with the code's status."""

    def __init__(
        self,
        code: str,
        message: str | None = None,
        *,
        retry_after_s: float | None = None,
        status: int | None = None,
    ) -> None:
        self.error = CODES[code]
        self.message = message or self.error.message
        self.retry_after_s = retry_after_s
        self._status = status
        super().__init__(f"{code}: {self.message}")

    @property
    def code(self) -> str:
        return self.error.code

    @property
    def status(self) -> int:
        return self._status or self.error.status

    @property
    def kind(self) -> Kind:
        return self.error.kind
