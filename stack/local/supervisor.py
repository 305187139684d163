"""The local stack's supervisor: runs the services and Prometheus like a container engine would.

``python -m stack.local.supervisor SPEC.json [--daemon]`` reads a :class:`SupervisorSpec` and

- spawns every part (stdout+stderr appended to its ``output_path``; the child dies with the
  supervisor through ``PR_SET_PDEATHSIG``),
- restarts it per its policy (``no``, ``on-failure`` with max retries and exponential backoff,
  ``always``),
- polls its resident memory and SIGKILLs it at its memory limit (recorded as ``oom``, exit 137),
- records every exit (``crashlab_process_*`` metrics, ``process`` journal events),
- probes health, journals Prometheus alert transitions (``alert firing|resolved``),
- serves ``/metrics`` (for Prometheus), ``/status`` (JSON, for ``crashlab status``) and ``/healthz``,
  and, with the stack's admin token, ``POST /parts/{name}/restart`` (a restart on request: the old
  process gets SIGTERM, its exit is ``clean``, the new one starts at once whatever the restart policy)
  and ``PUT /parts/{name}/memory-limit`` (``{"limit_bytes": N | null}``, enforced from the next poll),
- on SIGTERM or SIGINT stops every child (SIGTERM, then SIGKILL after the grace period) and exits.

``--daemon`` detaches: the launcher's child forks, prints the supervisor's PID and exits, so the
supervisor is nobody's child but init's and a CLI can return while it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import os
import secrets
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from crashlab.journal import Journal
from crashlab.timeutil import iso, utcnow
from stack.alerts import AlertJournal, alerts_url
from stack.local.exits import ExitInfo, backoff_s, classify_exit, should_restart
from stack.local.metrics import SupervisorMetrics
from stack.local.spec import PartSpec, SupervisorSpec, read_spec
from stack.local.state import state_of, take_over_claim

#: consecutive failed health probes before a healthy part is called unhealthy
UNHEALTHY_AFTER = 3
#: how long a part restarted on request may take to be healthy again
RESTART_HEALTHY_S = 20.0
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: get SIGKILL when the supervisor dies, however it dies."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class PartRunner:
    """One supervised part: its process, its restarts and its health."""

    def __init__(self, spec: PartSpec, sup: Supervisor) -> None:
        self.spec = spec
        self.sup = sup
        self.proc: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self.exits = 0
        self.failures = 0
        self.healthy = False
        self.ever_healthy = False
        self.health_failures = 0
        self.oom_kill = False
        self.finished = False
        self.started_at = 0.0
        self.last_exit: ExitInfo | None = None
        self.last_exit_at: str | None = None
        self.spawn_error: str | None = None
        self.rss = 0
        self.task: asyncio.Task[None] | None = None
        #: the limit in force (starts at the spec's; ``PUT /parts/{name}/memory-limit`` changes it)
        self.memory_limit_bytes = spec.memory_limit_bytes
        #: set by ``restart()``: the next exit is a requested one (clean, restarted at once)
        self.restart_requested = False
        #: ends a backoff pause early (a restart request, or the supervisor stopping)
        self.nudge = asyncio.Event()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int | None:
        proc = self.proc
        return proc.pid if proc is not None and proc.returncode is None else None

    async def run(self, first: bool = True) -> None:
        while True:
            returncode = await self._run_once(first)
            first = False
            requested, self.restart_requested = self.restart_requested, False
            info = classify_exit(
                returncode, oom_killed=self.oom_kill, stopping=self.sup.stopping or requested
            )
            self._record_exit(info, requested=requested)
            if self.sup.stopping:
                break
            if requested:
                self._count_restart()
                continue
            ran_s = time.monotonic() - self.started_at
            if ran_s >= self.spec.restart.reset_after_s:
                self.failures = 0
            if not should_restart(self.spec.restart, info, self.failures):
                self.finished = True
                self.sup.journal.write(
                    "process", "unhealthy", service=self.name, pid=None, reason=info.reason,
                    restarts=self.restarts, detail="not restarted (restart policy)",
                )  # fmt: skip
                break
            delay = backoff_s(self.spec.restart, self.failures)
            self.failures += 1
            self.nudge.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.nudge.wait(), delay)
            if self.sup.stopping:
                break
            self.restart_requested = False
            self._count_restart()

    def _count_restart(self) -> None:
        self.restarts += 1
        self.sup.metrics.restarts.labels(self.name).inc()

    async def restart(self, timeout_s: float) -> tuple[int | None, int | None]:
        """Restart on request: SIGTERM (SIGKILL after the grace period) and start again at once, also
        when the restart policy had given up on the part. Returns (old pid, new pid) once the new
        process is healthy (new pid None if that did not happen within ``timeout_s``)."""
        old = self.pid
        task = self.task
        if task is None or task.done():
            # the policy gave up on it (or it never ran): a new run, counted as a restart
            self.finished = False
            self._count_restart()
            self.task = asyncio.create_task(self.run(first=False), name=f"part-{self.name}")
        else:
            self.restart_requested = True
            self.nudge.set()  # sleeping between restarts: start now
            proc = self.proc
            if proc is not None and proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
                asyncio.get_running_loop().call_later(self.sup.spec.stop_grace_s, self._kill_if, proc)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            pid = self.pid
            if pid is not None and pid != old and self.healthy:
                return old, pid
            await asyncio.sleep(0.02)
        return old, None

    @staticmethod
    def _kill_if(proc: asyncio.subprocess.Process) -> None:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()

    def set_memory_limit(self, limit_bytes: int | None) -> int | None:
        previous, self.memory_limit_bytes = self.memory_limit_bytes, limit_bytes
        self.sup.metrics.memory_limit.labels(self.name).set(limit_bytes or 0)
        self.sup.journal.write(
            "process", "memory_limit", service=self.name, pid=self.pid,
            limit_bytes=limit_bytes, previous_bytes=previous,
        )  # fmt: skip
        return previous

    async def _run_once(self, first: bool) -> int:
        self.oom_kill = False
        self.health_failures = 0
        self.started_at = time.monotonic()
        spec = self.spec
        env = {**os.environ, **spec.env}
        Path(spec.output_path).parent.mkdir(parents=True, exist_ok=True)
        with open(spec.output_path, "ab") as out:  # noqa: ASYNC230 (a local append, instant)
            try:
                self.proc = await asyncio.create_subprocess_exec(
                    *spec.argv,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=out,
                    stderr=asyncio.subprocess.STDOUT,
                    env=env,
                    cwd=spec.cwd,
                    preexec_fn=_die_with_parent,
                )
            except OSError as exc:
                self.proc = None
                self.spawn_error = f"cannot start {spec.argv[0]!r}: {exc.strerror or exc}"
                out.write(f"crashlab supervisor: {self.spawn_error}\n".encode())
                return 127
        self.spawn_error = None
        self.sup.metrics.up.labels(self.name).set(1)
        event = "started" if first else "restarted"
        self.sup.journal.write("process", event, service=self.name, pid=self.proc.pid, restarts=self.restarts)
        return await self.proc.wait()

    def _record_exit(self, info: ExitInfo, *, requested: bool = False) -> None:
        self.exits += 1
        self.healthy = False
        self.last_exit = info
        self.last_exit_at = iso(utcnow())
        pid = self.proc.pid if self.proc is not None else None
        m = self.sup.metrics
        m.up.labels(self.name).set(0)
        m.rss.labels(self.name).set(0)
        m.exits.labels(self.name, info.reason).inc()
        m.last_exit_code.labels(self.name).set(info.exit_code)
        self.sup.journal.write(
            "process", "exited", service=self.name, pid=pid, exit_code=info.exit_code,
            signal=info.signal, reason=info.reason, restarts=self.restarts,
            requested=requested,
        )  # fmt: skip

    def kill_for_memory(self, rss: int) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None or self.oom_kill:
            return
        self.oom_kill = True
        print(
            f"crashlab supervisor: {self.name} (pid {proc.pid}) at {rss} bytes, over its limit of "
            f"{self.memory_limit_bytes}: SIGKILL (oom)",
            file=sys.stderr,
            flush=True,
        )
        with contextlib.suppress(ProcessLookupError):
            proc.kill()

    async def stop(self, grace_s: float) -> None:
        task = self.task
        if task is None:
            return
        proc = self.proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(asyncio.shield(task), grace_s)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            if not task.done():
                # sleeping between restarts, or waiting for the killed process: both end quickly
                await asyncio.wait_for(task, grace_s)

    async def probe(self, session: aiohttp.ClientSession) -> None:
        if self.pid is None:
            return
        try:
            async with session.get(self.spec.health_url, timeout=aiohttp.ClientTimeout(total=1.0)) as resp:
                ok = resp.status == 200
        except (aiohttp.ClientError, TimeoutError):
            ok = False
        if ok:
            self.health_failures = 0
            if not self.healthy:
                self.healthy = self.ever_healthy = True
                self.sup.journal.write(
                    "process", "healthy", service=self.name, pid=self.pid, restarts=self.restarts
                )
            return
        self.health_failures += 1
        if self.healthy and self.health_failures >= UNHEALTHY_AFTER:
            self.healthy = False
            self.sup.journal.write(
                "process", "unhealthy", service=self.name, pid=self.pid, restarts=self.restarts
            )

    def to_json(self) -> dict[str, Any]:
        last = self.last_exit
        return {
            "name": self.name,
            "pid": self.pid,
            "url": self.spec.url,
            "healthy": self.healthy,
            "restarts": self.restarts,
            "running": self.pid is not None,
            "ever_healthy": self.ever_healthy,
            "finished": self.finished,
            "exits": self.exits,
            "last_exit": None
            if last is None
            else {
                "reason": last.reason,
                "exit_code": last.exit_code,
                "signal": last.signal,
                "at": self.last_exit_at,
            },
            "spawn_error": self.spawn_error,
            "memory_limit_bytes": self.memory_limit_bytes,
            "rss_bytes": self.rss,
            "output_path": self.spec.output_path,
        }


class Supervisor:
    def __init__(self, spec: SupervisorSpec) -> None:
        self.spec = spec
        self.journal = Journal(spec.journal_path, source="supervisor")
        self.metrics = SupervisorMetrics([p.name for p in spec.parts])
        self.parts = [PartRunner(p, self) for p in spec.parts]
        self.stop_event = asyncio.Event()
        self.session: aiohttp.ClientSession | None = None
        self.alerts = AlertJournal(self.journal)
        for part in spec.parts:
            self.metrics.memory_limit.labels(part.name).set(part.memory_limit_bytes or 0)

    @property
    def stopping(self) -> bool:
        return self.stop_event.is_set()

    def request_stop(self) -> None:
        self.stop_event.set()
        for part in self.parts:
            part.nudge.set()

    def part(self, name: str) -> PartRunner | None:
        return next((p for p in self.parts if p.name == name), None)

    def status(self) -> dict[str, Any]:
        return {
            "supervisor": {
                "pid": os.getpid(),
                "url": f"http://{self.spec.host}:{self.spec.port}",
                "run_id": self.spec.run_id,
                "run_path": self.spec.run_path,
                "stopping": self.stopping,
            },
            "parts": [p.to_json() for p in self.parts],
        }

    async def run(self) -> None:
        for part in self.parts:
            part.task = asyncio.create_task(part.run(), name=f"part-{part.name}")
        helpers = [
            asyncio.create_task(self._watch_memory(), name="memory"),
            asyncio.create_task(self._watch_health(), name="health"),
        ]
        if self.spec.alerts_url:
            helpers.append(asyncio.create_task(self._watch_alerts(self.spec.alerts_url), name="alerts"))
        await self.stop_event.wait()
        services = [p for p in self.parts if p.spec.kind == "service"]
        others = [p for p in self.parts if p.spec.kind != "service"]
        # the game first (it calls the odds), then the odds, then Prometheus (it saw it all)
        for part in reversed(services):
            await part.stop(self.spec.stop_grace_s)
        await asyncio.gather(*(p.stop(self.spec.stop_grace_s) for p in others))
        for task in helpers:
            task.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)

    async def _watch_memory(self) -> None:
        handles: dict[int, psutil.Process] = {}
        while True:
            for part in self.parts:
                pid = part.pid
                if pid is None:
                    continue
                try:
                    handle = handles.get(pid) or handles.setdefault(pid, psutil.Process(pid))
                    rss = handle.memory_info().rss
                except psutil.Error:
                    handles.pop(pid, None)
                    continue
                part.rss = rss
                self.metrics.rss.labels(part.name).set(rss)
                limit = part.memory_limit_bytes
                if limit and rss > limit:
                    part.kill_for_memory(rss)
            live = {p.pid for p in self.parts}
            for pid in [pid for pid in handles if pid not in live]:
                del handles[pid]
            await asyncio.sleep(self.spec.memory_poll_s)

    async def _watch_health(self) -> None:
        assert self.session is not None
        while True:
            await asyncio.gather(*(p.probe(self.session) for p in self.parts))
            starting = any(not p.ever_healthy for p in self.parts)
            await asyncio.sleep(0.1 if starting else self.spec.health_poll_s)

    async def _watch_alerts(self, base: str) -> None:
        assert self.session is not None
        url = alerts_url(base)
        while True:
            await asyncio.sleep(1.0)
            try:
                async with self.session.get(url, timeout=aiohttp.ClientTimeout(total=2.0)) as resp:
                    body = await resp.json()
            except (aiohttp.ClientError, TimeoutError, ValueError):
                continue
            self.alerts.update(body)


SUPERVISOR: web.AppKey[Supervisor] = web.AppKey("supervisor", Supervisor)


async def _metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[SUPERVISOR].metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _status(request: web.Request) -> web.Response:
    return web.json_response(request.app[SUPERVISOR].status())


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status)


def _authorised(request: web.Request) -> bool:
    """``Authorization: Bearer <the stack's admin token>``; never without a configured token."""
    token = request.app[SUPERVISOR].spec.admin_token
    given = request.headers.get("Authorization", "")
    return bool(token) and secrets.compare_digest(given.encode(), f"Bearer {token}".encode())


