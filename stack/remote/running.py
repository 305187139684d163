"""A stack running elsewhere as the drill sees it (:class:`RemoteStack`): its parts' URLs and admin
token, their health over HTTP, and a ``down`` that leaves it running."""

from __future__ import annotations

import time

from crashlab.journal import Journal
from crashlab.rundir import RunDir
from stack.remote.probe import part_problem
from stack.remote.telemetry import snapshot
from stack.runtime import PartStatus, RuntimeName, StackError

#: copied from this long before the drill connected: the report's counters and rates look back (as
#: chaos.verdict.PAD_S)
PAD_S = 300.0


class RemoteStack:
    """Game, odds, Prometheus (and an Alertmanager when named) at the URLs a drill names; the run
    directory is the drill's own. Only what HTTP gives: faults through the admin APIs, queries to its
    Prometheus and Alertmanager; nothing to restart, signal, limit or rewrite."""

    def __init__(self, run_dir: RunDir, urls: dict[str, str], admin_token: str, token_from: str) -> None:
        self._run_dir = run_dir
        self._urls = {name: url.rstrip("/") for name, url in urls.items()}
        self._token = admin_token
        #: where the token came from (``$CRASHLAB_ADMIN_TOKEN`` or the file), for messages
        self.token_from = token_from
        #: when the drill connected (unix seconds): the telemetry copied at ``down`` starts before it
        self.connected_at = time.time()
        self._down = False

    # --- the Stack protocol -----------------------------------------------------------------
    @property
    def runtime(self) -> RuntimeName:
        return "remote"

    @property
    def run_dir(self) -> RunDir:
        return self._run_dir

    @property
    def urls(self) -> dict[str, str]:
        return dict(self._urls)

    @property
    def admin_token(self) -> str:
        return self._token

    def status(self) -> list[PartStatus]:
        """Each part's health over HTTP (no PIDs, no restarts: the runtime cannot see them)."""
        return [
            PartStatus(name, None, url, part_problem(name, url) is None, 0)
            for name, url in self._urls.items()
        ]

    def alertmanager_url(self) -> str:
        url = self._urls.get("alertmanager")
        if url is None:
            raise StackError("alertmanager: the drill names none in target.urls")
        return url

    def down(self) -> None:
        """The drill is done with the stack: copy the run's series from its Prometheus into the run
        directory (``prometheus/data``, for ``crashlab report`` once the remote Prometheus no longer
        answers), journal it and leave the stack running. Idempotent; never raises for the copy."""
        if self._down:
            return
        self._down = True
        kept = snapshot(
            self._urls["prometheus"],
            self._run_dir.prometheus / "data",
            self.connected_at - PAD_S,
            time.time(),
        )
        Journal(self._run_dir.journal_path, source="stack").write(
            "stack", "down", runtime="remote", parts=self.urls, left_running=True, telemetry=kept
        )
