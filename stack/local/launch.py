"""``stack.local.up``: bring a local stack up (odds, game, Prometheus, Alertmanager under one supervisor).

Steps: claim the state file (refused if a stack already runs or is being started); find the
``prometheus`` (and Alertmanager) binary; choose and check loopback ports; write the services' flag
file (``stack.switches``), the Prometheus and Alertmanager configs, rules and targets into the run
directory; write the supervisor spec; start the detached supervisor, which replaces the claim with
its state before it starts anything (``stack.local.state``); wait until every part is healthy. On any
failure or interrupt the claim is given up and everything started so far is stopped before the error
is raised; a launcher killed outright leaves nothing running, or a stack its state file names.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from crashlab import binaries
from crashlab.journal import Journal
from crashlab.timeutil import iso, utcnow
from crashlab.waits import WaitTimeout, wait_until
from stack.alertmanager.config import write_config as write_alertmanager_config
from stack.alertmanager.server import alertmanager_argv, alertmanager_binary
from stack.local.ports import allocate
from stack.local.running import LocalStack, last_line, stop_supervisor
from stack.local.spec import PartSpec, RestartSpec, SupervisorSpec, write_spec
from stack.local.state import (
    StackState,
    claim_state,
    give_up_claim,
    process_alive,
    read_state,
    remove_state,
    state_lock,
    state_path,
)
from stack.prometheus.config import write_alertmanager, write_config, write_target
from stack.prometheus.scrapes import wait_alertmanager_known
from stack.runtime import SERVICES, StackConfig, StackError
from stack.switches import service_env, write_flag_file


def prometheus_binary() -> str:
    """The Prometheus server binary (:func:`crashlab.binaries.find`)."""
    try:
        return binaries.find("prometheus", hint="or use `--runtime docker`")
    except binaries.MissingBinary as exc:
        raise StackError(str(exc)) from None


def up(
    config: StackConfig,
    *,
    commands: Mapping[str, Sequence[str]] | None = None,
    state_file: Path | None = None,
) -> LocalStack:
    """Start a local stack for ``config`` and return it once every part is healthy.

    ``commands`` replaces the command line of a service (tests of the supervisor itself); the
    service still gets its port in ``CRASHLAB_PORT`` and the rest of its environment.
    """
    if config.runtime != "local":
        raise StackError(f"stack: stack.local cannot run the {config.runtime!r} runtime")
    state_file = (state_file or state_path()).absolute()
    run_path = config.run_dir.path.absolute()
    claim_state(state_file, str(run_path))
    try:
        return _start(config, commands, state_file, run_path)
    except BaseException:
        _abandon(state_file, run_path)
        raise


def _abandon(state_file: Path, run_path: Path) -> None:
    """Undo a start that failed or was interrupted: the claim given up (a supervisor that has not taken
    it over exits by itself), a supervisor that has stopped with everything it runs."""
    state = give_up_claim(state_file, str(run_path))
    if state is not None:
        stop_supervisor(state)
        with state_lock(state_file):
            current = read_state(state_file)
            if current is not None and current.supervisor_pid == state.supervisor_pid:
                remove_state(state_file)


def _start(
    config: StackConfig, commands: Mapping[str, Sequence[str]] | None, state_file: Path, run_path: Path
) -> LocalStack:
    prom_bin = prometheus_binary() if config.with_prometheus else None
    am_bin = alertmanager_binary() if prom_bin and config.with_alertmanager else None
    parts = ("odds", "game", *(("prometheus",) if prom_bin else ()), *(("alertmanager",) if am_bin else ()))
    ports = allocate(config.host, config.ports, (*parts, "supervisor"))
    run_dir = config.run_dir
    for sub in (run_dir.logs, run_dir.traces, run_dir.prometheus):
        sub.mkdir(parents=True, exist_ok=True)
    host = config.host
    urls = {part: f"http://{host}:{port}" for part, port in ports.items()}
    token = config.admin_token or secrets.token_urlsafe(24)
    restart = RestartSpec(
        name=config.restart_policy.name,
        max_retries=config.restart_policy.max_retries,
        backoff_initial_s=config.restart_policy.backoff_initial_s,
        backoff_max_s=config.restart_policy.backoff_max_s,
    )
    flag_file = write_flag_file(config)
    specs: list[PartSpec] = []
    for service in SERVICES:
        env = {**service_env(config), "CRASHLAB_ADMIN_TOKEN": token}
        env |= {"CRASHLAB_PORT": str(ports[service]), "CRASHLAB_HOST": host}
        if commands and service in commands:
            argv = list(commands[service])
        else:
            argv = _service_argv(service, config, ports, urls, run_path, flag_file)
        limit_mb = config.memory_limits_mb.get(service)
        if limit_mb is not None and limit_mb <= 0:
            raise StackError(f"{service}: memory limit must be a positive number of MB, got {limit_mb}")
        specs.append(
            PartSpec(
                name=service,
                argv=argv,
                env=env,
                url=urls[service],
                health_url=urls[service] + "/healthz",
                output_path=str(run_path / "logs" / f"{service}.stdout.log"),
                restart=restart,
                memory_limit_bytes=limit_mb * 1024 * 1024 if limit_mb else None,
            )
        )
    if prom_bin:
        specs.append(_prometheus_part(prom_bin, config, run_path, ports, urls, restart))
    if am_bin:
        specs.append(_alertmanager_part(am_bin, config, run_path, ports, urls, restart))
    spec = SupervisorSpec(
        run_id=run_dir.run_id,
        run_path=str(run_path),
        host=host,
        port=ports["supervisor"],
        parts=specs,
        admin_token=token,
        alerts_url=urls.get("prometheus"),
        state_file=str(state_file),
        ports=ports,
        urls=urls,
        started_at=iso(utcnow()),
    )
    spec_path = run_path / "supervisor.json"
    write_spec(spec, spec_path)
    pid = _spawn_supervisor(spec_path)
    stack = LocalStack(_recorded_state(state_file, pid, run_path), state_file)
    journal = Journal(run_dir.journal_path, source="stack")
    journal.write("stack", "up", runtime="local", parts=stack.urls, supervisor_pid=pid)
    stack.wait_healthy(config.health_timeout_s)
    if "alertmanager" in stack.urls and "prometheus" in stack.urls:
        wait_alertmanager_known(stack.urls["prometheus"], config.health_timeout_s)
    journal.write("stack", "healthy", runtime="local", parts=stack.urls)
    run_dir.update_manifest(runtime="local", ports=ports, urls=stack.urls)
    return stack


def _prometheus_part(
    prom_bin: str,
    config: StackConfig,
    run_path: Path,
    ports: Mapping[str, int],
    urls: Mapping[str, str],
    restart: RestartSpec,
) -> PartSpec:
    """Prometheus with its config, rules and targets in ``runs/<id>/prometheus/``, data in ``data/``;
    it sends its alerts to the stack's Alertmanager, if any (and scrapes it)."""
    prom_dir = run_path / "prometheus"
    with_am = "alertmanager" in urls
    config_path = write_config(
        prom_dir, config.alert_windows, alertmanagers=with_am, runbooks_url=config.runbooks_url
    )
    for job in ("odds", "game", "supervisor", "prometheus", "alertmanager"):
        if job in urls:
            write_target(prom_dir, job, urls[job], config.run_dir.run_id)
    if with_am:
        write_alertmanager(prom_dir, urls["alertmanager"])
    argv = [
        prom_bin,
        f"--config.file={config_path}",
        f"--storage.tsdb.path={prom_dir / 'data'}",
        f"--web.listen-address={config.host}:{ports['prometheus']}",
        # the links in its alerts (generatorURL, graph_url) point here
        f"--web.external-url={urls['prometheus']}",
        "--enable-feature=exemplar-storage",
        "--log.level=warn",
    ]
    return _server_part("prometheus", argv, prom_dir, urls["prometheus"], run_path, restart)