def _controlled_part(request: web.Request) -> PartRunner | web.Response:
    if not _authorised(request):
        return _error(401, "ERR_UNAUTHORIZED", "needs Authorization: Bearer <the stack's admin token>")
    sup = request.app[SUPERVISOR]
    name = request.match_info["name"]
    part = sup.part(name)
    if part is None:
        known = ", ".join(p.name for p in sup.parts)
        return _error(404, "ERR_NO_SUCH_PART", f"no part named {name!r} (parts: {known})")
    if sup.stopping:
        return _error(409, "ERR_STOPPING", "the supervisor is stopping")
    return part


async def _restart(request: web.Request) -> web.Response:
    part = _controlled_part(request)
    if isinstance(part, web.Response):
        return part
    timeout_s = part.sup.spec.stop_grace_s + RESTART_HEALTHY_S
    old, new = await part.restart(timeout_s)
    if new is None:
        return _error(
            504,
            "ERR_NOT_RESTARTED",
            f"{part.name}: not running and healthy {timeout_s:g} s after the restart",
        )
    return web.json_response({"part": part.name, "previous_pid": old, "pid": new})


async def _memory_limit(request: web.Request) -> web.Response:
    part = _controlled_part(request)
    if isinstance(part, web.Response):
        return part
    try:
        body = await request.json()
    except ValueError:
        body = None
    limit = body.get("limit_bytes", ...) if isinstance(body, dict) else ...
    valid = limit is None or (isinstance(limit, int) and not isinstance(limit, bool) and limit > 0)
    if limit is ... or not valid:
        return _error(400, "ERR_INVALID_LIMIT", 'expected {"limit_bytes": <positive integer> | null}')
    previous = part.set_memory_limit(limit)
    return web.json_response({"part": part.name, "limit_bytes": limit, "previous_bytes": previous})


