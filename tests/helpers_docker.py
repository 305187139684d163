"""Fixtures for the Docker runtime's tests: a real engine, the CI images, one stack per module.

The stack runs the CI layout (stack/compose.ci.yaml: host networking, every part on free
127.0.0.1 ports). Without an engine the tests are skipped, except in CI (``CI`` or
``CRASHLAB_REQUIRE_DOCKER`` set), where that is a failure: scripts/ci-docker.sh must have started
one and built the images.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crashlab.rundir import RunDir
from crashlab.waits import wait_until
from stack.runtime import RestartPolicy, StackConfig

SERVICE_IMAGE = os.environ.get("CRASHLAB_SERVICE_IMAGE", "crashlab-service:ci")
PROMETHEUS_IMAGE = os.environ.get("CRASHLAB_PROMETHEUS_IMAGE", "crashlab-prometheus:debian")
#: the module stack's restart backoff (initial = max)
BACKOFF_S = 2.0
#: the module stack's switches: hardened with one fix off and settings away from their defaults
SWITCHES: dict[str, Any] = {
    "bulkhead": False,
    "pooled_client": {"pool_exhausted_at": 150},
    "retry": {"max_attempts": 5, "naive_interval_ms": 150},
}


def unavailable(reason: str) -> None:
    if os.environ.get("CI") or os.environ.get("CRASHLAB_REQUIRE_DOCKER"):
        pytest.fail(f"{reason} (CI: scripts/ci-docker.sh must prepare the engine and the images)")
    pytest.skip(reason)


def compose_config(*files: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """``docker compose config`` of ``files`` as JSON (the compose binary only, no engine)."""
    if (
        shutil.which("docker") is None
        or subprocess.run(["docker", "compose", "version"], capture_output=True).returncode
    ):
        unavailable("docker compose (v2) is not installed")
    cmd = ["docker", "compose", "-p", "crashlab-config-test"]
    for f in files:
        cmd += ["-f", str(f)]
    done = subprocess.run(
        [*cmd, "config", "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": str(Path.home()), **(env or {})},
    )
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def require_engine() -> Any:
    """A docker SDK client, or skip (fail in CI) when no engine or image is there."""
    import docker
    import docker.errors

    try:
        cli = docker.from_env(timeout=30)
        cli.ping()
    except docker.errors.DockerException as exc:
        unavailable(f"no Docker engine: {exc}")
    for tag in (SERVICE_IMAGE, PROMETHEUS_IMAGE):
        try:
            cli.images.get(tag)
        except docker.errors.ImageNotFound:
            cli.close()
            unavailable(f"image {tag} missing: run scripts/ci-docker.sh")
    return cli


@pytest.fixture(scope="module")
def docker_cli() -> Iterator[Any]:
    cli = require_engine()
    yield cli
    cli.close()


@pytest.fixture(scope="module")
def docker_stack(docker_cli: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from stack.docker import DockerOptions, up

    root = tmp_path_factory.mktemp("docker-runs")
    run = RunDir.create("docker-test", root)
    options = DockerOptions(
        ci=True,
        project=f"crashlab-test-{secrets.token_hex(3)}",
        service_image=SERVICE_IMAGE,
        prometheus_image=PROMETHEUS_IMAGE,
        state_file=root / "docker-stack.json",
    )
    # a backoff long enough to measure: the observer, not the engine, restarts the services
    policy = RestartPolicy(backoff_initial_s=BACKOFF_S, backoff_max_s=BACKOFF_S)
    config = StackConfig(
        run_dir=run, runtime="docker", health_timeout_s=60, restart_policy=policy, switches=dict(SWITCHES)
    )
    stack = up(config, options)
    try:
        yield stack
    finally:
        stack.down()
        # the volume is gone, the run's TSDB is not: `crashlab report` can replay it
        down = journal_events(run.journal_path, "stack", "down")
        assert down and down[-1].get("telemetry") == str(run.prometheus / "data"), down
        assert (run.prometheus / "data" / "wal").is_dir()
        # down returns once every part is gone: nothing of the project is left, not even stopped
        leftovers = docker_cli.containers.list(
            all=True, filters={"label": f"com.docker.compose.project={options.project}"}
        )
        for ctr in leftovers:
            ctr.remove(force=True)
        assert not leftovers, f"containers left after down: {[c.name for c in leftovers]}"


def http_get(url: str, timeout_s: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        body = exc.read()
        exc.close()
        return exc.code, body
    except OSError as exc:  # refused, reset, timed out: no answer
        return 0, str(exc).encode()


def play(game_url: str, token: str = "", timeout_s: float = 5.0) -> int:
    body = json.dumps({"player_choice": "rock"}).encode()
    req = urllib.request.Request(
        f"{game_url}/play",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "X-Player-Id": "docker-test"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code


def prom_query(prom_url: str, query: str) -> list[dict[str, Any]]:
    url = f"{prom_url}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
    status, body = http_get(url, timeout_s=5.0)
    assert status == 200, body
    result: list[dict[str, Any]] = json.loads(body)["data"]["result"]
    return result


def wait_for(predicate: Any, timeout_s: float, what: str, interval_s: float = 0.5) -> Any:
    return wait_until(predicate, timeout_s, what, every_s=interval_s)


def journal_events(path: Path, type_: str, event: str, **match: Any) -> list[Any]:
    from crashlab.journal import read_journal

    return [
        e
        for e in read_journal(path)
        if e.type == type_ and e.event == event and all(e.get(k) == v for k, v in match.items())
    ]


def restarts(stack: Any, service: str) -> int:
    """The service's restarts, as ``crashlab status`` shows them (the observer's count)."""
    restarts: int = next(part.restarts for part in stack.status() if part.name == service)
    return restarts
