"""The drill runner's error: invalid input or a drill that cannot run (exit code 2)."""

from __future__ import annotations

from crashlab.errors import CrashlabError


class DrillError(CrashlabError):
    """A drill could not start or run; the message says what and where."""
