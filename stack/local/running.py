"""A running local stack (:class:`LocalStack`, the :class:`stack.runtime.Stack` of the ``local``
runtime), found again from the state file by :func:`attach`, stopped by :meth:`LocalStack.down`.
Its capabilities (restart a part, a part's PID, scrape targets, memory limits) go through the
supervisor's control endpoints (docs/stack.md)."""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import time
from pathlib import Path
from typing import Any

import psutil

from crashlab.journal import Journal
from stack.http import http_call, http_json, http_ok
from stack.local.state import StackState, process_alive, read_state, remove_state, state_path
from stack.prometheus.config import remove_target, write_target
from stack.prometheus.scrapes import wait_scraped
from stack.runtime import PartStatus, RecordedStack, RuntimeName, StackError

#: how long ``down`` waits for the supervisor to stop its children and exit before SIGKILL
DOWN_TIMEOUT_S = 20.0
MB = 1024 * 1024


def last_line(path: Path, default: str = "no output") -> str:
    """The last non-empty line of a (possibly large) log file."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 8192))
            lines = [ln.strip() for ln in fh.read().decode(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return default
    return lines[-1][:300] if lines else default


class LocalStack(RecordedStack[StackState]):
    """Odds, game, Prometheus and Alertmanager under one detached supervisor; ``urls`` adds
    ``supervisor``."""

    def __init__(self, state: StackState, state_file: Path | None = None) -> None:
        self.state = state
        self.state_file = (state_file or state_path()).absolute()
        self._stopped = False

    # --- the Stack protocol -----------------------------------------------------------------
    @property
    def runtime(self) -> RuntimeName:
        return "local"

    def status(self) -> list[PartStatus]:
        """The supervisor and every part it runs; without an answer from the supervisor, each part's
        health is probed directly (PIDs and restarts then unknown)."""
        st = self.supervisor_status()
        sup_url = self.state.urls["supervisor"]
        if st is None:
            alive = self.state.supervisor_alive()
            parts = [
                PartStatus("supervisor", self.state.supervisor_pid if alive else None, sup_url, False, 0)
            ]
            for name, url in self.state.urls.items():
                if name != "supervisor":
                    parts.append(PartStatus(name, None, url, http_ok(self.state.health_urls[name]), 0))
            return parts
        parts = [PartStatus("supervisor", st["supervisor"]["pid"], sup_url, True, 0)]
        for part in st["parts"]:
            parts.append(
                PartStatus(part["name"], part["pid"], part["url"], part["healthy"], part["restarts"])
            )
        return parts

    def pid(self, part: str) -> int | None:
        for status in self.status():
            if status.name == part:
                return status.pid
        raise StackError(f"stack: no part named {part!r} (parts: {', '.join(self.state.urls)})")

    def restart(self, part: str) -> None:
        """The supervisor restarts ``part`` (SIGTERM, then a new process at once, whatever the restart
        policy); returns once the new process is healthy."""
        self._control("POST", part, "restart")

    def memory_limit_mb(self, part: str) -> int | None:
        limit = self.part(part).get("memory_limit_bytes")
        return int(limit) // MB if limit else None

    def set_memory_limit(self, part: str, limit_mb: int | None) -> int | None:
        """The supervisor enforces the new limit from its next poll (it kills the part above it)."""
        if limit_mb is not None and limit_mb <= 0:
            raise StackError(f"{part}: memory limit must be a positive number of MB, got {limit_mb}")
        answer = self._control(
            "PUT", part, "memory-limit", {"limit_bytes": limit_mb * MB if limit_mb else None}
        )
        previous = answer.get("previous_bytes") if isinstance(answer, dict) else None
        return int(previous) // MB if previous else None

    def _control(self, method: str, part: str, action: str, body: Any = None) -> Any:
        url = f"{self.state.urls['supervisor']}/parts/{part}/{action}"
        return http_call(method, url, body, token=self.admin_token)

    def add_scrape_target(self, job: str, url: str) -> None:
        write_target(self.run_dir.prometheus, job, url, self.state.run_id)

    def remove_scrape_target(self, job: str) -> None:
        remove_target(self.run_dir.prometheus, job)

    def machine(self) -> str:
        """Its parts run on this machine."""
        return platform.node()

    def alertmanager_url(self) -> str:
        """The stack's Alertmanager (its API: ``/api/v2/...``)."""
        url = self.state.urls.get("alertmanager")
        if url is None:
            raise StackError("alertmanager: this stack runs without one (started with --no-alertmanager)")
        return url

    def down(self) -> None:
        """Stop the supervisor and everything it runs; remove the state file. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        stop_supervisor(self.state)
        current = read_state(self.state_file)
        if current is not None and current.supervisor_pid == self.state.supervisor_pid:
            remove_state(self.state_file)
        Journal(self.run_dir.journal_path, source="stack").write(
            "stack", "down", runtime="local", parts=self.urls
        )

    # --- local extras -------------------------------------------------------------------------
    def supervisor_status(self, timeout_s: float = 2.0) -> dict[str, Any] | None:
        """The supervisor's ``/status`` JSON: ``{"supervisor": {...}, "parts": [{"name", "pid",
        "url", "healthy", "restarts", "running", "exits", "last_exit": {"reason", "exit_code",
        "signal", "at"} | null, "rss_bytes", "memory_limit_bytes", ...}]}``; None if it is down."""
        st = http_json(self.state.urls["supervisor"] + "/status", timeout_s)
        return st if isinstance(st, dict) else None

    def part(self, name: str) -> dict[str, Any]:
        """One part's entry of :meth:`supervisor_status`."""
        st = self.supervisor_status()
        if st is None:
            raise StackError(
                f"supervisor: not answering at {self.state.urls['supervisor']}; is the stack up?"
            )
        for part in st["parts"]:
            if part["name"] == name:
                result: dict[str, Any] = part
                return result
        raise StackError(f"stack: no part named {name!r}")

    def wait_scraped(self, timeout_s: float = 15.0) -> None:
        """Wait until Prometheus scrapes every target of this run successfully (its scrape manager
        applies new targets every 5 s, so the first scrape comes a few seconds after ``up``)."""
        if "prometheus" not in self.state.urls:
            raise StackError("prometheus: this stack runs without Prometheus")
        jobs = {p.stem for p in (self.run_dir.prometheus / "targets").glob("*.json")}
        wait_scraped(self.state.urls["prometheus"], jobs, timeout_s)

    def wait_healthy(self, timeout_s: float = 20.0) -> None:
        """Wait until every part is healthy. Fails fast when the supervisor dies or a part exits before
        it was ever healthy; otherwise after ``timeout_s``, naming the parts that are not healthy."""
        deadline = time.monotonic() + timeout_s
        logs = Path(self.state.run_path) / "logs"
        while True:
            if not self.state.supervisor_alive():
                log = logs / "supervisor.log"
                raise StackError(f"supervisor: exited during start-up: {last_line(log)} (log: {log})")
            st = self.supervisor_status(timeout_s=1.0)
            if st is not None:
                parts = st["parts"]
                for part in parts:
                    if not part["ever_healthy"] and part["exits"] > 0:
                        raise StackError(_startup_failure(part))
                if all(part["healthy"] for part in parts):
                    return
            if time.monotonic() >= deadline:
                names = [p["name"] for p in st["parts"] if not p["healthy"]] if st else ["supervisor"]
                detail = "; ".join(_not_healthy(self.state, name, logs) for name in names)
                raise StackError(
                    f"{', '.join(names)}: not healthy within {timeout_s:g} s: {detail}; "
                    "raise the health timeout (--health-timeout) or read the log"
                )
            time.sleep(0.1)


