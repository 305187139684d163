"""``crashlab up`` interrupted early: killed (SIGKILL) right after it spawned the supervisor it leaves no
stack that ``status`` and ``down`` cannot see; Ctrl-C (SIGINT) at that moment or in its first 0.6 s
stops everything it started and prints no traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from crashlab.waits import wait_until
from stack.local.state import read_state

CRASHLAB = str(Path(sys.executable).with_name("crashlab"))


def env_for(tmp: Path) -> dict[str, str]:
    return {**os.environ, "CRASHLAB_STATE_DIR": str(tmp / "state"), "CRASHLAB_RUNS_DIR": str(tmp / "runs")}


def start_up(tmp: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [CRASHLAB, "up"],
        env=env_for(tmp),
        cwd=tmp,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def crashlab(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CRASHLAB, *args], env=env_for(tmp), cwd=tmp, capture_output=True, text=True, timeout=120
    )


def started_by(runs: Path) -> list[psutil.Process]:
    """Live processes whose command line names a path under ``runs`` (the supervisor's spec, the
    services' logs, Prometheus' and Alertmanager's data)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            cmdline = proc.info["cmdline"] or []
            if proc.info["status"] != psutil.STATUS_ZOMBIE and any(str(runs) in arg for arg in cmdline):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def spec_written(runs: Path) -> Path | None:
    return next(iter(runs.glob("*/supervisor.json")), None)


def kill_all(procs: list[psutil.Process]) -> None:
    for proc in procs:
        try:
            proc.kill()
        except psutil.Error:
            continue


def test_up_killed_right_after_spawning_the_supervisor_leaves_a_visible_stack(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    proc = start_up(tmp_path)
    try:
        wait_until(lambda: spec_written(runs), 120, "the supervisor spec", every_s=0.005)
        proc.kill()  # between writing the spec (just before the spawn) and the supervisor's first answer
        proc.communicate(timeout=10)
        # whatever runs now is a stack the state file names, so status and down see it
        wait_until(
            lambda: not started_by(runs) or read_state(tmp_path / "state" / "stack.json"),
            20,
            "the processes left to be named by the state file",
            every_s=0.05,
        )
        if started_by(runs):
            state = read_state(tmp_path / "state" / "stack.json")
            assert state is not None and state.supervisor_alive()
            status = crashlab(tmp_path, "status")
            # visible: named with its run (exit 1 while its services are still starting up)
            assert status.returncode in (0, 1), status.stderr
            assert state.run_id in status.stdout, status.stdout + status.stderr
        down = crashlab(tmp_path, "down")
        assert down.returncode == 0, down.stderr
        wait_until(lambda: not started_by(runs), 30, "nothing left of the stack")
    finally:
        kill_all(started_by(runs))


def test_ctrl_c_right_after_spawning_the_supervisor_stops_it(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    proc = start_up(tmp_path)
    try:
        wait_until(lambda: spec_written(runs), 120, "the supervisor spec", every_s=0.005)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode != 0
        assert "Traceback" not in err, err
        wait_until(lambda: not started_by(runs), 30, "nothing left of the interrupted start")
        assert read_state(tmp_path / "state" / "stack.json") is None
    finally:
        kill_all(started_by(runs))


#: ``crashlab up`` through its console script's main(), saying when crashlab's own code starts: a Ctrl-C
#: while the interpreter itself starts up (its site module, on a busy machine well past 0.15 s) is
#: Python's, before any code of crashlab runs
UP_FROM_ENTRY = (
    "import sys; from crashlab.entry import main; sys.argv = ['crashlab', 'up']; "
    "sys.stderr.write('entry\\n'); sys.stderr.flush(); main()"
)


@pytest.mark.parametrize("after_s", [0.15, 0.3, 0.45, 0.6])
def test_ctrl_c_in_the_first_moments_of_up_prints_no_traceback(tmp_path: Path, after_s: float) -> None:
    runs = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-c", UP_FROM_ENTRY],
        env=env_for(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None and proc.stderr.readline() == "entry\n"
        time.sleep(after_s)  # the interrupt's timing after crashlab's first line is the test's input
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, (proc.returncode, err)
        assert "Traceback" not in err and err.strip().splitlines()[-1:] == ["crashlab: interrupted"], err
        wait_until(lambda: not started_by(runs), 30, "nothing left of the interrupted start")
        assert read_state(tmp_path / "state" / "stack.json") is None
    finally:
        kill_all(started_by(runs))
