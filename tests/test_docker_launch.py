"""How `crashlab up --runtime docker` prepares the project, without an engine: the host ports (given
ones must be free, busy defaults move to free ports), the Compose version each file needs (file:line
in the refusal), which images a first `make up` pulls, and the observer's restart policy."""

from __future__ import annotations

import contextlib
import json
import socket
import tarfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import setuptools

from crashlab.rundir import RunDir
from stack.docker.context import REPO_DIR, build_context, context_files, sources_digest
from stack.docker.engine import COMPOSE_CI_FILE, COMPOSE_FILE, DockerError, check_compose_version
from stack.docker.launch import PULLED, host_ports, images_to_pull, restart_policy_json
from stack.docker.options import CORE_PARTS, FULL_PARTS, FULL_PORTS, OBSERVER_PORT
from stack.local.spec import RestartSpec
from stack.runtime import RestartPolicy, StackConfig, StackError


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StackConfig:
    for part in (*FULL_PARTS, "supervisor"):
        monkeypatch.delenv(f"CRASHLAB_{part.upper()}_PORT", raising=False)
    return StackConfig(run_dir=RunDir.create("ports", tmp_path), runtime="docker")


@pytest.fixture
def busy_game_port() -> Iterator[int]:
    """Something else listens on the full layout's default game port (127.0.0.1)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        with contextlib.suppress(OSError):  # already busy: just as good
            sock.bind(("127.0.0.1", FULL_PORTS["game"]))
        sock.listen()
        yield FULL_PORTS["game"]


def test_full_layout_takes_its_defaults_when_free_and_a_free_port_for_a_busy_one(
    config: StackConfig, busy_game_port: int
) -> None:
    ports = host_ports(config, FULL_PARTS, ci=False)
    assert set(ports) == set(FULL_PARTS)
    assert ports["game"] != busy_game_port
    assert len(set(ports.values())) == len(ports)
    for part, default in {**FULL_PORTS, "observer": OBSERVER_PORT}.items():
        if part != "game":
            # a default is kept unless something else holds it on this machine
            assert ports[part] == default or _busy(default), part


def _busy(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_a_given_port_must_be_free_and_says_how_to_pick_another(
    config: StackConfig, busy_game_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRASHLAB_GAME_PORT", str(busy_game_port))
    with pytest.raises(StackError, match=rf"game: port 127.0.0.1:{busy_game_port} is already in use"):
        host_ports(config, FULL_PARTS, ci=False)
    # StackConfig.ports (the CLI's --game-port) wins over the environment, and is checked the same way
    monkeypatch.delenv("CRASHLAB_GAME_PORT")
    config.ports["game"] = busy_game_port
    with pytest.raises(StackError, match="--game-port / CRASHLAB_GAME_PORT"):
        host_ports(config, FULL_PARTS, ci=False)


def test_ci_layout_takes_free_ports_for_every_part_and_the_observer(config: StackConfig) -> None:
    ports = host_ports(config, CORE_PARTS, ci=True)
    assert set(ports) == set(CORE_PARTS) and len(set(ports.values())) == len(ports)
    assert not set(ports.values()) & {*FULL_PORTS.values(), OBSERVER_PORT}


def _line(path: Path, marker: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if marker in line)


def test_compose_too_old_is_refused_with_the_file_and_line_that_needs_a_newer_one() -> None:
    with pytest.raises(DockerError) as old:
        check_compose_version([COMPOSE_FILE], (2, 23, 3))
    assert str(old.value).startswith(
        f"{COMPOSE_FILE}:{_line(COMPOSE_FILE, 'env_file:')}: Docker Compose 2.23.3"
    )
    assert "2.24.0 or newer" in str(old.value)
    check_compose_version([COMPOSE_FILE], (2, 24, 0))
    with pytest.raises(DockerError, match=r"compose\.ci\.yaml:\d+: .*!override.*2\.24\.4 or newer"):
        check_compose_version([COMPOSE_FILE, COMPOSE_CI_FILE], (2, 24, 3))
    check_compose_version([COMPOSE_FILE, COMPOSE_CI_FILE], (2, 40, 3))


def test_a_first_make_up_pulls_exactly_the_images_the_engine_lacks() -> None:
    services = {name: {"image": f"registry/{name}:1"} for name in (*FULL_PARTS, "volume-owners")}
    services["game"]["image"] = services["odds"]["image"] = services["observer"]["image"] = (
        "crashlab-service:latest"
    )
    present = {"registry/prometheus:1", "registry/grafana:1"}
    assert images_to_pull(services, FULL_PARTS, present.__contains__) == [
        "alertmanager",
        "loki",
        "tempo",
        "alloy",
    ]
    # the services' own image is built here, never pulled
    assert not {"game", "odds", "observer"} & set(PULLED)
    assert images_to_pull(services, CORE_PARTS, lambda _image: False) == ["prometheus", "alertmanager"]


def test_the_observer_gets_the_drills_restart_policy() -> None:
    policy = RestartPolicy(name="on-failure", max_retries=20, backoff_initial_s=4.0, backoff_max_s=4.0)
    spec = RestartSpec.model_validate(
        json.loads(restart_policy_json(StackConfig(run_dir=RunDir(Path("/x")), restart_policy=policy)))
    )
    assert (spec.name, spec.max_retries, spec.backoff_initial_s, spec.backoff_max_s) == (
        "on-failure",
        20,
        4.0,
        4.0,
    )


def test_the_image_holds_every_package_the_project_installs() -> None:
    """The image installs the project from the context: a package missing from it (gameday once) makes
    every command in the container fail at import (the odds container exited 1 in CI)."""
    packages = setuptools.find_packages(str(REPO_DIR), include=_pyproject_includes())
    top_level = {name.split(".")[0] for name in packages}
    in_context = {rel.parts[0] for rel in context_files() if len(rel.parts) > 1}
    assert top_level <= in_context, f"not in the image's context: {sorted(top_level - in_context)}"
    assert "gameday" in top_level


def _pyproject_includes() -> list[str]:
    with (REPO_DIR / "pyproject.toml").open("rb") as fh:
        includes: list[str] = tomllib.load(fh)["tool"]["setuptools"]["packages"]["find"]["include"]
    return includes


def test_the_images_digest_follows_the_code_and_not_the_readme(tmp_path: Path) -> None:
    """An image built from other code is noticed by its label; a README edit does not make it stale."""
    (tmp_path / "stack").mkdir()
    (tmp_path / "stack" / "__pycache__").mkdir()
    (tmp_path / "stack" / "mod.py").write_text("x = 1\n")
    (tmp_path / "stack" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "README.md").write_text("one\n")
    (tmp_path / "pyproject.toml").write_text('[tool.setuptools.packages.find]\ninclude = ["stack*"]\n')
    assert [str(p) for p in context_files(tmp_path)] == ["README.md", "pyproject.toml", "stack/mod.py"]
    first = sources_digest(tmp_path)
    (tmp_path / "README.md").write_text("two\n")
    assert sources_digest(tmp_path) == first
    (tmp_path / "stack" / "mod.py").write_text("x = 2\n")
    assert sources_digest(tmp_path) != first
    with tarfile.open(fileobj=build_context(tmp_path)) as tar:
        # plain ustar entries: `docker build -` recognises the archive from its first 1 KiB
        assert tar.getnames() == ["README.md", "pyproject.toml", "stack/mod.py"]
        assert all(m.type == tarfile.REGTYPE and m.uid == 0 for m in tar.getmembers())
