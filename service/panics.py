"""Unrecovered panics: with ``panic_recovery`` off, an unexpected error in background work ends the
process with exit code 2 and a last stderr line ``panic: ...``, like an unrecovered goroutine panic."""

from __future__ import annotations

import os
import sys
import traceback

from service.logs import JsonLog

PANIC_EXIT_CODE = 2


def panic_exit(log: JsonLog, where: str, exc: BaseException) -> None:
    """Log, flush and leave now: no cleanup, no graceful shutdown (os._exit)."""
    log.error(f"panic: {type(exc).__name__}: {exc}", code="SYS_PANIC", kind="system", where=where)
    log.flush()
    try:
        sys.stderr.write("".join(traceback.format_exception(exc)))
        sys.stderr.write(f"panic: {type(exc).__name__}: {exc}\n".replace("\n", " ").rstrip() + "\n")
        sys.stderr.flush()
    finally:
        os._exit(PANIC_EXIT_CODE)
