"""HTTP header names the parts agree on (docs/contracts.md): the services, the load generator, the
drill runner and the tests all spell them from here."""

from __future__ import annotations

#: who plays (``anonymous`` when missing); the rate limiter and the odds are per player
PLAYER_ID = "X-Player-Id"
#: milliseconds left of the caller's deadline; the hardened game sends it to odds, odds honours it
REQUEST_DEADLINE_MS = "X-Request-Deadline-Ms"
