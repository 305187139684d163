"""The service image (``stack/images/service/Dockerfile``), built from a context holding only the
Python sources (no ``.venv``, no ``runs/``): the same context ``scripts/ci-docker.sh`` sends."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import docker.errors

from stack.docker.engine import STACK_DIR, DockerError

REPO_DIR = STACK_DIR.parent
SOURCES = ("pyproject.toml", "README.md", "crashlab", "service", "chaos", "stack", "reports")
DOCKERFILE = "stack/images/service/Dockerfile"
DEFAULT_BASE_IMAGE = "python:3.11-slim-bookworm"


def _skip(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    name = Path(info.name)
    if "__pycache__" in name.parts or name.suffix == ".pyc":
        return None
    return info


def build_context() -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in SOURCES:
            path = REPO_DIR / name
            if path.exists():
                tar.add(path, arcname=name, filter=_skip)
    buf.seek(0)
    return buf


def has_image(cli: Any, tag: str) -> bool:
    try:
        cli.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def ensure_service_image(cli: Any, tag: str, base_image: str = DEFAULT_BASE_IMAGE) -> None:
    """Build ``tag`` from ``base_image`` unless the engine already has it."""
    if has_image(cli, tag):
        return
    try:
        cli.images.build(
            fileobj=build_context(),
            custom_context=True,
            dockerfile=DOCKERFILE,
            tag=tag,
            buildargs={"BASE_IMAGE": base_image},
            network_mode="host",
            rm=True,
        )
    except (docker.errors.BuildError, docker.errors.APIError) as exc:
        raise DockerError(f"building image {tag} from {DOCKERFILE} (base {base_image}): {exc}") from None
