"""``crashlab up`` / ``status --json`` / ``down`` as a user runs them: nothing is left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from crashlab.waits import wait_until
from stack.local.running import group_pids
from stack.local.state import process_alive, read_state

CRASHLAB = str(Path(sys.executable).with_name("crashlab"))


def run(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CRASHLAB_STATE_DIR": str(tmp / "state"), "CRASHLAB_RUNS_DIR": str(tmp / "runs")}
    return subprocess.run([CRASHLAB, *args], env=env, cwd=tmp, capture_output=True, text=True, timeout=120)


def test_up_status_down(tmp_path: Path) -> None:
    done = run(tmp_path, "up", "--json", "--switch", "retry=false", "--memory-limit", "game=400")
    assert done.returncode == 0, done.stderr
    try:
        out = json.loads(done.stdout)
        assert out["runtime"] == "local" and set(out["urls"]) == {
            "game",
            "odds",
            "prometheus",
            "alertmanager",
            "supervisor",
        }
        state = read_state(tmp_path / "state" / "stack.json")
        assert state is not None and state.supervisor_alive()
        assert (tmp_path / "state" / "stack.json").stat().st_mode & 0o777 == 0o600
        spec = json.loads((Path(out["run_dir"]) / "supervisor.json").read_text())
        game = next(p for p in spec["parts"] if p["name"] == "game")
        # the switches travel in the stack's flag file, nowhere else
        flag_file = Path(out["run_dir"]) / "flags" / "flags.json"
        assert game["argv"][game["argv"].index("--flag-file") + 1] == str(flag_file.absolute())
        assert not any(k.startswith("CRASHLAB_SWITCH_") for k in game["env"])
        assert json.loads(flag_file.read_text())["flags"]["retry"]["defaultVariant"] == "off"
        assert game["memory_limit_bytes"] == 400 * 2**20

        again = run(tmp_path, "up")
        assert again.returncode == 2 and "already running" in again.stderr

        status = run(tmp_path, "status", "--json")
        assert status.returncode == 0, status.stderr
        parts = json.loads(status.stdout)
        assert [p["name"] for p in parts] == ["supervisor", "odds", "game", "prometheus", "alertmanager"]
        assert next(p for p in parts if p["name"] == "alertmanager")["url"] == out["urls"]["alertmanager"]
        for part in parts:
            assert set(part) == {"name", "pid", "url", "healthy", "restarts"}
            assert part["healthy"] is True and part["restarts"] == 0 and isinstance(part["pid"], int)
        table = run(tmp_path, "status")
        assert "game" in table.stdout and "healthy" in table.stdout
        am_line = next(line for line in table.stdout.splitlines() if line.startswith("alertmanager "))
        assert "healthy" in am_line and am_line.endswith(out["urls"]["alertmanager"])
    finally:
        down = run(tmp_path, "down")
    assert down.returncode == 0, down.stderr
    assert "stopped" in down.stdout
    assert [p["pid"] for p in parts if process_alive(p["pid"])] == []
    assert group_pids(state.pgid) == []
    after = run(tmp_path, "status")
    assert after.returncode == 2
    assert after.stderr.strip() == "crashlab: error: stack: no stack is running; start one with `crashlab up`"
    named = run(tmp_path, "status", "--runtime", "local")
    assert named.returncode == 2
    assert named.stderr.strip() == (
        "crashlab: error: stack: no local stack is running; start one with `crashlab up --runtime local`"
    )


def test_status_exits_1_when_a_part_is_unhealthy(tmp_path: Path) -> None:
    """Exit codes of `crashlab status`: 0 every part healthy, 1 one is not (named on stderr), 2 no stack.
    Without --runtime, status and down find the running stack whatever its runtime."""
    try:
        # inside the try: an up that fails or times out on a busy machine leaves no stack behind
        done = run(tmp_path, "up", "--json", "--restart", "no", "--no-alertmanager")
        assert done.returncode == 0, done.stderr
        healthy = run(tmp_path, "status")
        assert healthy.returncode == 0, healthy.stdout + healthy.stderr
        odds = next(p for p in json.loads(run(tmp_path, "status", "--json").stdout) if p["name"] == "odds")
        os.kill(odds["pid"], signal.SIGKILL)  # restart policy "no": it stays down
        wait_until(lambda: run(tmp_path, "status").returncode == 1, 20, "status exit 1")
        status = run(tmp_path, "status", "--json")
        assert status.returncode == 1
        assert [p["healthy"] for p in json.loads(status.stdout) if p["name"] == "odds"] == [False]
        assert status.stderr.strip() == "crashlab: not healthy: odds"
    finally:
        down = run(tmp_path, "down")
    assert down.returncode == 0 and down.stdout.startswith("crashlab: local stack stopped"), down.stderr
    assert run(tmp_path, "status").returncode == 2
    nothing = run(tmp_path, "down")
    assert nothing.returncode == 0 and nothing.stdout.strip() == "crashlab: no stack is running"
