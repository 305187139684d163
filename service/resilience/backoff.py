"""Retry pacing: capped exponential backoff with full jitter, and a retry budget."""

from __future__ import annotations

import random
import time
from collections.abc import Callable


def full_jitter_delay(attempt: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """The wait before retry number ``attempt`` (1-based): uniform in [0, min(cap, base * 2**attempt)]."""
    return rng.uniform(0.0, min(cap_s, base_s * (2 ** min(attempt, 30))))


class RetryBudget:
    """Retries may be at most ``ratio`` of first attempts, plus ``min_per_s`` (a token bucket).

    Each first attempt deposits ``ratio`` tokens (up to a cap); each retry withdraws one. Like
    Finagle's RetryBudget, it stops a retry storm from multiplying load on a failing dependency.
    """

    def __init__(
        self, ratio: float, min_per_s: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ratio = ratio
        self.min_per_s = min_per_s
        self._clock = clock
        self._cap = max(10.0, min_per_s * 10)
        self._tokens = self._cap / 2
        self._last = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._cap, self._tokens + (now - self._last) * self.min_per_s)
        self._last = now

    def deposit(self) -> None:
        self._refill()
        self._tokens = min(self._cap, self._tokens + self.ratio)

    def withdraw(self) -> bool:
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
