"""``crashlab flag list|set`` against a running local stack: every switch setting of a drill's target
reaches the game, a flip is in force on /healthz without a restart, survives a crash restart, and is
journaled; unknown names and a missing stack are one-line errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from chaos.runner.stacks import stack_config as drill_stack_config
from chaos.scenario.validate import load_scenario
from stack.local import LocalStack, up
from tests.helpers_stack import events, stack_config, stack_dirs, wait_until

__all__ = ["stack_dirs"]
ROOT = Path(__file__).resolve().parent.parent


def crashlab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "crashlab", *args],
        cwd=ROOT,
        env=os.environ.copy(),  # CRASHLAB_STATE_DIR / CRASHLAB_RUNS_DIR from stack_dirs
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def healthz(stack: LocalStack) -> dict[str, Any]:
    with urllib.request.urlopen(stack.urls["game"] + "/healthz", timeout=5) as resp:
        body: dict[str, Any] = json.loads(resp.read())
        return body


def listening(stack: LocalStack) -> list[dict[str, Any]]:
    lines = (stack.run_dir.logs / "game.jsonl").read_text().splitlines()
    return [json.loads(x) for x in lines if '"listening"' in x]


def test_flag_list_and_set_on_a_running_stack(stack_dirs: Path) -> None:
    missing = crashlab("flag", "list")
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        "crashlab: error: no stack is running; start one with `crashlab up` (or a drill with --keep-up)"
    )

    # the five-crash drill's target: naive, with pooled_client's pool_exhausted_at at 150
    scenario = load_scenario(ROOT / "scenarios" / "five-crash.yaml")
    target = drill_stack_config(scenario.target, stack_config(stack_dirs).run_dir)
    assert target.switches["pooled_client"] == {"enabled": False, "pool_exhausted_at": 150}
    stack = up(
        stack_config(
            stack_dirs,
            run_dir=target.run_dir,
            profile=target.profile,
            switches=target.switches,
            with_prometheus=False,
        )
    )
    try:
        started = wait_until(lambda: listening(stack), 10, "the game's listening line")[0]
        assert started["settings"]["pooled_client"] == {
            "enabled": False,
            "limit": 64,
            "leak_on_error": True,
            "pool_exhausted_at": 150,
        }
        assert started["settings"]["name"] == "naive"
        assert started["flag_file"] == str(stack.run_dir.flag_file.absolute())
        assert healthz(stack)["switches"]["circuit_breaker"] is False

        listed = crashlab("flag", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        assert json.loads(listed.stdout) == {**{k: False for k in json.loads(listed.stdout)}}

        pid = stack.part("game")["pid"]
        flipped = crashlab("flag", "set", "circuit_breaker", "on")
        assert flipped.returncode == 0, flipped.stderr
        assert flipped.stdout.startswith("circuit_breaker: off -> on, in force after ")
        assert "circuit_breaker        on" in flipped.stdout
        assert healthz(stack)["switches"]["circuit_breaker"] is True
        assert stack.part("game")["pid"] == pid  # no restart
        [record] = events(stack, "flag", "set")
        assert (record.get("flag"), record.get("enabled"), record.get("previous")) == (
            "circuit_breaker",
            True,
            False,
        )

        typo = crashlab("flag", "set", "circuit_breakr", "on")
        assert typo.returncode == 2
        assert typo.stderr.strip() == (
            "crashlab: error: unknown switch 'circuit_breakr'; did you mean circuit_breaker?"
        )

        # a crash restart keeps what was flipped: the flag file is the stack's
        os.kill(pid, signal.SIGKILL)
        wait_until(
            lambda: stack.part("game")["healthy"] and stack.part("game")["pid"] not in (None, pid),
            20,
            "the game restarted",
        )
        assert healthz(stack)["switches"]["circuit_breaker"] is True
        assert listening(stack)[-1]["settings"]["pooled_client"]["pool_exhausted_at"] == 150
    finally:
        stack.down()
