"""The fault catalogue's error: what failed, for which fault, and where."""

from __future__ import annotations

from crashlab.errors import CrashlabError


class FaultError(CrashlabError):
    """A fault could not be validated, injected or reverted; the message names the fault and the target."""
