"""The consoles' process, supervised by the game-day runner: ``python -m gameday.console --run RUN_DIR
...`` (:mod:`gameday.session`) started, watched and started again whenever it exits, until the game day
ends. A console crash never stops the game: the console rebuilds its state from the journal when it
comes back, with the same ports and secrets.

Journal (``type: gameday``): ``console_up`` (``pid``) once it answers, ``console_down`` (``pid``,
``exit_code``) when it exits. Its output goes to ``logs/console.log`` (appended across restarts). The
process has a session of its own (a Ctrl-C in the facilitator's terminal reaches the runner only, which
stops the console last) and is SIGTERMed if the runner dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path

import aiohttp

from chaos.load.process import die_with_parent
from crashlab.journal import Journal
from gameday.session import ConsoleLaunch

log = logging.getLogger("crashlab.gameday")

#: the project root: ``python -m gameday.console`` runs from here
ROOT = Path(__file__).resolve().parents[1]
#: how long to wait for a (re)started console to answer
READY_TIMEOUT_S = 30.0
#: the pause before starting a console that exited again
RESTART_DELAY_S = 1.0
STOP_TIMEOUT_S = 5.0


class ConsoleProcess:
    """Runs the console until :meth:`stop`; :attr:`ready` is set while a console process answers."""

    def __init__(
        self,
        run_dir: Path,
        launch: ConsoleLaunch,
        journal: Journal,
        prometheus: str | None = None,
        say: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.run_dir = run_dir
        self.launch = launch
        self.prometheus = prometheus
        self.journal = journal
        self.say = say
        self.log_path = run_dir / "logs" / "console.log"
        self.ready = asyncio.Event()
        self.starts = 0
        self.proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.returncode is None else None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._supervise(), name="console")

    async def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> bool:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self.ready.wait()
        return self.ready.is_set()

    def last_output(self) -> str:
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return "no output"
        lines = [line for line in lines if line.strip()]
        return lines[-1][:300] if lines else "no output"

    async def _supervise(self) -> None:
        while not self._stopping:
            await self._spawn()
            proc = self.proc
            assert proc is not None
            waiter = asyncio.ensure_future(proc.wait())
            answering = asyncio.ensure_future(self._until_answering(proc))
            await asyncio.wait({waiter, answering}, return_when=asyncio.FIRST_COMPLETED)
            if answering.done() and not answering.cancelled() and answering.result():
                self.ready.set()
                self.journal.write("gameday", "console_up", pid=proc.pid)
            answering.cancel()
            code = await waiter
            self.ready.clear()
            if self._stopping:
                return
            self.journal.write("gameday", "console_down", pid=proc.pid, exit_code=code)
            self.say(f"console (pid {proc.pid}) exited with {code}; starting it again")
            await asyncio.sleep(RESTART_DELAY_S)

    async def _spawn(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        with self.log_path.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                *self.launch.argv(self.run_dir, self.prometheus),
                cwd=ROOT,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
                env={**os.environ, **self.launch.env(), "PYTHONUNBUFFERED": "1"},
            )

    async def _until_answering(self, proc: asyncio.subprocess.Process) -> bool:
        """True once both sites answer ``GET /healthz`` (within :data:`READY_TIMEOUT_S`)."""
        urls = [self.launch.team_url + "healthz", self.launch.facilitator_url + "healthz"]
        timeout = aiohttp.ClientTimeout(total=2.0)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT_S
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while proc.returncode is None and loop.time() < deadline:
                if all([await _answers(session, url) for url in urls]):
                    return True
                await asyncio.sleep(0.2)
        return False

    async def stop(self) -> None:
        """Stop supervising and end the console (SIGTERM, then SIGKILL)."""
        self._stopping = True
        proc = self.proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(STOP_TIMEOUT_S):
                    await proc.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def _answers(session: aiohttp.ClientSession, url: str) -> bool:
    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
        async with session.get(url) as resp:
            return resp.status == 200
    return False
