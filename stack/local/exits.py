"""Exit classification and restart decisions, the way a container engine makes them.

Reasons (docs/contracts.md): exit 0 -> ``clean``; exit 2 -> ``panic``; SIGKILL sent by the memory
limit -> ``oom`` (exit code 137, like Docker's OOMKilled); any other signal -> ``killed``; any other
non-zero exit -> ``crash``. A death by signal N is reported with exit code 128 + N, as a shell or
Docker would.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

from stack.local.spec import RestartSpec
from stack.runtime import ExitReason

PANIC_EXIT_CODE = 2
OOM_EXIT_CODE = 137


@dataclass(frozen=True)
class ExitInfo:
    reason: ExitReason
    exit_code: int
    signal: str | None

    @property
    def failed(self) -> bool:
        return self.reason != "clean"


def classify_exit(returncode: int, *, oom_killed: bool = False, stopping: bool = False) -> ExitInfo:
    """Classify a child's ``returncode`` (negative: killed by that signal, as :mod:`subprocess` says).

    ``oom_killed``: the supervisor sent SIGKILL because of the memory limit. ``stopping``: the
    supervisor is shutting the child down, so a SIGTERM/SIGKILL it sent is a clean stop.
    """
    if returncode < 0:
        signum = -returncode
        name = _signal_name(signum)
        code = 128 + signum
        if oom_killed and signum == signal.SIGKILL:
            return ExitInfo("oom", OOM_EXIT_CODE, name)
        if stopping and signum in (signal.SIGTERM, signal.SIGKILL):
            return ExitInfo("clean", code, name)
        return ExitInfo("killed", code, name)
    if returncode == 0:
        return ExitInfo("clean", 0, None)
    if returncode == PANIC_EXIT_CODE:
        return ExitInfo("panic", returncode, None)
    if oom_killed and returncode == OOM_EXIT_CODE:
        return ExitInfo("oom", returncode, None)
    return ExitInfo("crash", returncode, None)


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"SIG{signum}"


def should_restart(policy: RestartSpec, info: ExitInfo, failures: int) -> bool:
    """Whether to start the process again. ``failures``: restarts since the last long-enough run."""
    if policy.name == "no":
        return False
    if policy.name == "always":
        return True
    return info.failed and failures < policy.max_retries


def backoff_s(policy: RestartSpec, failures: int) -> float:
    """Delay before restart number ``failures + 1``: initial * 2^failures, capped."""
    return float(min(policy.backoff_max_s, policy.backoff_initial_s * (2 ** min(failures, 30))))