def _startup_failure(part: dict[str, Any]) -> str:
    last = part.get("last_exit") or {}
    out = Path(part["output_path"])
    why = part.get("spawn_error") or last_line(out)
    return (
        f"{part['name']}: exited before it became healthy ({last.get('reason')}, exit code "
        f"{last.get('exit_code')}): {why} (output: {out})"
    )


def _not_healthy(state: StackState, name: str, logs: Path) -> str:
    url = state.health_urls.get(name, state.urls.get(name, "?"))
    out = logs / ("supervisor.log" if name == "supervisor" else f"{name}.stdout.log")
    return f"{name} at {url}, last output: {last_line(out)} ({out})"


def stop_supervisor(state: StackState, timeout_s: float = DOWN_TIMEOUT_S) -> None:
    """SIGTERM the supervisor (it stops its children), wait, then SIGKILL whatever is left of its
    process group. Only processes this stack started are signalled."""
    if state.supervisor_alive():
        with contextlib.suppress(ProcessLookupError):
            os.kill(state.supervisor_pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while state.supervisor_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
    # the children die with the supervisor (PR_SET_PDEATHSIG); the group kill is the last resort
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(state.pgid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while _group_alive(state.pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if left := group_pids(state.pgid):
        # `down` returns once every part has exited, or says what is left
        raise StackError(
            f"stack: processes {', '.join(map(str, left))} of the stack (process group {state.pgid}) "
            "outlived SIGKILL for 5 s, probably stuck in the kernel (D state): see "
            f"`ps -o pid,stat,cmd -g {state.pgid}`"
        )


def _group_alive(pgid: int) -> bool:
    return bool(group_pids(pgid))


def group_pids(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group; tests use it to prove nothing is left."""
    pids = []
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                pids.append(proc.pid)
        except (ProcessLookupError, psutil.Error):
            continue
    return pids


def attach(state_file: Path | None = None) -> LocalStack | None:
    """The running local stack named by the state file, or None (no file, or its supervisor is gone)."""
    path = (state_file or state_path()).absolute()
    state = read_state(path)
    if state is None or not state.supervisor_alive():
        return None
    return LocalStack(state, path)


__all__ = ["LocalStack", "attach", "group_pids", "process_alive", "stop_supervisor"]
