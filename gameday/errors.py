"""The game day's exception root."""

from __future__ import annotations

from crashlab.errors import CrashlabError


class GamedayError(CrashlabError):
    """A game day could not start or go on; the message says what and where."""
