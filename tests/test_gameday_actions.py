"""The team's actions on a real local stack (game, odds, Prometheus, Alertmanager under the supervisor):
each one changes the live system as it says, reports before/after, and its undo (from those values
alone, as a restarted console would) puts it back; the snapshot a game day takes restores the flag
file, the memory limits and the team's silences."""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crashlab.journal import Journal, read_journal
from crashlab.rundir import RunDir
from crashlab.waits import wait_until
from gameday.actions import ACTIONS, ActionError, Outcome, Snapshot, missing
from service import flagfile
from stack.capabilities import Capability
from stack.local import LocalStack
from stack.registry import RUNTIMES
from stack.runtime import RestartPolicy, StackConfig
from tests.helpers_stack import http

ROOT = Path(__file__).resolve().parents[1]
GAMEDAY = ROOT / "scenarios" / "gameday" / "five-crash.yaml"
INITIAL_SWITCHES = {"circuit_breaker": True}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A naive local stack with a 300 MB limit on the game, recorded as a game day's (its drill file and
    its target with one switch override, as ``crashlab gameday`` records them)."""
    from stack.local import up

    root = tmp_path_factory.mktemp("gameday-actions")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CRASHLAB_STATE_DIR", str(root / "state"))
        patch.setenv("CRASHLAB_RUNS_DIR", str(root / "runs"))
        run = RunDir.create("actions", root / "runs")
        run.update_manifest(
            scenario_file=str(GAMEDAY),
            stack_target={"profile": "naive", "switches": INITIAL_SWITCHES},
        )
        config = StackConfig(
            run_dir=run,
            profile="naive",
            switches=dict(INITIAL_SWITCHES),
            memory_limits_mb={"game": 300},
            restart_policy=RestartPolicy(name="on-failure", max_retries=5, backoff_initial_s=0.2),
            health_timeout_s=30.0,
        )
        stack = up(config)
        try:
            yield stack
        finally:
            stack.down()


def healthz(stack: LocalStack) -> dict[str, Any]:
    body: dict[str, Any] = http("GET", stack.urls["game"] + "/healthz")
    return body


def switches_in_force(stack: LocalStack) -> dict[str, bool]:
    found: dict[str, bool] = healthz(stack)["switches"]
    return found


def game_pid(stack: LocalStack) -> int | None:
    return stack.pid("game")


def test_every_runtime_that_hosts_game_days_can_carry_out_every_action() -> None:
    # a runtime that connects to a stack running elsewhere hosts no game day (gameday/checks.py)
    hosts = [runtime for runtime in RUNTIMES if not runtime.connects]
    assert {runtime.name for runtime in hosts} >= {"local", "docker"}
    for runtime in hosts:
        for name in ACTIONS:
            assert missing(name, runtime.capabilities) == [], (runtime.name, name)
    assert missing("silence", {Capability.FLAGS}) == [Capability.ALERTMANAGER]
    assert missing("deploy", {Capability.ALERTMANAGER}) == [Capability.FLAGS, Capability.RESTART]


def test_params_are_validated_before_anything_happens(stack: LocalStack) -> None:
    before = stack.flag_file().read_bytes()
    cases = [
        ("flag", {"circuit_breakr": True}, "params.circuit_breakr"),
        ("flag", {}, "params"),
        ("flag", {"retry": "yes"}, "params.retry"),
        ("memory_limit", {"mb": 8}, "params.mb"),
        ("restart", {"service": "odds"}, "params.service"),
        ("silence", {"alert": "x y", "duration": "1h", "comment": "c"}, "params.alert"),
        ("silence", {"alert": "X", "duration": "2d", "comment": "c"}, "params.duration"),
        ("deploy", {"profile": ""}, "params.profile"),
    ]
    for name, params, field in cases:
        with pytest.raises(ActionError) as caught:
            ACTIONS[name].validate(params)
        assert caught.value.field == field, (name, params, str(caught.value))
    assert stack.flag_file().read_bytes() == before
    assert all(action.unavailable(stack) is None for action in ACTIONS.values())


def test_flag_is_in_force_within_a_second_and_undo_puts_it_back(stack: LocalStack) -> None:
    flag = ACTIONS["flag"]
    params = flag.validate({"fallback": True, "retry": True})
    done = flag.run(stack, params)
    assert done == Outcome(
        before={"fallback": False, "retry": False}, after={"fallback": True, "retry": True}
    )
    wait_until(
        lambda: switches_in_force(stack)["fallback"] and switches_in_force(stack)["retry"], 3.0, "flip"
    )
    # the undo of a restarted console: only the journaled params and before/after
    journaled = json.loads(json.dumps({"before": done.before, "after": done.after}))
    undone = flag.undo(stack, params, Outcome(**journaled))
    assert undone.after == {"fallback": False, "retry": False}
    wait_until(lambda: not switches_in_force(stack)["fallback"], 3.0, "fallback off again")
    assert flagfile.switches(stack.flag_file())["circuit_breaker"] is True


def test_memory_limit_changes_the_supervisor_limit_and_undo_restores_it(stack: LocalStack) -> None:
    action = ACTIONS["memory_limit"]
    params = action.validate({"service": "game", "mb": 200})
    done = action.run(stack, params)
    assert done == Outcome(before={"mb": 300}, after={"mb": 200})
    assert stack.part("game")["memory_limit_bytes"] == 200 * 1024 * 1024
    action.undo(stack, params, done)
    assert stack.memory_limit_mb("game") == 300


def test_restart_gives_a_new_healthy_process(stack: LocalStack) -> None:
    action = ACTIONS["restart"]
    old = game_pid(stack)
    done = action.run(stack, action.validate({}))
    assert done.before == {"pid": old}
    assert done.after["pid"] not in (None, old)
    assert healthz(stack)["status"] == "ok"
    with pytest.raises(ActionError, match="cannot be undone"):
        action.undo(stack, {"service": "game"}, done)


def test_deploy_restarts_the_game_as_another_build_and_undo_brings_the_old_one_back(
    stack: LocalStack,
) -> None:
    action = ACTIONS["deploy"]
    old = game_pid(stack)
    params = action.validate({"profile": "hardened"})
    done = action.run(stack, params)
    assert done.before["profile"] == "naive" and done.after["profile"] == "hardened"
    assert game_pid(stack) != old
    assert all(switches_in_force(stack).values())
    assert http("GET", stack.urls["game"] + "/readyz")["profile"] == "hardened"
    undone = action.undo(stack, params, Outcome(done.before, done.after))
    assert undone.after["profile"] == "naive"
    in_force = switches_in_force(stack)
    assert in_force["circuit_breaker"] is True and in_force["retry"] is False
    # initial: the build the game day started with, its switch overrides included
    flag = ACTIONS["flag"]
    flag.run(stack, {"circuit_breaker": False})
    action.run(stack, action.validate({"profile": "initial"}))
    assert switches_in_force(stack)["circuit_breaker"] is True


@pytest.mark.parametrize("profile", ["../five-crash.yaml", "/etc/passwd", "no-such.yaml", "teams"])
def test_deploy_takes_no_file_outside_the_drill_folder(stack: LocalStack, profile: str) -> None:
    before = stack.flag_file().read_bytes()
    pid = game_pid(stack)
    with pytest.raises(ActionError) as caught:
        ACTIONS["deploy"].run(stack, {"profile": profile})
    assert caught.value.field == "params.profile"
    assert stack.flag_file().read_bytes() == before
    assert game_pid(stack) == pid


def silences(stack: LocalStack) -> dict[str, str]:
    with urllib.request.urlopen(stack.alertmanager_url() + "/api/v2/silences", timeout=5) as resp:
        return {s["id"]: s["status"]["state"] for s in json.loads(resp.read())}


def test_silence_is_created_in_alertmanager_and_undo_expires_it(stack: LocalStack) -> None:
    action = ACTIONS["silence"]
    params = action.validate({"alert": "CrashLoop", "duration": "30m", "comment": "known, being fixed"})
    assert params["duration"] == 1800.0
    done = action.run(stack, params)
    silence_id = done.after["silence_id"]
    assert silences(stack)[silence_id] == "active"
    action.undo(stack, params, done)
    assert silences(stack)[silence_id] == "expired"


def test_snapshot_restores_flags_limits_and_silences(stack: LocalStack) -> None:
    snapshot = Snapshot.take(stack)
    original = stack.flag_file().read_bytes()
    ACTIONS["flag"].run(stack, {"deadline": True})
    ACTIONS["memory_limit"].run(stack, {"service": "game", "mb": 250})
    silence = ACTIONS["silence"].run(
        stack, ACTIONS["silence"].validate({"alert": "PanicRate", "duration": 600, "comment": "c"})
    )
    # the console's record of that silence, as it journals it
    journal = Journal(stack.run_dir.journal_path, source="console")
    journal.write(
        "team",
        "action",
        actor="bo",
        action_id="a-1",
        action="silence",
        params={"alert": "PanicRate", "duration": 600.0, "comment": "c"},
        result="ok",
        before=silence.before,
        after=silence.after,
    )
    done = snapshot.restore(stack, read_journal(stack.run_dir.journal_path))
    assert stack.flag_file().read_bytes() == original
    assert stack.memory_limit_mb("game") == 300
    assert silences(stack)[silence.after["silence_id"]] == "expired"
    assert len(done) == 3, done
    wait_until(lambda: not switches_in_force(stack)["deadline"], 3.0, "deadline off again")
    assert snapshot.restore(stack, []) == []
    assert os.stat(stack.flag_file()).st_mode & 0o777 == 0o644
