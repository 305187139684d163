"""The Docker runtime: ``stack/compose.yaml`` brought up by Compose, observed and faulted through the
docker SDK. ``up(config, options)`` -> :class:`DockerStack`, ``attach()``, ``down()``; docs/docker.md."""

from stack.docker.engine import DockerError
from stack.docker.running import DockerOptions, DockerStack, attach, down, up

__all__ = ["DockerError", "DockerOptions", "DockerStack", "attach", "down", "up"]
