"""A memory limit kills a leaking service; the exit is recorded as OOM (exit 137) and it restarts."""

from __future__ import annotations

from pathlib import Path

from crashlab.waits import wait_until
from stack.local import up
from tests.helpers_stack import events, inject, stack_config, stack_dirs, supervisor_metric

__all__ = ["stack_dirs"]


def test_memory_limit_kills_leaking_game(stack_dirs: Path) -> None:
    stack = up(stack_config(stack_dirs, with_prometheus=False, memory_limits_mb={"game": 130}))
    try:
        game = stack.part("game")
        assert game["memory_limit_bytes"] == 130 * 1024 * 1024
        assert game["rss_bytes"] < game["memory_limit_bytes"]
        old_pid = game["pid"]
        inject(
            stack, "game", {"type": "memory_leak", "params": {"mb_per_s": 100, "max_mb": 400}, "ttl_s": 30}
        )

        def oom_restarted() -> bool:
            part = stack.part("game")
            return bool(part["restarts"] >= 1 and part["healthy"] and part["pid"] != old_pid)

        wait_until(oom_restarted, 30, "the game killed at its memory limit and restarted")
        exited = events(stack, "process", "exited", service="game")
        assert exited and exited[0].get("reason") == "oom"
        assert exited[0].get("exit_code") == 137 and exited[0].get("signal") == "SIGKILL"
        assert exited[0].get("pid") == old_pid
        assert stack.part("game")["last_exit"]["reason"] == "oom"
        assert supervisor_metric(stack, "crashlab_process_exits_total", service="game", reason="oom") == 1
        assert supervisor_metric(stack, "crashlab_process_exits_total", service="odds", reason="oom") == 0
        assert supervisor_metric(stack, "crashlab_process_restarts_total", service="game") == 1
        assert supervisor_metric(stack, "crashlab_process_last_exit_code", service="game") == 137
        assert supervisor_metric(stack, "crashlab_process_memory_limit_bytes", service="game") == 130 * 2**20
    finally:
        stack.down()
