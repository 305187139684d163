"""The Docker runtime: ``up`` brings ``stack/compose.yaml`` up through Compose, ``DockerStack`` is the
running stack (the :class:`stack.runtime.Stack` protocol) and ``attach`` finds it again.

Two layouts:

- full (default): ``compose.yaml`` alone, bridge network, every part incl. Loki, Tempo, Grafana
  and Alloy, ports published on 127.0.0.1;
- ci (``DockerOptions(ci=True)`` or ``CRASHLAB_DOCKER_CI=1``): ``compose.yaml`` + ``compose.ci.yaml``,
  host networking on 127.0.0.1 ports, locally built images, only odds, game, Prometheus and
  Alertmanager.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors
import psutil

from crashlab.journal import Journal
from crashlab.ports import free_port
from crashlab.timeutil import iso, utcnow
from stack.alertmanager.config import write_config as write_alertmanager_config
from stack.docker import netns
from stack.docker.engine import (
    COMPOSE_CI_FILE,
    COMPOSE_FILE,
    STACK_DIR,
    DockerError,
    client,
    compose,
    container,
    containers,
)
from stack.docker.images import ensure_service_image
from stack.docker.state import DockerState, read_state, remove_state, state_path, write_state
from stack.http import http_ok
from stack.local.state import process_alive
from stack.prometheus.config import runbooks_base
from stack.runtime import SERVICES, PartStatus, RecordedStack, RuntimeName, StackConfig, StackError
from stack.switches import service_env, write_flag_file

CORE_PARTS = ("odds", "game", "prometheus", "alertmanager")
FULL_PARTS = (*CORE_PARTS, "loki", "tempo", "alloy", "grafana")
#: host ports of the full layout (env CRASHLAB_<PART>_PORT overrides; StackConfig.ports wins)
FULL_PORTS = {
    "game": 18080,
    "odds": 18081,
    "prometheus": 19090,
    "alertmanager": 19093,
    "loki": 13100,
    "tempo": 13200,
    "grafana": 13000,
}
DOWN_TIMEOUT_S = 120.0
#: where the compose Prometheus keeps its TSDB (``--storage.tsdb.path``, the ``prometheus-data`` volume)
TSDB_PATH = "/prometheus"
MB = 1024 * 1024


@dataclass
class DockerOptions:
    """How to run the compose project (the rest comes from :class:`StackConfig`)."""

    ci: bool = field(default_factory=lambda: os.environ.get("CRASHLAB_DOCKER_CI", "") not in ("", "0"))
    project: str = field(default_factory=lambda: os.environ.get("CRASHLAB_PROJECT", "crashlab"))
    service_image: str | None = None
    prometheus_image: str | None = None
    base_image: str = field(
        default_factory=lambda: os.environ.get("CRASHLAB_BASE_IMAGE", "python:3.11-slim-bookworm")
    )
    state_file: Path | None = None
    #: extra compose services to start (full layout: all of them)
    parts: tuple[str, ...] | None = None

    def alertmanager_image(self) -> str | None:
        """CI: the Debian Prometheus image (it carries prometheus-alertmanager too); the full layout:
        compose.yaml's pinned prom/alertmanager (None) unless CRASHLAB_ALERTMANAGER_IMAGE names one."""
        explicit = os.environ.get("CRASHLAB_ALERTMANAGER_IMAGE")
        return explicit or (self.images()[1] if self.ci else None)

    def images(self) -> tuple[str, str]:
        if self.ci:
            return (
                self.service_image or os.environ.get("CRASHLAB_SERVICE_IMAGE", "crashlab-service:ci"),
                self.prometheus_image
                or os.environ.get("CRASHLAB_PROMETHEUS_IMAGE", "crashlab-prometheus:debian"),
            )
        return (
            self.service_image or os.environ.get("CRASHLAB_SERVICE_IMAGE", "crashlab-service:latest"),
            self.prometheus_image or os.environ.get("CRASHLAB_PROMETHEUS_IMAGE", "prom/prometheus:v3.2.1"),
        )


