"""``up``: the compose project for a :class:`StackConfig`, brought up and healthy.

1. checks Compose's version against the files (:func:`stack.docker.engine.check_compose_version`);
2. builds the service image unless it is built from these sources (the CI layout refuses a stale one);
3. picks the host ports: a port given (``StackConfig.ports``, ``CRASHLAB_<PART>_PORT``) must be free;
   the full layout's defaults (:data:`FULL_PORTS`) are taken when free, else a free port; the CI
   layout takes free ports;
4. pulls the images the engine does not have yet (``docker compose pull``, its progress on the
   terminal, no time limit), then ``docker compose up --wait``;
5. writes the run directory's Prometheus targets, Alertmanager config, flag file and manifest.

The observer (compose service ``observer``, :mod:`stack.docker.observer`) supervises game and odds:
they run with Docker's ``restart: "no"`` and the observer restarts them by the config's restart
policy, backoff included, as the local supervisor does.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crashlab.journal import Journal
from crashlab.ports import free_port
from crashlab.timeutil import iso, utcnow
from stack.alertmanager.config import write_config as write_alertmanager_config
from stack.docker.engine import (
    COMPOSE_CI_FILE,
    COMPOSE_FILE,
    STACK_DIR,
    DockerError,
    check_compose_version,
    client,
    compose,
    compose_pull,
)
from stack.docker.images import ensure_service_image, has_image
from stack.docker.options import CORE_PARTS, FULL_PARTS, FULL_PORTS, OBSERVER_PORT, DockerOptions
from stack.docker.running import DockerStack, docker_socket
from stack.docker.state import DockerState, read_state, state_path, write_state
from stack.docker.targets import write_alertmanagers, write_target
from stack.http import http_ok
from stack.local.ports import allocate, check_free
from stack.local.spec import RestartSpec
from stack.prometheus.config import runbooks_base
from stack.prometheus.scrapes import wait_alertmanager_known
from stack.runtime import SERVICES, StackConfig, StackError
from stack.switches import service_env, write_flag_file

#: the images compose pulls (the others are built here), by service
PULLED = ("prometheus", "alertmanager", "loki", "tempo", "alloy", "grafana")


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


def restart_policy_json(config: StackConfig) -> str:
    """The observer's restart policy (``--restart-policy``): the local supervisor's rules."""
    policy = config.restart_policy
    return RestartSpec(
        name=policy.name,
        max_retries=policy.max_retries,
        backoff_initial_s=policy.backoff_initial_s,
        backoff_max_s=policy.backoff_max_s,
    ).model_dump_json()


def host_ports(config: StackConfig, parts: tuple[str, ...], ci: bool) -> dict[str, int]:
    """A host port per published part. Given ports (config, then ``CRASHLAB_<PART>_PORT``) must be
    free; the full layout prefers its defaults and moves to a free port when one is busy."""
    host = config.host
    published = (*parts, "observer") if "observer" not in parts else parts
    wanted: dict[str, int] = {}
    for part in published:
        given = config.ports.get(part) or (config.ports.get("supervisor") if part == "observer" else 0)
        env = os.environ.get(f"CRASHLAB_{part.upper()}_PORT", "")
        if not given and env.isdigit():
            given = int(env)
        if given:
            wanted[part] = given
    ports = allocate(host, wanted, tuple(wanted))
    defaults = {} if ci else {**FULL_PORTS, "observer": OBSERVER_PORT}
    for part in published:
        if part in ports:
            continue
        default = defaults.get(part, 0)
        if default and default not in ports.values():
            with contextlib.suppress(StackError):
                check_free(host, default, part)
                ports[part] = default
                continue
        port = free_port(host)
        while port in ports.values():
            port = free_port(host)
        ports[part] = port
    return ports


def docker_gid(socket_path: str) -> int:
    """The group that may use the engine's socket (the observer joins it); 0 when it cannot be read."""
    try:
        info = os.stat(socket_path)
    except OSError:
        return 0
    return info.st_gid if stat.S_ISSOCK(info.st_mode) else 0


def _write_targets(
    run_targets: Path, ports: dict[str, int], parts: tuple[str, ...], run_id: str, ci: bool
) -> None:
    if ci:
        address = {name: f"127.0.0.1:{port}" for name, port in ports.items()}
    else:
        address = {
            "game": "game:8080",
            "odds": "odds:8081",
            "prometheus": "localhost:9090",
            "alertmanager": "alertmanager:9093",
            "observer": "observer:9100",
        }
    for job in ("game", "odds", "prometheus"):
        write_target(run_targets, job, address[job], run_id)
    # the observer's own metrics: the supervisor's job, as on the local runtime
    write_target(run_targets, "supervisor", address["observer"], run_id)
    if "alertmanager" in parts:
        write_target(run_targets, "alertmanager", address["alertmanager"], run_id)
        write_alertmanagers(run_targets / "alertmanagers", address["alertmanager"])
    run_targets.chmod(0o755)


