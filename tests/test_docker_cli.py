"""`crashlab up|status|down` on the Docker runtime (CI layout) as a user types them: status and down
without --runtime find the Docker stack, status exits 1 while a part is unhealthy (0 healthy, 2 no
stack), and down returns once every container of the project is gone."""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path
from typing import Any

import pytest

from crashlab.waits import wait_until
from tests.helpers_docker import require_engine
from tests.helpers_scenario import run_cli

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300)]


def run(tmp: Path, project: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "CRASHLAB_STATE_DIR": str(tmp / "state"),
        "CRASHLAB_RUNS_DIR": str(tmp / "runs"),
        "CRASHLAB_DOCKER_CI": "1",
        "CRASHLAB_PROJECT": project,
        "CRASHLAB_RUNTIME": "",
    }
    return run_cli(*args, env=env, timeout_s=240)


def _project_containers(cli: Any, project: str) -> list[Any]:
    found: list[Any] = cli.containers.list(
        all=True, filters={"label": f"com.docker.compose.project={project}"}
    )
    return found


def test_status_and_down_find_the_docker_stack_and_tell_its_health(tmp_path: Path) -> None:
    cli = require_engine()
    project = f"crashlab-cli-{secrets.token_hex(3)}"
    try:
        up = run(tmp_path, project, "up", "--runtime", "docker", "--json")
        assert up.returncode == 0, up.stdout + up.stderr
        assert json.loads(up.stdout)["runtime"] == "docker"
        try:
            status = run(tmp_path, project, "status", "--json")
            assert status.returncode == 0, status.stdout + status.stderr
            parts = {p["name"]: p for p in json.loads(status.stdout)}
            assert set(parts) == {"observer", "odds", "game", "prometheus", "alertmanager"}
            assert all(p["healthy"] for p in parts.values())
            (odds,) = [
                c
                for c in _project_containers(cli, project)
                if c.labels["com.docker.compose.service"] == "odds"
            ]
            odds.pause()
            try:

                def unhealthy() -> subprocess.CompletedProcess[str] | None:
                    done = run(tmp_path, project, "status")
                    return done if done.returncode == 1 else None

                paused = wait_until(unhealthy, 30, "status exit 1 while odds is paused")
                assert paused is not None
                assert "UNHEALTHY" in next(
                    line for line in paused.stdout.splitlines() if line.startswith("odds ")
                )
                assert paused.stderr.strip() == "crashlab: not healthy: odds"
            finally:
                odds.unpause()
            wait_until(lambda: run(tmp_path, project, "status").returncode == 0, 60, "healthy again")
        finally:
            down = run(tmp_path, project, "down")
        assert down.returncode == 0, down.stdout + down.stderr
        assert down.stdout.startswith("crashlab: docker stack stopped")
        # down returned: nothing of the project is left, not even a stopped container
        assert _project_containers(cli, project) == []
        gone = run(tmp_path, project, "status")
        assert gone.returncode == 2 and "no stack is running" in gone.stderr
    finally:
        for ctr in _project_containers(cli, project):
            ctr.remove(force=True)
        cli.close()