def _restart_value(config: StackConfig) -> str:
    policy = config.restart_policy
    if policy.name == "on-failure":
        return f"on-failure:{policy.max_retries}"
    return policy.name


def _write_targets(targets_dir: Path, job: str, address: str, run_id: str) -> None:
    targets_dir.mkdir(parents=True, exist_ok=True)
    tmp = targets_dir / f".{job}.json.tmp"
    tmp.write_text(json.dumps([{"targets": [address], "labels": {"job": job, "run_id": run_id}}]) + "\n")
    tmp.chmod(0o644)
    tmp.replace(targets_dir / f"{job}.json")


def _write_alertmanagers(folder: Path, address: str) -> None:
    """Prometheus' file_sd of Alertmanagers (docker/prometheus.yml: targets/alertmanagers/*.json)."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    tmp = folder / ".alertmanager.json.tmp"
    tmp.write_text(json.dumps([{"targets": [address]}]) + "\n")
    tmp.chmod(0o644)
    tmp.replace(folder / "alertmanager.json")


def _alertmanager_config(am_dir: Path, config: StackConfig, *, bridge: bool) -> Path:
    """The run's Alertmanager config (readable by the container's nobody); on a bridge network a pager
    on the host's loopback is reached through host.docker.internal."""
    pager = config.pager_url
    if pager and bridge:
        pager = re.sub(r"^(https?://)(127\.0\.0\.1|localhost)(?=[:/]|$)", r"\1host.docker.internal", pager)
    path = write_alertmanager_config(am_dir, config.alert_windows, pager, config.pager_token)
    am_dir.chmod(0o755)
    path.chmod(0o644)  # the container's nobody reads it (the pager's token too: a loopback-only secret)
    return path


class DockerStack(RecordedStack[DockerState]):
    """A running compose project; implements :class:`stack.runtime.Stack` and the capabilities
    ``stack.registry`` declares for ``docker`` (restart, containers, network namespaces, scrape
    targets, memory limits)."""

    def __init__(self, state: DockerState, state_file: Path | None = None) -> None:
        self.state = state
        self.state_file = state_file or state_path()
        self._cli: Any = None

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
                    restarts=int(ctr.attrs.get("RestartCount", 0)),
                )
            )
        return sorted(out, key=lambda part: part.name)

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

    def add_scrape_target(self, job: str, url: str) -> None:
        address = url.split("://", 1)[-1].split("/", 1)[0]
        if not self.host_network:
            # bridge: Prometheus reaches the host through host-gateway
            host, _, port = address.rpartition(":")
            if host in ("127.0.0.1", "localhost"):
                address = f"host.docker.internal:{port}"
        _write_targets(self.targets_dir(), job, address, self.run_dir.run_id)

    def remove_scrape_target(self, job: str) -> None:
        (self.targets_dir() / f"{job}.json").unlink(missing_ok=True)

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
        """Stop the observer, keep the TSDB in the run directory, remove the project's containers and
        volumes, forget the state file."""
        stop_observer(self.state)
        telemetry = self.keep_telemetry()
        try:
            compose(
                self.project,
                [Path(f) for f in self.state.compose_files],
                ["down", "--volumes", "--remove-orphans", "--timeout", "5"],
                {**os.environ, **self.state.compose_env},
                timeout_s=DOWN_TIMEOUT_S,
            )
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


def stop_observer(state: DockerState, timeout_s: float = 5.0) -> None:
    if state.observer_pid is None or not process_alive(state.observer_pid, state.observer_create_time):
        return
    proc = psutil.Process(state.observer_pid)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout_s)
    except psutil.TimeoutExpired:
        proc.kill()
        proc.wait(timeout_s)


