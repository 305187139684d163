"""``python -m gameday.console --run RUN_DIR ...``: the game day's two consoles, one process.

The runner (``crashlab gameday``) starts it, and starts it again if it crashes: the console rebuilds its
state from the run's journal. Secrets come from the environment (docs/gameday.md, "The consoles");
once both sites listen, one JSON line goes to stdout: ``{"event": "ready", "pid", "team_url",
"facilitator_url", "pager_url"}`` (no secret). A secret missing from the environment is made up and,
then only, printed on stderr with the facilitator's URL and the join code (a console started by hand).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from crashlab.errors import CrashlabError
from crashlab.rundir import ManifestError, RunDir
from gameday.console.app import Console, ConsoleConfig
from gameday.console.auth import Secrets
from gameday.console.operations import Operator
from gameday.console.serve import LOOPBACK, serving
from gameday.errors import GamedayError
from stack import registry
from stack.runtime import Stack

log = logging.getLogger("gameday.console")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m gameday.console", description="the game day's team and facilitator consoles"
    )
    parser.add_argument("--run", required=True, type=Path, help="the game day's run directory")
    parser.add_argument(
        "--runtime", choices=registry.NAMES, help="the stack's runtime (default: the manifest's)"
    )
    parser.add_argument("--team-port", type=int, default=0, help="the team console's port (0: a free one)")
    parser.add_argument("--facilitator-port", type=int, default=0, help="the facilitator console's port")
    parser.add_argument(
        "--listen", default=LOOPBACK, help="the team console's address (default 127.0.0.1: this machine only)"
    )
    parser.add_argument("--prometheus", help="the stack's Prometheus, for live SLIs (default: the stack's)")
    parser.add_argument(
        "--no-stack", action="store_true", help="act on no stack (the actions are unavailable)"
    )
    parser.add_argument("--log-level", default="WARNING", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    return parser.parse_args(argv)


def _manifest(run: RunDir) -> dict[str, Any]:
    try:
        return run.read_manifest()
    except (OSError, ManifestError) as exc:
        raise GamedayError(f"{run.manifest_path}: cannot read it ({exc})") from None


def attach_stack(run: RunDir, runtime: str | None, manifest: dict[str, Any]) -> Stack | None:
    """The running stack of this game day (its run directory is the game day's or the manifest's
    ``stack_run_dir``); None, with a warning, when none runs."""
    name = runtime or str(manifest.get("runtime") or "local")
    stack = registry.get(name).attach()
    if stack is None:
        log.warning("no %s stack is running: the actions are unavailable until the console restarts", name)
        return None
    expected = {run.path.resolve()}
    if isinstance(manifest.get("stack_run_dir"), str):
        expected.add(Path(manifest["stack_run_dir"]).resolve())
    if stack.run_dir.path.resolve() not in expected:
        raise GamedayError(
            f"the running {name} stack belongs to {stack.run_dir.path}, not to this game day ({run.path})"
        )
    return stack


def build(args: argparse.Namespace, secrets: Secrets) -> Console:
    run = RunDir(args.run)
    if not run.path.is_dir():
        raise GamedayError(f"{run.path}: no such run directory")
    manifest = _manifest(run)
    stack = None if args.no_stack else attach_stack(run, args.runtime, manifest)
    also = [] if stack is None else [stack.run_dir.journal_path]
    prometheus = args.prometheus or (stack.urls.get("prometheus") if stack is not None else None)
    config = ConsoleConfig(run=run, secrets=secrets, prometheus_url=prometheus, also_journals=also)
    return Console(config, Operator(stack))


async def serve(args: argparse.Namespace, secrets: Secrets, made: list[str]) -> None:
    console = build(args, secrets)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with serving(
        console, listen=args.listen, team_port=args.team_port, facilitator_port=args.facilitator_port
    ) as sites:
        print(json.dumps(sites.ready_line(os.getpid())), flush=True)
        if made:
            print(
                f"console: made up {', '.join(made)} (none in the environment)\n"
                f"  facilitator: {sites.facilitator_url}#token={secrets.facilitator_token}\n"
                f"  team: {sites.team_url} (join code {secrets.join_code})",
                file=sys.stderr,
                flush=True,
            )
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, format="console %(levelname)s %(name)s: %(message)s")
    secrets, made = Secrets.from_env()
    try:
        asyncio.run(serve(args, secrets, made))
    except CrashlabError as exc:
        print(f"console: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # a port taken, an address this machine does not have
        print(f"console: error: cannot listen: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
