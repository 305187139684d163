"""The Docker runtime: ``stack/compose.yaml`` brought up by Compose, observed, supervised and faulted
through the docker SDK. ``up(config, options)`` -> :class:`DockerStack`, ``attach()``, ``down()``;
docs/docker.md."""

from stack.docker.engine import DockerError
from stack.docker.launch import up
from stack.docker.options import DockerOptions
from stack.docker.running import DockerStack, attach, down

__all__ = ["DockerError", "DockerOptions", "DockerStack", "attach", "down", "up"]
