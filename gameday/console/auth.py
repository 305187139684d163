"""Who may do what: the join code, member tokens, the facilitator token and the pager's token.

- A person joins the team console with the join code (printed in the facilitator's terminal) and gets a
  **member token**: ``m1.<name, base64url>.<HMAC-SHA256 of the name under the game day's secret>``. The
  console stores no token: it checks the signature and that the journal has the member's ``joined``
  record, so a member keeps their token across a console restart.
- The **facilitator token** opens the facilitator console only; a member token there is refused (403).
- The **pager token** is the bearer Alertmanager sends to ``POST /hooks/alertmanager``.

Tokens travel in ``Authorization: Bearer <token>`` (every state-changing request; never a cookie); the
event streams also take ``?token=`` (an ``EventSource`` cannot set headers; the streams only read).
Every comparison is constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web

from gameday.console.http import ConsoleError

ENV_SECRET = "CRASHLAB_GAMEDAY_SECRET"
ENV_FACILITATOR_TOKEN = "CRASHLAB_GAMEDAY_FACILITATOR_TOKEN"
ENV_JOIN_CODE = "CRASHLAB_GAMEDAY_JOIN_CODE"
ENV_PAGER_TOKEN = "CRASHLAB_GAMEDAY_PAGER_TOKEN"
#: join codes are read aloud and typed: no 0/O, 1/I/L
JOIN_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
JOIN_CODE_LENGTH = 8
_MEMBER_PREFIX = "m1"


def new_join_code() -> str:
    return "".join(secrets.choice(JOIN_ALPHABET) for _ in range(JOIN_CODE_LENGTH))


def normalise_code(code: str) -> str:
    """What the person typed, as the code is printed (case, spaces and dashes do not matter)."""
    return "".join(code.split()).replace("-", "").upper()


@dataclass(frozen=True)
class Secrets:
    """The game day's secrets; the runner passes the same ones to every (re)start of the console."""

    #: signs member tokens
    secret: str
    facilitator_token: str
    join_code: str
    pager_token: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> tuple[Secrets, list[str]]:
        """The secrets from the environment; a missing one is made up. Returns the names made up."""
        env = os.environ if env is None else env
        made: list[str] = []

        def get(name: str, make: str) -> str:
            value = env.get(name, "").strip()
            if value:
                return value
            made.append(name)
            return make

        found = cls(
            secret=get(ENV_SECRET, secrets.token_urlsafe(32)),
            facilitator_token=get(ENV_FACILITATOR_TOKEN, secrets.token_urlsafe(24)),
            join_code=normalise_code(get(ENV_JOIN_CODE, new_join_code())),
            pager_token=get(ENV_PAGER_TOKEN, secrets.token_urlsafe(24)),
        )
        return found, made

    def env(self) -> dict[str, str]:
        """The environment that gives a console these secrets."""
        return {
            ENV_SECRET: self.secret,
            ENV_FACILITATOR_TOKEN: self.facilitator_token,
            ENV_JOIN_CODE: self.join_code,
            ENV_PAGER_TOKEN: self.pager_token,
        }

    # --- member tokens ---------------------------------------------------------------------------------
    def _signature(self, name: str) -> str:
        mac = hmac.new(self.secret.encode(), b"member:" + name.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def member_token(self, name: str) -> str:
        encoded = base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")
        return f"{_MEMBER_PREFIX}.{encoded}.{self._signature(name)}"

    def member_of(self, token: str) -> str | None:
        """The member's name when ``token`` is one this game day signed, else None."""
        prefix, _, rest = token.partition(".")
        encoded, _, signature = rest.partition(".")
        if prefix != _MEMBER_PREFIX or not encoded or not signature or len(token) > 512:
            return None
        try:
            name = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        except (binascii.Error, UnicodeError, ValueError):
            return None
        return name if hmac.compare_digest(self._signature(name), signature) else None

    def code_matches(self, code: str) -> bool:
        return hmac.compare_digest(_bytes(normalise_code(code)), _bytes(self.join_code))

    def is_facilitator(self, token: str) -> bool:
        return hmac.compare_digest(_bytes(token), _bytes(self.facilitator_token))

    def is_pager(self, token: str) -> bool:
        return hmac.compare_digest(_bytes(token), _bytes(self.pager_token))


def _bytes(text: str) -> bytes:
    # a header that was not UTF-8 arrives with surrogates: it only has to not match
    return text.encode("utf-8", "replace")


def bearer(request: web.Request, *, query: bool = False) -> str:
    """The request's bearer token (``?token=`` too when ``query``); a 401 when there is none."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    if query and request.query.get("token"):
        return request.query["token"]
    where = "an Authorization: Bearer header" + (" or ?token=" if query else "")
    raise ConsoleError(401, f"a token is required ({where})")
