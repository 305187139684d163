"""The supervisor's container-engine behaviour: exit classification, backoff, restart policies."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from crashlab.waits import wait_until
from stack.local import attach, up
from stack.local.exits import backoff_s, classify_exit, should_restart
from stack.local.spec import RestartSpec
from stack.local.state import process_alive
from stack.runtime import RestartPolicy
from tests.helpers_stack import (
    TINY,
    assert_nothing_left,
    events,
    stack_config,
    stack_dirs,
    stack_processes,
    supervisor_metric,
)

__all__ = ["stack_dirs"]


@pytest.mark.parametrize(
    ("returncode", "oom", "stopping", "expected"),
    [
        (0, False, False, ("clean", 0, None)),
        (2, False, False, ("panic", 2, None)),
        (1, False, False, ("crash", 1, None)),
        (-signal.SIGKILL, True, False, ("oom", 137, "SIGKILL")),
        (-signal.SIGKILL, False, False, ("killed", 137, "SIGKILL")),
        (-signal.SIGSEGV, False, False, ("killed", 139, "SIGSEGV")),
        (-signal.SIGTERM, False, True, ("clean", 143, "SIGTERM")),
        (-signal.SIGTERM, False, False, ("killed", 143, "SIGTERM")),
    ],
)
def test_classify_exit(
    returncode: int, oom: bool, stopping: bool, expected: tuple[str, int, str | None]
) -> None:
    info = classify_exit(returncode, oom_killed=oom, stopping=stopping)
    assert (info.reason, info.exit_code, info.signal) == expected


def test_backoff_and_policies() -> None:
    policy = RestartSpec(name="on-failure", max_retries=3, backoff_initial_s=0.5, backoff_max_s=3.0)
    assert [backoff_s(policy, n) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    crash, clean = classify_exit(1), classify_exit(0)
    assert should_restart(policy, crash, 2) and not should_restart(policy, crash, 3)
    assert not should_restart(policy, clean, 0)
    assert should_restart(RestartSpec(name="always"), clean, 100)
    assert not should_restart(RestartSpec(name="no"), crash, 0)


def test_policy_no_leaves_a_killed_service_down(stack_dirs: Path) -> None:
    stack = up(stack_config(stack_dirs, with_prometheus=False, restart_policy=RestartPolicy(name="no")))
    try:
        pid = stack.pid("game")
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        game = wait_until(lambda: (p := stack.part("game"))["finished"] and p, 15, "the game given up")
        assert game["pid"] is None and not game["healthy"] and game["restarts"] == 0
        assert {p.name: p.healthy for p in stack.status()} == {
            "supervisor": True, "odds": True, "game": False,
        }  # fmt: skip
        assert events(stack, "process", "unhealthy", service="game", reason="killed")
        assert not events(stack, "process", "restarted")
    finally:
        stack.down()


def test_on_failure_gives_up_after_max_retries(stack_dirs: Path) -> None:
    config = stack_config(
        stack_dirs,
        with_prometheus=False,
        env={"EXIT_AFTER_S": "1.5", "EXIT_CODE": "3"},
        restart_policy=RestartPolicy(name="on-failure", max_retries=2, backoff_initial_s=0.1),
    )
    tiny = [sys.executable, "-c", TINY]
    stack = up(config, commands={"odds": tiny, "game": tiny})
    try:
        game = wait_until(lambda: (p := stack.part("game"))["finished"] and p, 20, "the game given up")
        assert game["exits"] == 3 and game["restarts"] == 2
        assert game["last_exit"]["reason"] == "crash" and game["last_exit"]["exit_code"] == 3
        exited = events(stack, "process", "exited", service="game")
        assert [(e.get("reason"), e.get("exit_code"), e.get("restarts")) for e in exited] == [
            ("crash", 3, 0), ("crash", 3, 1), ("crash", 3, 2),
        ]  # fmt: skip
        assert [e.get("restarts") for e in events(stack, "process", "restarted", service="game")] == [1, 2]
        assert supervisor_metric(stack, "crashlab_process_exits_total", service="game", reason="crash") == 3
        assert supervisor_metric(stack, "crashlab_process_restarts_total", service="game") == 2
        assert supervisor_metric(stack, "crashlab_process_up", service="game") == 0
    finally:
        stack.down()


def test_always_restarts_clean_exits(stack_dirs: Path) -> None:
    config = stack_config(
        stack_dirs,
        with_prometheus=False,
        env={"EXIT_AFTER_S": "1", "EXIT_CODE": "0"},
        restart_policy=RestartPolicy(name="always", backoff_initial_s=0.1),
    )
    tiny = [sys.executable, "-c", TINY]
    stack = up(config, commands={"odds": tiny, "game": tiny})
    try:
        wait_until(lambda: stack.part("game")["restarts"] >= 2, 20, "two restarts after clean exits")
        reasons = {e.get("reason") for e in events(stack, "process", "exited", service="game")}
        assert reasons == {"clean"}
    finally:
        stack.down()


def test_children_die_with_a_killed_supervisor(stack_dirs: Path) -> None:
    stack = up(stack_config(stack_dirs, with_prometheus=False))
    try:
        procs = stack_processes(stack)
        assert len(procs) == 3
        os.kill(stack.state.supervisor_pid, signal.SIGKILL)
        wait_until(lambda: not any(process_alive(pid, t) for pid, t in procs), 10, "odds and game gone")
        assert attach() is None
        assert [(p.name, p.pid, p.healthy) for p in stack.status()] == [
            ("supervisor", None, False), ("odds", None, False), ("game", None, False),
        ]  # fmt: skip
    finally:
        stack.down()
    assert_nothing_left(stack, procs)


def test_restart_on_request_also_after_the_policy_gave_up(stack_dirs: Path) -> None:
    stack = up(stack_config(stack_dirs, with_prometheus=False, restart_policy=RestartPolicy(name="no")))
    try:
        old = stack.pid("game")
        stack.restart("game")  # returns once the new process runs, whatever the policy says
        new = stack.pid("game")
        assert new is not None and new != old
        exited = events(stack, "process", "exited", service="game")
        assert [(e.get("pid"), e.get("reason"), e.get("requested")) for e in exited] == [(old, "clean", True)]
        assert events(stack, "process", "restarted", service="game", pid=new, restarts=1)
        wait_until(lambda: stack.part("game")["healthy"], 15, "the restarted game healthy")
        # a crash under policy "no" leaves it down; a restart on request brings it back
        assert new is not None
        os.kill(new, signal.SIGKILL)
        wait_until(lambda: stack.part("game")["finished"], 15, "the game given up")
        stack.restart("game")
        assert stack.part("game")["restarts"] == 2 and stack.pid("game") not in (None, new)
        assert supervisor_metric(stack, "crashlab_process_restarts_total", service="game") == 2
        # a requested restart is not a crash
        reasons = [e.get("reason") for e in events(stack, "process", "exited", service="game")]
        assert reasons == ["clean", "killed"]
    finally:
        stack.down()


def test_memory_limit_changes_at_run_time_and_is_enforced(stack_dirs: Path) -> None:
    stack = up(stack_config(stack_dirs, with_prometheus=False))
    try:
        assert stack.memory_limit_mb("game") is None
        assert stack.set_memory_limit("game", 1) is None  # far below what a Python process holds
        assert stack.memory_limit_mb("game") == 1
        assert supervisor_metric(stack, "crashlab_process_memory_limit_bytes", service="game") == 2**20
        oom = wait_until(lambda: events(stack, "process", "exited", service="game", reason="oom"), 15, "oom")
        assert oom[0].get("exit_code") == 137
        assert events(
            stack, "process", "memory_limit", service="game", limit_bytes=2**20, previous_bytes=None
        )
        assert stack.set_memory_limit("game", None) == 1
        wait_until(lambda: stack.part("game")["healthy"], 20, "the game healthy without a limit")
        assert stack.memory_limit_mb("game") is None and stack.memory_limit_mb("odds") is None
    finally:
        stack.down()


def test_control_endpoints_need_the_admin_token(stack_dirs: Path) -> None:
    from stack.http import http_call
    from stack.runtime import StackError

    stack = up(stack_config(stack_dirs, with_prometheus=False))
    try:
        url = stack.urls["supervisor"] + "/parts/game/restart"
        for token in ("", "wrong"):
            with pytest.raises(StackError, match=r"answered 401"):
                http_call("POST", url, token=token)
        with pytest.raises(StackError, match=r"answered 404: no part named 'nope'"):
            http_call("POST", stack.urls["supervisor"] + "/parts/nope/restart", token=stack.admin_token)
        with pytest.raises(StackError, match=r"answered 400"):
            http_call("PUT", stack.urls["supervisor"] + "/parts/game/memory-limit", {"limit_bytes": -1},
                      token=stack.admin_token)  # fmt: skip
        assert stack.part("game")["restarts"] == 0 and stack.memory_limit_mb("game") is None
    finally:
        stack.down()