def _alertmanager_part(
    am_bin: str,
    config: StackConfig,
    run_path: Path,
    ports: Mapping[str, int],
    urls: Mapping[str, str],
    restart: RestartSpec,
) -> PartSpec:
    """Alertmanager with its config in ``runs/<id>/alertmanager/``, silences and notification log in
    ``data/`` (stack/alertmanager/)."""
    am_dir = run_path / "alertmanager"
    am_config = write_alertmanager_config(am_dir, config.alert_windows, config.pager_url, config.pager_token)
    listen = f"{config.host}:{ports['alertmanager']}"
    url = urls["alertmanager"]
    argv = alertmanager_argv(am_bin, config=am_config, data=am_dir / "data", listen=listen, url=url)
    return _server_part("alertmanager", argv, am_dir, url, run_path, restart)


def _server_part(
    name: Literal["prometheus", "alertmanager"],
    argv: list[str],
    workdir: Path,
    url: str,
    run_path: Path,
    restart: RestartSpec,
) -> PartSpec:
    """A Prometheus-family server: ready at ``/-/ready``, output in ``logs/<name>.stdout.log``."""
    return PartSpec(
        name=name,
        kind=name,
        argv=argv,
        cwd=str(workdir),
        url=url,
        health_url=url + "/-/ready",
        output_path=str(run_path / "logs" / f"{name}.stdout.log"),
        restart=restart,
    )


def _service_argv(
    service: str,
    config: StackConfig,
    ports: Mapping[str, int],
    urls: Mapping[str, str],
    run_path: Path,
    flag_file: Path,
) -> list[str]:
    argv = [
        sys.executable, "-m", "stack.local.serve", service,
        "--host", config.host,
        "--port", str(ports[service]),
        "--flag-file", str(flag_file),
        "--log-file", str(run_path / "logs" / f"{service}.jsonl"),
        "--trace-file", str(run_path / "traces" / f"{service}.jsonl"),
        "--seed", str(config.seed),
    ]  # fmt: skip
    if service == "game":
        argv += ["--odds-url", urls["odds"]]
    return argv


def _spawn_supervisor(spec_path: Path) -> int:
    try:
        done = subprocess.run(
            [sys.executable, "-m", "stack.local.supervisor", str(spec_path), "--daemon"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            start_new_session=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise StackError(f"supervisor: did not detach within 30 s (spec {spec_path})") from None
    out = done.stdout.decode(errors="replace").strip()
    if done.returncode != 0 or not out.isdigit():
        last = (done.stderr.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
        raise StackError(f"supervisor: failed to start (exit {done.returncode}): {last}")
    return int(out)


def _recorded_state(state_file: Path, pid: int, run_path: Path, timeout_s: float = 30.0) -> StackState:
    """The state the supervisor ``pid`` wrote in place of the claim (its first act after detaching)."""
    log = run_path / "logs" / "supervisor.log"

    def recorded() -> StackState | None:
        state = read_state(state_file)
        if state is not None and state.supervisor_pid == pid:
            return state
        if not process_alive(pid):
            raise StackError(f"supervisor: exited during start-up: {last_line(log)} (log: {log})")
        return None

    try:
        return wait_until(
            recorded, timeout_s, f"the supervisor to record itself in {state_file}", every_s=0.01
        )
    except WaitTimeout as exc:
        raise StackError(f"supervisor: {exc}; see {log}") from None
