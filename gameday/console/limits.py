"""The consoles' limits (docs/gameday.md, "Limits"): body sizes, text lengths and the rate limits.

Rate limits are token buckets: ``burst`` requests at once, then one more every ``every_s`` seconds.
Actions are limited per member (an action changes the live system: a few at once, then one every 10 s);
the other writes (acks, notes, declarations) per member too, more loosely; join attempts per client
address (the join code cannot be guessed by trying).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    #: a request body (JSON) at most this long: 413 beyond
    body_bytes: int = 16 * 1024
    #: Alertmanager's webhook body (a group of alerts with their labels and annotations)
    webhook_body_bytes: int = 256 * 1024
    #: a body not complete within this long after the request head: 408
    body_timeout_s: float = 10.0
    #: actions (and undos) per member: ``action_burst`` at once, then one every ``action_every_s``
    action_burst: int = 3
    action_every_s: float = 10.0
    #: acks, notes, declarations, resolutions, hints per member (or the facilitator)
    write_burst: int = 20
    write_every_s: float = 1.0
    #: join attempts per client address
    join_burst: int = 10
    join_every_s: float = 6.0
    #: a note, hint, summary or wanted action at most this many characters
    text_chars: int = 2000
    #: a member's name
    name_chars: int = 40
    #: members of one game day
    members: int = 50
    #: open event streams per console (both audiences)
    streams: int = 64


class TokenBuckets:
    """One token bucket per key (a member's name, a client address)."""

    #: forget full buckets once this many keys are held
    MAX_KEYS = 4096

    def __init__(self, burst: int, every_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = burst
        self.every_s = every_s
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def _level(self, key: str, now: float) -> float:
        tokens, since = self._buckets.get(key, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - since) / self.every_s)

    def wait(self, key: str) -> float | None:
        """None when ``key`` has a token now, else the seconds until it has (nothing is taken)."""
        tokens = self._level(key, self._clock())
        return None if tokens >= 1.0 else (1.0 - tokens) * self.every_s

    def take(self, key: str) -> float | None:
        """Take one token for ``key``: None when there was one, else the seconds until there is."""
        now = self._clock()
        tokens = self._level(key, now)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) * self.every_s
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > self.MAX_KEYS:
            self._forget_full(now)
        return None

    def _forget_full(self, now: float) -> None:
        for key in [k for k in self._buckets if self._level(k, now) >= self.burst]:
            del self._buckets[key]
