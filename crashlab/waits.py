"""Waiting for a condition: poll it until it holds or a deadline passes, never sleep-then-look.

``wait_until`` (blocking) and ``wait_until_async`` (a coroutine check, for the event loop) return the
check's first truthy value; after ``timeout_s`` they raise :class:`WaitTimeout`, which names what was
awaited and the last value seen.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from crashlab.errors import CrashlabError

T = TypeVar("T")


class WaitTimeout(CrashlabError, TimeoutError):
    """A condition did not hold within its deadline; the message says which and the last value."""


def _timed_out(what: str, timeout_s: float, last: object) -> WaitTimeout:
    return WaitTimeout(f"timed out after {timeout_s:g} s waiting for {what} (last: {last!r})")


def wait_until(check: Callable[[], T | None], timeout_s: float, what: str, *, every_s: float = 0.1) -> T:
    """Call ``check`` every ``every_s`` until it returns something truthy; return that value."""
    deadline = time.monotonic() + timeout_s
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise _timed_out(what, timeout_s, last)
        time.sleep(min(every_s, max(0.0, deadline - time.monotonic())))


async def wait_until_async(
    check: Callable[[], Awaitable[T | None]], timeout_s: float, what: str, *, every_s: float = 0.1
) -> T:
    """:func:`wait_until` for a coroutine ``check``; sleeps on the event loop between calls."""
    deadline = time.monotonic() + timeout_s
    while True:
        last = await check()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise _timed_out(what, timeout_s, last)
        await asyncio.sleep(min(every_s, max(0.0, deadline - time.monotonic())))