def make_app(sup: Supervisor) -> web.Application:
    app = web.Application()
    app[SUPERVISOR] = sup

    async def client_session(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as session:
            app[SUPERVISOR].session = session
            yield
            app[SUPERVISOR].session = None

    app.cleanup_ctx.append(client_session)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/status", _status)
    app.router.add_get("/healthz", _healthz)
    app.router.add_post("/parts/{name}/restart", _restart)
    app.router.add_put("/parts/{name}/memory-limit", _memory_limit)
    return app


async def serve(spec: SupervisorSpec) -> None:
    sup = Supervisor(spec)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, sup.request_stop)
    runner = web.AppRunner(make_app(sup), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, spec.host, spec.port)
        await site.start()
        sup.journal.write(
            "process", "started", service="supervisor", pid=os.getpid(), restarts=0,
            url=f"http://{spec.host}:{spec.port}",
        )  # fmt: skip
        await sup.run()
    finally:
        await runner.cleanup()


def _daemonize(log_path: Path) -> None:
    """Fork; the parent prints the child's PID and exits; the child's output goes to ``log_path``."""
    pid = os.fork()
    if pid > 0:
        sys.stdout.write(f"{pid}\n")
        sys.stdout.flush()
        os._exit(0)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    null_fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null_fd, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(null_fd)
    os.close(log_fd)


def _take_over(spec: SupervisorSpec, state_file: Path) -> bool:
    """Before anything starts: name this supervisor in the state file, in place of its launcher's
    claim, so no stack ever runs that ``status`` and ``down`` cannot see."""
    me = psutil.Process()
    return take_over_claim(state_of(spec, me.pid, me.create_time(), os.getpgid(0)), state_file)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.local.supervisor")
    parser.add_argument("spec", type=Path)
    parser.add_argument("--daemon", action="store_true", help="detach; print the supervisor's PID")
    args = parser.parse_args(argv)
    spec = read_spec(args.spec)
    if args.daemon:
        _daemonize(Path(spec.run_path) / "logs" / "supervisor.log")
    if spec.state_file is not None and not _take_over(spec, Path(spec.state_file)):
        print(
            f"crashlab supervisor: {spec.state_file} no longer holds this start's claim (the launcher "
            "gave up); not starting",
            file=sys.stderr,
            flush=True,
        )
        return 1
    try:
        asyncio.run(serve(spec))
    except OSError as exc:
        print(
            f"crashlab supervisor: cannot serve on {spec.host}:{spec.port}: {exc}",
            file=sys.stderr,
            flush=True,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
