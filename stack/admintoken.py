"""The services' admin token from outside: ``crashlab up`` takes ``$CRASHLAB_ADMIN_TOKEN`` when set (else
a fresh random one), so a stack and a remote drill can share it; the ``remote`` runtime reads the file a
drill names (``target.admin_token_file``), else ``$CRASHLAB_ADMIN_TOKEN``; never the drill file itself
(``crashlab validate`` refuses a token there). A token must fit in an ``Authorization: Bearer`` header."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from stack.runtime import StackError

ENV = "CRASHLAB_ADMIN_TOKEN"
#: what a bearer token may hold (RFC 6750 b64token, and what ``secrets.token_urlsafe`` writes)
_TOKEN = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")
#: a token file is one short line; anything bigger is not a token
MAX_TOKEN_FILE_BYTES = 4096


def check_token(token: str, where: str) -> str:
    """``token`` when it is a usable bearer token, else a :class:`StackError` naming ``where`` (never
    the token)."""
    if not token:
        raise StackError(f"{where}: the admin token is empty")
    if not _TOKEN.match(token):
        raise StackError(
            f"{where}: the admin token has characters a bearer token cannot carry "
            "(letters, digits and -._~+/ only, like `openssl rand -base64 24`)"
        )
    return token


def read_token_file(path: Path) -> str:
    """The token in ``path``: its only line (surrounding whitespace dropped). Only a regular file: a
    FIFO or a device (``/dev/stdin``) would block the drill, or its leftover cleanup, forever."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise StackError(f"admin token file {path}: not a regular file (a FIFO, a device or a folder)")
        with path.open("rb") as fh:
            data = fh.read(MAX_TOKEN_FILE_BYTES + 1)
    except OSError as exc:
        raise StackError(f"admin token file {path}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > MAX_TOKEN_FILE_BYTES:
        raise StackError(f"admin token file {path}: over {MAX_TOKEN_FILE_BYTES} bytes, not a token")
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise StackError(f"admin token file {path}: not UTF-8 text") from None
    if "\n" in text:
        raise StackError(f"admin token file {path}: holds more than one line; keep only the token")
    return check_token(text, f"admin token file {path}")


def from_env(env: dict[str, str] | None = None) -> str | None:
    """``$CRASHLAB_ADMIN_TOKEN`` when set (checked), else None."""
    value = (os.environ if env is None else env).get(ENV)
    if value is None or not value.strip():
        return None
    return check_token(value.strip(), f"${ENV}")


def admin_token(token_file: Path | None, env: dict[str, str] | None = None) -> tuple[str, str]:
    """``(token, where it came from)``: the file when one is named, else ``$CRASHLAB_ADMIN_TOKEN``."""
    if token_file is not None:
        return read_token_file(token_file), f"the file {token_file}"
    token = from_env(env)
    if token is None:
        raise StackError(
            f"remote runtime: no admin token: export {ENV} (e.g. from the cluster's Secret, "
            "docs/kubernetes.md) or name a file holding it in target.admin_token_file"
        )
    return token, f"${ENV}"
