"""Detached helper processes: the TTL of faults that no service enforces (SIGCONT after a pause,
removing a netem qdisc). They run in their own session, so they outlive the runner (even a
SIGKILLed one) and end the fault on time."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
from collections.abc import Iterator

import psutil

from chaos.faults.base import check_ttl
from chaos.faults.errors import FaultError


def start_timer(ttl_s: float, command: list[str]) -> int:
    """Run ``command`` after ``ttl_s`` seconds in a detached ``sh`` (double-forked, so it is reparented
    to init and never left a zombie of ours); returns the helper's PID."""
    return spawn_detached(["/bin/sh", "-c", f"sleep {ttl_s:.3f}; exec {shlex.join(command)}"])


@contextlib.contextmanager
def ttl_timer(ttl_s: float, undo: list[str], marker: str) -> Iterator[int]:
    """Start the timer that runs ``undo`` when the TTL (checked) ends, then inject in the ``with``
    block; a FaultError there cancels the timer again (``marker``: see :func:`cancel_timer`).
    Yields the timer's PID, for the handle."""
    timer = start_timer(check_ttl(ttl_s), undo)
    try:
        yield timer
    except FaultError:
        cancel_timer(timer, marker)
        raise


def spawn_detached(argv: list[str]) -> int:
    """Start ``argv`` in its own session, reparented to init; returns its PID once it has exec'd
    (the launcher's pipe closes only at the exec, so the PID already shows ``argv``)."""
    inner = f"echo $$; exec {shlex.join(argv)} </dev/null >/dev/null 2>&1"
    launcher = f"setsid /bin/sh -c {shlex.quote(inner)} &"
    out = subprocess.run(["/bin/sh", "-c", launcher], capture_output=True, text=True, check=True, timeout=10)
    return int(out.stdout.strip())


def cancel_timer(pid: int, marker: str) -> bool:
    """Kill the helper ``pid`` (and its ``sleep``) if it still is our helper (its command line
    holds ``marker``); returns whether one was found."""
    try:
        proc = psutil.Process(pid)
        if marker not in " ".join(proc.cmdline()):
            return False
        children = proc.children(recursive=True)
        proc.kill()
        for child in children:
            child.kill()
        return True
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        os.kill(pid, signal.SIGKILL)
        return True
