"""Small helpers shared by every area's tests. Area-specific fixtures live in tests/helpers_<area>.py.
Ports and waits are the project's own (crashlab.ports, crashlab.waits)."""

from __future__ import annotations

import urllib.error
import urllib.request

from crashlab.ports import free_port
from crashlab.waits import wait_until

__all__ = ["free_port", "wait_http", "wait_until"]


def _answers(url: str, status: int) -> bool | object:
    """True when ``url`` answers ``status``; else what it answered (a status or an error), falsy."""
    try:
        with urllib.request.urlopen(url, timeout=1.0) as resp:
            return resp.status == status or _Last(resp.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code == status or _Last(exc.code)
    except OSError as exc:
        return _Last(exc)


class _Last:
    """A falsy wrapper of the last answer, so the timeout message shows it."""

    def __init__(self, value: object) -> None:
        self.value = value

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return repr(self.value)


def wait_http(url: str, timeout_s: float = 15.0, status: int = 200) -> None:
    """Poll ``url`` until it answers ``status``; a TimeoutError naming the last answer after ``timeout_s``."""
    wait_until(lambda: _answers(url, status), timeout_s, f"{url} to answer {status}", every_s=0.05)
