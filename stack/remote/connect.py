"""Connect to a stack running elsewhere: :func:`up` checks every URL and the token, then records what
the leftover cleanup needs in the run's manifest (``remote``: the URLs and the token file, never the
token) so :func:`recover` can find the stack again after a killed drill."""

from __future__ import annotations

import time
from pathlib import Path

from crashlab.journal import Journal
from crashlab.rundir import ManifestError, RunDir
from stack.admintoken import admin_token
from stack.remote.probe import admin_problem, part_problem
from stack.remote.running import RemoteStack
from stack.runtime import SERVICES, StackConfig, StackError

#: the parts a drill must name in ``target.urls``; ``alertmanager`` is optional
REQUIRED_PARTS = ("game", "odds", "prometheus")
OPTIONAL_PARTS = ("alertmanager",)
#: a remote stack is already running: a short grace for a port-forward that is still starting
CONNECT_TIMEOUT_S = 5.0


def up(config: StackConfig) -> RemoteStack:
    """The remote stack of ``config.urls`` once each part answers healthy and the game's and the odds
    service's admin APIs take the token; a :class:`StackError` naming each URL that does not, and
    what answered."""
    if config.runtime != "remote":
        raise StackError(f"stack: stack.remote cannot run the {config.runtime!r} runtime")
    urls = {name: url.rstrip("/") for name, url in config.urls.items()}
    if not urls:
        raise StackError(
            "remote runtime: nothing to bring up: it connects to a stack running elsewhere; name its "
            "URLs in a drill's target.urls (game, odds, prometheus, alertmanager) and run the drill"
        )
    missing = [part for part in REQUIRED_PARTS if part not in urls]
    unknown = sorted(set(urls) - {*REQUIRED_PARTS, *OPTIONAL_PARTS})
    if missing or unknown:
        raise StackError(
            f"remote runtime: target.urls needs {', '.join(REQUIRED_PARTS)} (and optionally alertmanager); "
            + "; ".join(
                [
                    *([f"missing: {', '.join(missing)}"] if missing else []),
                    *([f"unknown: {', '.join(unknown)}"] if unknown else []),
                ]
            )
        )
    token, token_from = admin_token(config.admin_token_file)
    deadline = time.monotonic() + min(CONNECT_TIMEOUT_S, config.health_timeout_s)
    while True:
        problems = [p for name, url in urls.items() if (p := part_problem(name, url)) is not None]
        if not problems:
            problems = [
                p
                for name in SERVICES
                if (p := admin_problem(name, urls[name], token, token_from)) is not None
            ]
            if not problems:
                break
            raise StackError("remote stack: " + "; ".join(problems))
        if time.monotonic() >= deadline:
            raise StackError("remote stack: not healthy: " + "; ".join(problems))
        time.sleep(0.25)
    run_dir = config.run_dir
    token_file = str(config.admin_token_file) if config.admin_token_file is not None else None
    run_dir.update_manifest(remote={"urls": urls, "admin_token_file": token_file})
    Journal(run_dir.journal_path, source="stack").write("stack", "up", runtime="remote", parts=urls)
    return RemoteStack(run_dir, urls, token, token_from)


def attach() -> RemoteStack | None:
    """None: crashlab runs nothing of a remote stack, so no running stack of this runtime is found (a
    drill connects anew; ``crashlab down`` and ``status`` leave remote stacks alone)."""
    return None


def recover(run_dir: RunDir) -> RemoteStack | None:
    """The remote stack ``run_dir``'s drill used (its manifest's ``remote``), with the token from the
    same source (the file, else ``$CRASHLAB_ADMIN_TOKEN``); None when the run names none or no token
    is at hand."""
    try:
        recorded = run_dir.read_manifest().get("remote")
    except (ManifestError, OSError):
        return None
    if not isinstance(recorded, dict) or not isinstance(recorded.get("urls"), dict):
        return None
    urls = {str(k): str(v) for k, v in recorded["urls"].items() if isinstance(v, str)}
    token_file = recorded.get("admin_token_file")
    try:
        token, token_from = admin_token(Path(token_file) if isinstance(token_file, str) else None)
    except StackError:
        return None
    return RemoteStack(run_dir, urls, token, token_from)
