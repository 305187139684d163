"""The few blocking HTTP calls the runtimes make (health checks, ``/status``, Prometheus' targets,
the local supervisor's control endpoints), with short timeouts; an answer that is not 2xx is None or
False, never an exception, except in :func:`http_call`, which raises :class:`StackError` naming the URL."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from stack.runtime import StackError


def http_json(url: str, timeout_s: float = 2.0) -> Any | None:
    """GET ``url`` and decode its JSON body; None when it does not answer 2xx with JSON."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        exc.close()
        return None
    except (OSError, ValueError):
        return None


def http_ok(url: str, timeout_s: float = 1.0) -> bool:
    """Whether ``url`` answers 2xx to a GET."""
    return request_ok(urllib.request.Request(url), timeout_s)


def request_ok(request: urllib.request.Request, timeout_s: float = 2.0) -> bool:
    """Whether ``request`` is answered 2xx (anything else, or no answer: False)."""
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as resp:
            return 200 <= int(resp.status) < 300
    except urllib.error.HTTPError as exc:
        exc.close()
        return False
    except OSError:
        return False


def http_call(method: str, url: str, body: Any = None, token: str = "", timeout_s: float = 30.0) -> Any:
    """``method url`` with an optional JSON body and bearer token; the decoded JSON answer. Any
    failure raises a :class:`StackError` with the URL and the answer's message."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        with exc:
            text = exc.read().decode(errors="replace")
        try:
            message = json.loads(text).get("message", text)
        except (ValueError, AttributeError):
            message = text
        raise StackError(f"{method} {url} answered {exc.code}: {str(message)[:300]}") from None
    except (OSError, ValueError) as exc:
        raise StackError(f"{method} {url} failed: {exc}") from None
