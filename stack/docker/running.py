"""The running Docker stack: :class:`DockerStack` (the :class:`stack.runtime.Stack` protocol and the
capabilities ``stack.registry`` declares for ``docker``), ``attach`` finds it again from the state
file, ``down`` takes it down. ``up`` is :mod:`stack.docker.launch`.

Two layouts:

- full (default): ``compose.yaml`` alone, bridge network, every part incl. Loki, Tempo, Grafana
  and Alloy, ports published on 127.0.0.1;
- ci (``DockerOptions(ci=True)`` or ``CRASHLAB_DOCKER_CI=1``): ``compose.yaml`` + ``compose.ci.yaml``,
  host networking on 127.0.0.1 ports, locally built images, only the observer, odds, game,
  Prometheus and Alertmanager.

Scrape targets added at run time (the drill runner's metrics, Locust's) are processes on this host:
they reach Prometheus through the observer's relay (:mod:`stack.docker.relay`) in both layouts, the
one path the bridge layout can use.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import docker.errors

from crashlab.journal import Journal
from crashlab.timeutil import iso, utcnow
from stack.docker import netns
from stack.docker.engine import DockerError, client, compose, container, containers
from stack.docker.relay import RelayFeed, relay_path
from stack.docker.state import DockerState, read_state, remove_state, state_path
from stack.docker.targets import remove_target, write_target
from stack.http import http_json
from stack.runtime import SERVICES, PartStatus, RecordedStack, RuntimeName, StackError

DOWN_TIMEOUT_S = 120.0
#: how long ``down`` waits for the last container to be gone after compose returned
GONE_TIMEOUT_S = 30.0
#: where the compose Prometheus keeps its TSDB (``--storage.tsdb.path``, the ``prometheus-data`` volume)
TSDB_PATH = "/prometheus"
MB = 1024 * 1024


def docker_socket() -> str:
    """The engine's socket on this host (``DOCKER_HOST=unix://...``, else the usual one), which the
    observer mounts; ``CRASHLAB_DOCKER_SOCKET`` overrides."""
    explicit = os.environ.get("CRASHLAB_DOCKER_SOCKET")
    if explicit:
        return explicit
    host = os.environ.get("DOCKER_HOST", "")
    return host.removeprefix("unix://") if host.startswith("unix://") else "/var/run/docker.sock"


class DockerStack(RecordedStack[DockerState]):
    """A running compose project; implements :class:`stack.runtime.Stack` and the capabilities
    ``stack.registry`` declares for ``docker`` (restart, containers, network namespaces, scrape
    targets, memory limits)."""

    def __init__(self, state: DockerState, state_file: Path | None = None) -> None:
        self.state = state
        self.state_file = state_file or state_path()
        self._cli: Any = None
        #: host exporters relayed to Prometheus through the observer, by job
        self._feeds: dict[str, RelayFeed] = {}

    # -- the Stack protocol ------------------------------------------------------------------
    @property
    def runtime(self) -> RuntimeName:
        return "docker"

    @property
    def project(self) -> str:
        return self.state.project

    @property
    def host_network(self) -> bool:
        return self.state.host_network

    @property
    def cli(self) -> Any:
        if self._cli is None:
            self._cli = client()
        return self._cli

    def close(self) -> None:
        if self._cli is not None:
            self._cli.close()
            self._cli = None

    def container(self, service: str) -> Any:
        ctr = container(self.cli, self.project, service)
        ctr.reload()
        return ctr

    def status(self) -> list[PartStatus]:
        """Every part's container: PID, health; restarts as the observer counts them (it restarts
        game and odds), else the engine's RestartCount."""
        observed = self.observer_status() or {}
        restarts = {name: int(svc.get("restarts", 0)) for name, svc in observed.get("services", {}).items()}
        out = []
        for ctr in containers(self.cli, self.project):
            name = ctr.labels.get("com.docker.compose.service", ctr.name)
            if name not in self.state.parts:
                continue
            ctr.reload()
            state = ctr.attrs.get("State", {})
            health = (state.get("Health") or {}).get("Status")
            healthy = ctr.status == "running" and health in (None, "healthy")
            out.append(
                PartStatus(
                    name=name,
                    pid=state.get("Pid") or None,
                    url=self.state.urls.get(name, ""),
                    healthy=healthy,
                    restarts=restarts.get(name, int(ctr.attrs.get("RestartCount", 0))),
                )
            )
        return sorted(out, key=lambda part: part.name)

    def observer_status(self) -> dict[str, Any] | None:
        """The observer's ``/status`` (restarts, exits, up per service), None when it does not answer."""
        url = self.state.urls.get("observer")
        found = http_json(f"{url}/status") if url else None
        return found if isinstance(found, dict) else None

    def host_pid(self, service: str) -> int | None:
        """The host PID of the service container's main process (None when it is not running)."""
        try:
            pid = self.container(service).attrs.get("State", {}).get("Pid")
        except DockerError:
            return None
        return int(pid) if pid else None

    def netns_of(self, service: str) -> str | None:
        """A named network namespace (``ip netns``) for the service container's own namespace, or
        None with host networking (the container shares the machine's namespace: no netem there)."""
        if self.host_network:
            return None
        pid = self.host_pid(service)
        if pid is None:
            return None
        return netns.attach(f"{self.project}-{service}", pid)

    def targets_dir(self) -> Path:
        return Path(self.state.compose_env["CRASHLAB_TARGETS_DIR"])

    def observer_address(self) -> str:
        """Where Prometheus reaches the observer: on the compose network, or the host's loopback (CI)."""
        return f"127.0.0.1:{self.state.ports['observer']}" if self.host_network else "observer:9100"

    def add_scrape_target(self, job: str, url: str) -> None:
        """Let Prometheus scrape the exporter at ``url`` (a process on this host) as ``job``: this
        process copies it to the observer's relay (:class:`RelayFeed`) until the target is removed,
        and Prometheus scrapes the relay. An exporter on the host is out of the bridge network's
        reach; the relay is the same path in both layouts."""
        self.remove_scrape_target(job)
        feed = RelayFeed(job, url, self.state.urls["observer"])
        feed.copy_once()
        feed.start()
        self._feeds[job] = feed
        write_target(
            self.targets_dir(),
            job,
            self.observer_address(),
            self.run_dir.run_id,
            metrics_path=relay_path(job),
        )

    def remove_scrape_target(self, job: str) -> None:
        feed = self._feeds.pop(job, None)
        if feed is not None:
            feed.stop()
        remove_target(self.targets_dir(), job)

    def machine(self) -> str:
        """Its parts run on this machine."""
        return platform.node()

    def alertmanager_url(self) -> str:
        """The stack's Alertmanager (its API: ``/api/v2/...``), published on the host."""
        url = self.state.urls.get("alertmanager")
        if url is None:
            raise StackError(f"alertmanager: docker stack {self.project} runs without one")
        return url

    def restart(self, part: str) -> None:
        self.container(part).restart(timeout=5)

    def memory_limit_mb(self, part: str) -> int | None:
        limit = int(self.container(part).attrs.get("HostConfig", {}).get("Memory") or 0)
        return limit // MB if limit > 0 else None

    def set_memory_limit(self, part: str, limit_mb: int | None) -> int | None:
        """``docker update --memory``; the engine cannot lift a limit, so None is refused."""
        if limit_mb is None or limit_mb <= 0:
            raise DockerError(f"{part}: docker cannot lift a memory limit; give a new one in MB")
        previous = self.memory_limit_mb(part)
        limit = limit_mb * MB
        try:
            self.container(part).update(mem_limit=limit, memswap_limit=limit)
        except docker.errors.DockerException as exc:
            raise DockerError(f"{part}: docker update --memory {limit_mb}m failed: {exc}") from None
        return previous

    def keep_telemetry(self) -> str:
        """Copy Prometheus' TSDB out of its container into ``runs/<id>/prometheus/data`` (``down``
        deletes the volume), so ``crashlab report`` can replay it later. Prometheus is stopped first,
        so its head block is written out. Returns where it went, or why it could not."""
        if "prometheus" not in self.state.parts:
            return "no prometheus in this stack"
        dest = self.run_dir.prometheus / "data"
        try:
            ctr = self.container("prometheus")
            ctr.stop(timeout=10)
            chunks, _stat = ctr.get_archive(TSDB_PATH)
            self.run_dir.prometheus.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=self.run_dir.prometheus, prefix=".tsdb-") as tmp:
                archive = Path(tmp) / "tsdb.tar"
                with archive.open("wb") as out:
                    for chunk in chunks:
                        out.write(chunk)
                with tarfile.open(archive) as tar:
                    tar.extractall(tmp, filter="data")
                copied = Path(tmp) / Path(TSDB_PATH).name
                shutil.rmtree(dest, ignore_errors=True)
                copied.replace(dest)
        except (DockerError, docker.errors.DockerException, OSError, tarfile.TarError) as exc:
            return f"not kept: {exc}"
        return str(dest)

    def wait_healthy(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        pending = list(self.state.parts)
        while pending and time.monotonic() < deadline:
            parts = {part.name: part for part in self.status()}
            pending = [name for name in self.state.parts if not (name in parts and parts[name].healthy)]
            if pending:
                time.sleep(0.5)
        if pending:
            raise DockerError(
                f"docker stack {self.project}: {', '.join(pending)} not healthy within {timeout_s:.0f}s; "
                f"see `docker compose -p {self.project} logs {pending[0]}`"
            )

    def down(self) -> None:
        """Keep the TSDB in the run directory, remove the project's containers and volumes, and
        return once every one of them is gone; forget the state file."""
        for job in list(self._feeds):
            self.remove_scrape_target(job)
        telemetry = self.keep_telemetry()
        try:
            compose(
                self.project,
                [Path(f) for f in self.state.compose_files],
                ["down", "--volumes", "--remove-orphans", "--timeout", "5"],
                {**os.environ, **self.state.compose_env},
                timeout_s=DOWN_TIMEOUT_S,
            )
            self.wait_gone(GONE_TIMEOUT_S)
        finally:
            for service in SERVICES:
                subprocess.run(
                    ["ip", "netns", "delete", f"{self.project}-{service}"], capture_output=True, check=False
                )
            Journal(self.run_dir.journal_path, source="stack").write(
                "stack", "down", runtime="docker", telemetry=telemetry
            )
            self.run_dir.update_manifest(ended_at=iso(utcnow()))
            remove_state(self.state_file)
            self.close()

    def wait_gone(self, timeout_s: float) -> None:
        """Wait until no container of the project is left (compose down removes them)."""
        deadline = time.monotonic() + timeout_s
        left = containers(self.cli, self.project)
        while left and time.monotonic() < deadline:
            time.sleep(0.2)
            left = containers(self.cli, self.project)
        if left:
            names = ", ".join(ctr.name for ctr in left)
            raise DockerError(
                f"docker stack {self.project}: {names} still there {timeout_s:.0f}s after compose down; "
                f"remove them with `docker rm -f {names}`"
            )


def attach(state_file: Path | None = None) -> DockerStack | None:
    """The Docker stack named by the state file, or None when none is up."""
    path = state_file or state_path()
    state = read_state(path)
    if state is None:
        return None
    return DockerStack(state, path)


def down(state_file: Path | None = None) -> bool:
    """Take the stack of the state file down; False when none was up."""
    stack = attach(state_file)
    if stack is None:
        return False
    stack.down()
    return True
