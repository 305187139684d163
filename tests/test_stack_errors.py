"""Start-up failures of the local stack: each a one-line StackError naming the part and what to do,
and nothing left running."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from crashlab.journal import read_journal
from crashlab.rundir import RunDir
from stack.local import attach, up
from stack.local.state import process_alive, state_path
from stack.runtime import StackError
from tests.helpers_stack import TINY, stack_config, stack_dirs

__all__ = ["stack_dirs"]

CRASHLAB = str(Path(sys.executable).with_name("crashlab"))


def started_pids(run: RunDir) -> list[int]:
    return [
        int(e.get("pid"))
        for e in read_journal(run.journal_path)
        if e.type == "process" and e.event in ("started", "restarted")
    ]


def assert_all_gone(run: RunDir) -> None:
    pids = started_pids(run)
    assert pids, "the journal should name what was started"
    assert [pid for pid in pids if process_alive(pid)] == []
    assert not state_path().exists()
    assert attach() is None


def test_port_taken(stack_dirs: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        config = stack_config(stack_dirs, ports={"game": port})
        with pytest.raises(StackError) as err:
            up(config)
    message = str(err.value)
    assert message.startswith(f"game: port 127.0.0.1:{port} is already in use")
    assert "--game-port" in message and "\n" not in message
    assert not config.run_dir.journal_path.exists()  # nothing was started
    assert not state_path().exists()


def test_prometheus_missing(stack_dirs: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CRASHLAB_PROMETHEUS_BIN"}
    env["PATH"] = str(stack_dirs / "empty-bin")
    done = subprocess.run(
        [CRASHLAB, "up"], env=env, cwd=stack_dirs, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("crashlab: error: prometheus: the `prometheus` binary is not on PATH")
    assert "--runtime docker" in lines[0] and "make setup" in lines[0]
    assert not (stack_dirs / "state" / "stack.json").exists()


def test_health_timeout(stack_dirs: Path) -> None:
    config = stack_config(stack_dirs, with_prometheus=False, health_timeout_s=5.0)
    sleeper = [sys.executable, "-c", "import time; print('listening nowhere', flush=True); time.sleep(60)"]
    # odds: a stand-in that answers at once (the real one may take seconds to start on a busy machine)
    with pytest.raises(StackError) as err:
        up(config, commands={"game": sleeper, "odds": [sys.executable, "-c", TINY]})
    message = str(err.value)
    assert message.startswith("game: not healthy within 5 s: game at http://127.0.0.1:")
    assert "last output: listening nowhere" in message and "--health-timeout" in message
    assert_all_gone(config.run_dir)


def test_prometheus_crashes_at_start(stack_dirs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = stack_dirs / "prometheus"
    fake.write_text("#!/bin/sh\necho 'err=\"opening storage failed\"' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CRASHLAB_PROMETHEUS_BIN", str(fake))
    config = stack_config(stack_dirs)
    with pytest.raises(StackError) as err:
        up(config)
    message = str(err.value)
    assert message.startswith("prometheus: exited before it became healthy (crash, exit code 1): ")
    assert "opening storage failed" in message and "prometheus.stdout.log" in message
    assert_all_gone(config.run_dir)