def _spawn_observer(project: str, journal: Path, port: int, log: Path, prometheus: str) -> psutil.Process:
    """Start the observer in its own session, reparented to init (it outlives this process)."""
    argv = [sys.executable, "-m", "stack.docker.observer", "--project", project, "--journal", str(journal),
            "--port", str(port), "--prometheus", prometheus]  # fmt: skip
    launcher = f"setsid {shlex.join(argv)} </dev/null >>{shlex.quote(str(log))} 2>&1 & echo $!"
    done = subprocess.run(
        ["/bin/sh", "-c", launcher],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
        cwd=STACK_DIR.parent,
    )
    return psutil.Process(int(done.stdout.strip()))


def service_inputs(config: StackConfig) -> dict[str, str]:
    """What the game and odds containers get besides ports and telemetry paths, as compose variables:
    the flag file's folder (bind-mounted at ``/etc/crashlab/flags``; every switch setting travels in
    the file) and an env file with ``StackConfig.env``."""
    run = config.run_dir
    flag_file = write_flag_file(config)
    env = service_env(config)
    env.pop("CRASHLAB_ADMIN_TOKEN", None)
    env_file = run.path / "docker-service.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in sorted(env.items())), encoding="utf-8")
    return {
        "CRASHLAB_FLAGS_DIR": str(flag_file.parent.resolve()),
        "CRASHLAB_SERVICE_ENV_FILE": str(env_file.resolve()),
    }