def images_to_pull(
    services: dict[str, Any], parts: tuple[str, ...], present: Callable[[str], bool]
) -> list[str]:
    """The parts (compose services) whose image must be pulled: pulled ones the engine lacks."""
    return [
        part for part in PULLED if part in parts and not present(str(services.get(part, {}).get("image", "")))
    ]


def _pull_missing(
    options: DockerOptions, files: list[Path], parts: tuple[str, ...], env: dict[str, str]
) -> None:
    """Pull what the engine lacks of the full layout's images, with progress (CI builds its own)."""
    if options.ci:
        return
    done = compose(options.project, files, ["config", "--format", "json"], env, timeout_s=60)
    services = json.loads(done.stdout).get("services", {})
    cli = client()
    try:
        missing = images_to_pull(services, parts, lambda image: has_image(cli, image))
    finally:
        cli.close()
    if missing:
        compose_pull(options.project, files, missing, env)


def up(config: StackConfig, options: DockerOptions | None = None) -> DockerStack:
    """Bring the compose project up for ``config`` and wait until every part is healthy.

    On failure nothing is left running (compose down) and a :class:`stack.runtime.StackError` names
    the part.
    """
    options = options or DockerOptions()
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
    files = [COMPOSE_FILE, COMPOSE_CI_FILE] if options.ci else [COMPOSE_FILE]
    check_compose_version(files)
    service_image, prometheus_image = options.images()
    cli = client()
    try:
        ensure_service_image(cli, service_image, options.base_image, rebuild_stale=not options.ci)
    finally:
        cli.close()

    parts = options.parts or (CORE_PARTS if options.ci else FULL_PARTS)
    if "observer" not in parts:
        parts = ("observer", *parts)
    if not config.with_alertmanager:
        parts = tuple(part for part in parts if part != "alertmanager")
    ports = host_ports(config, parts, options.ci)
    token = config.admin_token or config.env.get("CRASHLAB_ADMIN_TOKEN") or secrets.token_urlsafe(24)
    run.logs.mkdir(parents=True, exist_ok=True)
    run.traces.mkdir(parents=True, exist_ok=True)
    run.journal_path.touch()
    targets_dir = run.prometheus / "targets"
    _write_targets(targets_dir, ports, parts, run.run_id, options.ci)
    am_config = _alertmanager_config(run.path / "alertmanager", config, bridge=not options.ci)
    socket = docker_socket()

    compose_env = {
        **service_inputs(config),
        "CRASHLAB_PROJECT": options.project,
        "CRASHLAB_SERVICE_IMAGE": service_image,
        "CRASHLAB_PROMETHEUS_IMAGE": prometheus_image,
        "CRASHLAB_BASE_IMAGE": options.base_image,
        "CRASHLAB_SEED": str(config.seed),
        "CRASHLAB_ADMIN_TOKEN": token,
        # the observer restarts game and odds (the policy's backoff), never the engine
        "CRASHLAB_RESTART": "no",
        "CRASHLAB_RESTART_POLICY": restart_policy_json(config),
        "CRASHLAB_RUN_DIR": str(run.path.resolve()),
        "CRASHLAB_DOCKER_SOCKET": socket,
        "CRASHLAB_DOCKER_GID": str(docker_gid(socket)),
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
    env = {**os.environ, **compose_env}
    _pull_missing(options, files, parts, env)

    urls = {name: f"http://{config.host}:{port}" for name, port in ports.items()}
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
            ["up", "--detach", "--no-build", "--pull", "never",
             "--wait", "--wait-timeout", str(wait_s), *parts],
            env,
            timeout_s=wait_s + 120,
        )  # fmt: skip
        stack.wait_healthy(config.health_timeout_s)
        if "alertmanager" in urls and "prometheus" in urls:
            wait_alertmanager_known(urls["prometheus"], config.health_timeout_s)
        for name in ("game", "odds"):
            if not http_ok(f"{urls[name]}/readyz", timeout_s=2.0):
                raise DockerError(
                    f"{name}: {urls[name]}/readyz does not answer 200 although its container is healthy"
                )
    except BaseException:
        with contextlib.suppress(DockerError):
            stack.down()
        raise
    journal = Journal(run.journal_path, source="stack")
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
