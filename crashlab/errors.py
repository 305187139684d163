"""The root of every user-facing crashlab error.

Each package area derives its own root from :class:`CrashlabError`; the CLI prints
``str(error)`` on one line and exits with :attr:`CrashlabError.exit_code`.
"""

from __future__ import annotations


class CrashlabError(Exception):
    """An error the user can act on: the message says what went wrong and where."""

    exit_code: int = 2
