"""A token bucket per player, bounded in how many players it remembers."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class PlayerBuckets:
    def __init__(
        self, rate_per_s: float, burst: int, max_players: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate_per_s
        self.burst = float(burst)
        self.max_players = max_players
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, player: str) -> float:
        """0.0 when a token was taken, otherwise the seconds until one is available."""
        now = self._clock()
        tokens, last = self._buckets.pop(player, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[player] = (tokens, now)
        if len(self._buckets) > self.max_players:
            self._buckets.popitem(last=False)
        return wait
