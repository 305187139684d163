"""The Docker engine and Compose: a docker SDK client, the compose command, and the stack's containers.

Containers are found through the labels Compose puts on them (``com.docker.compose.project`` and
``com.docker.compose.service``), never by name.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import docker
import docker.errors

from stack.runtime import StackError

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
#: stack/ (compose.yaml, compose.ci.yaml and the configs they mount)
STACK_DIR = Path(__file__).resolve().parent.parent
COMPOSE_FILE = STACK_DIR / "compose.yaml"
COMPOSE_CI_FILE = STACK_DIR / "compose.ci.yaml"


class DockerError(StackError):
    """The Docker engine, Compose or a container failed; the message names which and what to do."""


def client() -> Any:
    """A docker SDK client for the engine of the environment (``DOCKER_HOST`` or the local socket)."""
    try:
        cli = docker.from_env(timeout=30)
        cli.ping()
    except docker.errors.DockerException as exc:
        raise DockerError(
            f"docker engine: not reachable ({exc}); start dockerd (or Docker Desktop), or use --runtime local"
        ) from None
    return cli


def compose_command() -> list[str]:
    """``docker compose`` (v2), falling back to a standalone ``docker-compose`` that is v2."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        probe = subprocess.run([legacy, "version"], capture_output=True, text=True, check=False)
        if probe.returncode == 0 and "v2" in probe.stdout:
            return [legacy]
        raise DockerError(
            f"{legacy}: Compose v1 cannot read stack/compose.yaml; install Compose v2 "
            "(docker compose plugin; scripts/ci-docker.sh shows how)"
        )
    raise DockerError("docker compose: not installed; install the Compose v2 plugin (see docs/docker.md)")


#: the oldest Compose that reads each file: compose.yaml's ``env_file`` with ``path``/``required``
#: came in 2.24.0, compose.ci.yaml's ``!override`` tag in 2.24.4
MIN_COMPOSE = {COMPOSE_FILE.name: (2, 24, 0), COMPOSE_CI_FILE.name: (2, 24, 4)}
_WHY_MIN = {
    COMPOSE_FILE.name: "its env_file entries with path/required",
    COMPOSE_CI_FILE.name: "its !override tags",
}


def compose_version() -> tuple[int, int, int]:
    """The Compose version, e.g. ``(2, 40, 3)`` (``docker compose version --short``)."""
    done = subprocess.run(
        [*compose_command(), "version", "--short"], capture_output=True, text=True, check=False, timeout=30
    )
    found = re.search(r"(\d+)\.(\d+)\.(\d+)", done.stdout)
    if done.returncode != 0 or found is None:
        raise DockerError(
            f"docker compose version: cannot tell the version ({(done.stderr or done.stdout).strip()})"
        )
    major, minor, patch = (int(part) for part in found.groups())
    return major, minor, patch


def _marker_line(path: Path, marker: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if marker in line:
            return number
    return 1


def check_compose_version(files: Sequence[Path], version: tuple[int, int, int] | None = None) -> None:
    """Refuse a Compose too old for ``files``, naming the construct that needs the newer one."""
    have = version or compose_version()
    for path in files:
        need = MIN_COMPOSE.get(path.name)
        if need is None or have >= need:
            continue
        marker = "env_file:" if path.name == COMPOSE_FILE.name else "!override"
        raise DockerError(
            f"{path}:{_marker_line(path, marker)}: Docker Compose {'.'.join(map(str, have))} is too old "
            f"for {_WHY_MIN[path.name]}; install Compose {'.'.join(map(str, need))} or newer "
            "(docs/docker.md, Quick start)"
        )


def compose_pull(
    project: str, files: Sequence[Path], services: Sequence[str], env: Mapping[str, str]
) -> None:
    """``docker compose pull`` of ``services``, its progress on this terminal, for as long as it takes
    (a first pull of the full stack is about a gigabyte)."""
    cmd = [*compose_command(), "-p", project]
    for path in files:
        cmd += ["-f", str(path)]
    done = subprocess.run([*cmd, "pull", *services], env=dict(env), check=False, cwd=STACK_DIR)
    if done.returncode != 0:
        raise DockerError(
            f"docker compose pull {' '.join(services)} failed (exit {done.returncode}, its output above); "
            "check the network and the registry, or pull the images by hand"
        )


def compose(
    project: str,
    files: Sequence[Path],
    args: Sequence[str],
    env: Mapping[str, str],
    *,
    timeout_s: float = 300.0,
) -> subprocess.CompletedProcess[str]:
    """Run ``docker compose -p PROJECT -f FILE... ARGS``; a failure raises with Compose's last lines."""
    cmd = [*compose_command(), "-p", project]
    for path in files:
        cmd += ["-f", str(path)]
    cmd += list(args)
    try:
        done = subprocess.run(
            cmd, env=dict(env), capture_output=True, text=True, timeout=timeout_s, check=False, cwd=STACK_DIR
        )
    except subprocess.TimeoutExpired:
        raise DockerError(f"docker compose {' '.join(args)}: no answer within {timeout_s:.0f}s") from None
    if done.returncode != 0:
        tail = " | ".join(line for line in (done.stderr or done.stdout).strip().splitlines()[-4:])
        raise DockerError(f"docker compose {' '.join(args)} (project {project}) failed: {tail}")
    return done


def containers(cli: Any, project: str, service: str | None = None, *, all: bool = True) -> list[Any]:
    """The project's containers (optionally one service's), found by their compose labels."""
    labels = [f"{PROJECT_LABEL}={project}"]
    if service is not None:
        labels.append(f"{SERVICE_LABEL}={service}")
    found: list[Any] = cli.containers.list(all=all, filters={"label": labels})
    return found


def container(cli: Any, project: str, service: str) -> Any:
    """The one container of ``service`` in ``project``."""
    found = containers(cli, project, service)
    if not found:
        raise DockerError(
            f"container of service {service!r}: none in compose project {project!r}; is the stack up?"
        )
    return found[0]


def memory_in_use(ctr: Any) -> int | None:
    """The container's resident memory in bytes, as ``docker stats`` counts it: the cgroup's usage
    without the page cache it can drop (``inactive_file``; cgroup v1 ``total_inactive_file``, else
    ``cache``). None when the container is not running or the engine gives no figure."""
    try:
        stats = ctr.stats(stream=False, one_shot=True)
    except docker.errors.DockerException:
        return None
    memory = stats.get("memory_stats") or {}
    usage = memory.get("usage")
    if not isinstance(usage, int):
        return None
    detail = memory.get("stats") or {}
    for key in ("total_inactive_file", "inactive_file", "cache"):
        dropped = detail.get(key)
        if isinstance(dropped, int) and dropped <= usage:
            return usage - dropped
    return usage
