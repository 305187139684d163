"""The service image (``stack/images/service/Dockerfile``; game, odds and the observer run it), built
from :mod:`stack.docker.context` (only the Python sources, the same context ``scripts/ci-docker.sh``
sends) and labelled with the sources' digest."""

from __future__ import annotations

from typing import Any

import docker.errors

from stack.docker.context import SOURCES_LABEL, build_context, sources_digest
from stack.docker.engine import DockerError

DOCKERFILE = "stack/images/service/Dockerfile"
DEFAULT_BASE_IMAGE = "python:3.11-slim-bookworm"


def image_labels(cli: Any, tag: str) -> dict[str, str] | None:
    """The image's labels, None when the engine does not have it."""
    try:
        image = cli.images.get(tag)
    except docker.errors.ImageNotFound:
        return None
    labels: dict[str, str] = image.labels or {}
    return labels


def has_image(cli: Any, tag: str) -> bool:
    return image_labels(cli, tag) is not None


def ensure_service_image(
    cli: Any, tag: str, base_image: str = DEFAULT_BASE_IMAGE, *, rebuild_stale: bool = True
) -> None:
    """Build ``tag`` from ``base_image`` unless the engine has it built from these very sources.

    An image built from other sources is rebuilt (``rebuild_stale``) or refused with what to do: its
    game, odds and observer would run other code than this checkout."""
    digest = sources_digest()
    labels = image_labels(cli, tag)
    if labels is not None and labels.get(SOURCES_LABEL) == digest:
        return
    if labels is not None and not rebuild_stale:
        raise DockerError(
            f"image {tag} was built from other sources than this checkout "
            f"({SOURCES_LABEL} {labels.get(SOURCES_LABEL, 'missing')[:12]}, sources {digest[:12]}); "
            "rebuild it: bash scripts/ci-docker.sh"
        )
    try:
        cli.images.build(
            fileobj=build_context(),
            custom_context=True,
            dockerfile=DOCKERFILE,
            tag=tag,
            buildargs={"BASE_IMAGE": base_image},
            labels={SOURCES_LABEL: digest},
            network_mode="host",
            rm=True,
        )
    except (docker.errors.BuildError, docker.errors.APIError) as exc:
        raise DockerError(f"building image {tag} from {DOCKERFILE} (base {base_image}): {exc}") from None
