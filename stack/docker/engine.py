"""The Docker engine and Compose: a docker SDK client, the compose command, and the stack's containers.

Containers are found through the labels Compose puts on them (``com.docker.compose.project`` and
``com.docker.compose.service``), never by name.
"""

from __future__ import annotations

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