def up(config: StackConfig, options: DockerOptions | None = None) -> DockerStack:
    """Bring the compose project up for ``config`` and wait until every part is healthy.

    On failure nothing is left running (compose down, observer stopped) and a
    :class:`stack.runtime.StackError` names the part.
    """
    options = options or DockerOptions()
    cli = client()
    state_file = options.state_file or state_path()
    existing = read_state(state_file)
    if existing is not None:
        raise DockerError(
            f"docker stack {existing.project} is already up (state {state_file}); "
            "run `crashlab down --runtime docker`"
        )
    run = config.run_dir
    rules_dir = STACK_DIR / "prometheus" / "rules" / config.alert_windows
    if not rules_dir.is_dir():
        raise DockerError(
            f"prometheus rules: {rules_dir} does not exist (stack/prometheus/generate.py writes it)"
        )
    service_image, prometheus_image = options.images()
    try:
        ensure_service_image(cli, service_image, options.base_image)
    finally:
        cli.close()

    host = config.host
    parts = options.parts or (CORE_PARTS if options.ci else FULL_PARTS)
    if not config.with_alertmanager:
        parts = tuple(part for part in parts if part != "alertmanager")
    if options.ci:
        ports = {name: config.ports.get(name) or free_port(host) for name in CORE_PARTS}
    else:
        ports = {
            name: config.ports.get(name) or int(os.environ.get(f"CRASHLAB_{name.upper()}_PORT", default))
            for name, default in FULL_PORTS.items()
        }
    ports["supervisor"] = config.ports.get("supervisor") or free_port(host)
    token = config.env.get("CRASHLAB_ADMIN_TOKEN") or secrets.token_urlsafe(24)

    targets_dir = run.prometheus / "targets"
    run.logs.mkdir(parents=True, exist_ok=True)
    run.traces.mkdir(parents=True, exist_ok=True)
    if options.ci:
        _write_targets(targets_dir, "game", f"127.0.0.1:{ports['game']}", run.run_id)
        _write_targets(targets_dir, "odds", f"127.0.0.1:{ports['odds']}", run.run_id)
        _write_targets(targets_dir, "prometheus", f"127.0.0.1:{ports['prometheus']}", run.run_id)
        _write_targets(targets_dir, "supervisor", f"127.0.0.1:{ports['supervisor']}", run.run_id)
        alertmanager = f"127.0.0.1:{ports['alertmanager']}"
    else:
        _write_targets(targets_dir, "game", "game:8080", run.run_id)
        _write_targets(targets_dir, "odds", "odds:8081", run.run_id)
        _write_targets(targets_dir, "prometheus", "localhost:9090", run.run_id)
        _write_targets(targets_dir, "supervisor", f"host.docker.internal:{ports['supervisor']}", run.run_id)
        alertmanager = "alertmanager:9093"
    if "alertmanager" in parts:
        _write_targets(targets_dir, "alertmanager", alertmanager, run.run_id)
        _write_alertmanagers(targets_dir / "alertmanagers", alertmanager)
    targets_dir.chmod(0o755)
    am_config = _alertmanager_config(run.path / "alertmanager", config, bridge=not options.ci)

    compose_env = {
        **service_inputs(config),
        "CRASHLAB_PROJECT": options.project,
        "CRASHLAB_SERVICE_IMAGE": service_image,
        "CRASHLAB_PROMETHEUS_IMAGE": prometheus_image,
        "CRASHLAB_BASE_IMAGE": options.base_image,
        "CRASHLAB_SEED": str(config.seed),
        "CRASHLAB_ADMIN_TOKEN": token,
        "CRASHLAB_RESTART": _restart_value(config),
        "CRASHLAB_ALERT_WINDOWS": config.alert_windows,
        "CRASHLAB_TARGETS_DIR": str(targets_dir.resolve()),
        "CRASHLAB_LOGS_DIR": str(run.logs.resolve()),
        "CRASHLAB_TRACES_DIR": str(run.traces.resolve()),
        "CRASHLAB_ALERTMANAGER_CONFIG": str(am_config.resolve()),
        "CRASHLAB_RUNBOOKS_URL": runbooks_base(config.runbooks_url) or "",
        "CRASHLAB_UID": str(os.getuid()),
        "CRASHLAB_GID": str(os.getgid()),
        **{f"CRASHLAB_{name.upper()}_PORT": str(port) for name, port in ports.items()},
    }
    for service in SERVICES:
        limit = config.memory_limits_mb.get(service)
        compose_env[f"CRASHLAB_{service.upper()}_MEMORY"] = f"{limit}m" if limit else "256m"
    am_image = options.alertmanager_image()
    if am_image:
        compose_env["CRASHLAB_ALERTMANAGER_IMAGE"] = am_image
    files = [COMPOSE_FILE, COMPOSE_CI_FILE] if options.ci else [COMPOSE_FILE]

    urls = {name: f"http://{host}:{ports[name]}" for name in ports if name in parts or name == "supervisor"}
    journal = Journal(run.journal_path, source="stack")
    observer = _spawn_observer(
        options.project,
        run.journal_path,
        ports["supervisor"],
        run.logs / "docker-observer.log",
        urls["prometheus"],
    )
    state = DockerState(
        project=options.project,
        compose_files=[str(f) for f in files],
        parts=list(parts),
        host_network=options.ci,
        compose_env=compose_env,
        run_path=str(run.path.resolve()),
        ports=ports,
        urls=urls,
        admin_token=token,
        observer_pid=observer.pid,
        observer_create_time=observer.create_time(),
        started_at=iso(utcnow()),
    )
    # recorded before compose starts anything: a launcher killed from here on leaves a stack that
    # `crashlab status|down --runtime docker` see
    write_state(state, state_file)
    stack = DockerStack(state, state_file)
    wait_s = int(max(config.health_timeout_s, 30))
    try:
        compose(
            options.project,
            files,
            ["up", "--detach", "--no-build", "--wait", "--wait-timeout", str(wait_s), *parts],
            {**os.environ, **compose_env},
            timeout_s=wait_s + 120,
        )  # fmt: skip
        stack.wait_healthy(config.health_timeout_s)
        for name in ("game", "odds"):
            if not http_ok(f"{urls[name]}/readyz", timeout_s=2.0):
                raise DockerError(
                    f"{name}: {urls[name]}/readyz does not answer 200 although its container is healthy"
                )
    except BaseException:
        with contextlib.suppress(DockerError):
            stack.down()
        raise
    journal.write("stack", "up", runtime="docker", parts=urls, project=options.project)
    journal.write("stack", "healthy", runtime="docker", parts=urls)
    run.update_manifest(
        runtime="docker",
        urls=urls,
        ports=ports,
        docker={"project": options.project, "compose_files": state.compose_files, "host_network": options.ci},
        started_at=state.started_at,
    )
    return stack


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
