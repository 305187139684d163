"""``crashlab load master|worker``: the players' Locust in distributed mode, by hand or in a cluster.

A drill with ``load.workers`` starts its master and workers itself (:mod:`chaos.load.process`); these
commands are for the other cases:

- ``crashlab load worker --master HOST:PORT [--processes N]`` joins a master (a drill's with
  ``load.master``, or ``crashlab load master``) from this machine with N worker processes;
- ``crashlab load master [LOCUST OPTIONS]`` runs a Locust master of the players' locustfile (Kubernetes:
  the ``locust-master`` Deployment), serving the players' metrics summed over its workers.

Both take any further Locust option after their own (or from ``LOCUST_*`` variables) and the players'
options (``--client-timeout``, ``--metrics-port``, ... or ``CRASHLAB_LOAD_*``; a worker gets them from
its master when the test starts).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from types import FrameType

import click

from chaos.load.process import locust_argv, worker_environment

PASS_THROUGH = {"ignore_unknown_options": True, "allow_extra_args": True}


def parse_master(_ctx: click.Context | None, _param: click.Parameter | None, value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:5557`` for IPv6) -> (host, port); a click callback."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"expected HOST:PORT (for example 10.0.0.5:5557), got {value!r}")
    return host, int(port)


@click.group("load")
def load_group() -> None:
    """The players' Locust in distributed mode (master and workers)."""


@load_group.command("worker", context_settings=PASS_THROUGH)
@click.option(
    "--master",
    "master",
    envvar="CRASHLAB_LOAD_MASTER",
    required=True,
    metavar="HOST:PORT",
    callback=parse_master,
    help="the Locust master to join [env CRASHLAB_LOAD_MASTER]",
)
@click.option(
    "--processes",
    envvar="CRASHLAB_LOAD_PROCESSES",
    type=click.IntRange(min=-1),
    default=1,
    show_default=True,
    help="worker processes on this machine (one core each); -1: one per CPU [env CRASHLAB_LOAD_PROCESSES]",
)
@click.argument("locust_args", nargs=-1, type=click.UNPROCESSED)
def worker_cmd(master: tuple[str, int], processes: int, locust_args: tuple[str, ...]) -> None:
    """Join a Locust master with N worker processes of the players' locustfile; exits when the master
    ends the test (or on Ctrl-C / SIGTERM)."""
    host, port = master
    if processes == 0:
        raise click.BadParameter("must be at least 1, or -1 for one per CPU", param_hint="--processes")
    count = (os.cpu_count() or 1) if processes == -1 else processes
    argv = locust_argv("--worker", "--master-host", host, "--master-port", str(port), *locust_args)
    env = worker_environment()
    if count == 1:
        os.execve(argv[0], argv, env)  # one worker: Locust itself gets the signals (containers)
    sys.exit(_supervise([subprocess.Popen(argv, env=env) for _ in range(count)]))


@load_group.command("master", context_settings=PASS_THROUGH)
@click.argument("locust_args", nargs=-1, type=click.UNPROCESSED)
def master_cmd(locust_args: tuple[str, ...]) -> None:
    """Run a Locust master of the players' locustfile (Locust options after it, or LOCUST_* variables;
    for example --headless -u 100 -t 5m -H http://game:8080 --expect-workers 4, or the web UI)."""
    argv = locust_argv("--master", *locust_args)
    os.execv(argv[0], argv)


def _supervise(procs: list[subprocess.Popen[bytes]]) -> int:
    """Wait for every worker; SIGINT/SIGTERM stop them all. The worst exit code."""

    def stop(signum: int, _frame: FrameType | None) -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    codes = [proc.wait() for proc in procs]
    return max(codes, key=abs)


COMMANDS: list[click.Command] = [load_group]
