"""The reporter's exception root."""

from __future__ import annotations

from crashlab.errors import CrashlabError


class ReportError(CrashlabError):
    """The report cannot be written at all (no such run directory, unwritable output); says where."""
