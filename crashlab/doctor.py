"""``crashlab doctor``: is this machine ready for crashlab? Checks every external binary and kernel
feature the kit relies on and says, for each one missing, what needs it and how to install it.

The binaries come from ``crashlab/system-packages.txt`` (the same list ``make setup`` installs from).
Kernel features: netem (``sch_netem``), or its fallback (NFQUEUE + nftables) for network faults;
network namespaces. ``--docker`` adds the Docker engine and Compose v2 (>= 2.24, for the
``env_file`` form ``stack/compose.yaml`` uses).

Exit codes: 0 when every required check passes, 1 when one fails (warnings do not fail).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import platform
import re
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import click

from crashlab import binaries

PACKAGES_FILE = Path(__file__).with_name("system-packages.txt")
#: the oldest Prometheus the rules and configs are checked against
MIN_PROMETHEUS = (2, 42)
#: the oldest Compose v2 that reads the ``env_file`` form of stack/compose.yaml
MIN_COMPOSE = (2, 24)

Status = Literal["ok", "missing", "warn"]


@dataclass(frozen=True)
class Requirement:
    binary: str
    package: str
    purpose: str


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "missing"


def requirements(path: Path = PACKAGES_FILE) -> list[Requirement]:
    """The binaries of ``system-packages.txt``: ``binary package purpose...`` a line, ``#`` comments."""
    out: list[Requirement] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split(None, 2)
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) < 2:
            raise click.ClickException(f"{path}: line {line!r}: expected `binary package purpose`")
        out.append(Requirement(fields[0], fields[1], fields[2] if len(fields) > 2 else ""))
    return out


def install_hint(packages: Sequence[str]) -> str:
    names = " ".join(dict.fromkeys(packages))
    if shutil.which("apt-get"):
        prefix = "" if os.geteuid() == 0 else "sudo "
        return f"{prefix}apt-get install {names}  (or: make setup)"
    return f"install {names} with your package manager"


def _run(argv: Sequence[str], timeout_s: float = 10.0) -> tuple[int, str]:
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, str(exc)
    return done.returncode, (done.stdout + done.stderr).strip()


def _version(text: str) -> tuple[int, ...] | None:
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(g) for g in match.groups() if g is not None) if match else None


def check_binary(req: Requirement) -> Check:
    tool = binaries.tool_for(req.binary)
    path = binaries.which(tool) if tool is not None else shutil.which(req.binary)
    if path is None:
        return Check(
            req.binary, "missing", f"not on PATH; needed for {req.purpose}", install_hint([req.package])
        )
    if req.binary == "prometheus":
        _, out = _run([path, "--version"])
        version = _version(out)
        if version is not None and version[:2] < MIN_PROMETHEUS:
            need = ".".join(map(str, MIN_PROMETHEUS))
            return Check(req.binary, "missing", f"{path} is {out.splitlines()[0]}; need >= {need}", "")
    return Check(req.binary, "ok", path)


def _kernel_config() -> str:
    for candidate in (Path("/proc/config.gz"), Path(f"/boot/config-{platform.release()}")):
        with contextlib.suppress(OSError):
            if candidate.suffix == ".gz":
                return gzip.decompress(candidate.read_bytes()).decode(errors="replace")
            return candidate.read_text(errors="replace")
    return ""


@contextlib.contextmanager
def _scratch_netns() -> Iterator[str | None]:
    """A network namespace of our own for probing kernel features; None when one cannot be made."""
    name = f"crashlab-doctor-{secrets.token_hex(3)}"
    code, _ = _run(["ip", "netns", "add", name])
    if code != 0:
        yield None
        return
    try:
        yield name
    finally:
        _run(["ip", "netns", "delete", name])


def check_network_faults() -> list[Check]:
    """netem, or the fallback (NFQUEUE delayer + nftables loss), tried in a namespace of our own."""
    if not shutil.which("ip") or not shutil.which("tc"):
        return [Check("netem", "missing", "needs ip and tc (iproute2)", install_hint(["iproute2"]))]
    with _scratch_netns() as ns:
        if ns is None:
            return [
                Check(
                    "network namespaces",
                    "warn",
                    "cannot create one (needs root); network faults cannot be checked or run",
                    "run as root",
                )
            ]
        prefix = ["ip", "netns", "exec", ns]
        code, out = _run([*prefix, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"])
        if code == 0:
            return [Check("netem", "ok", "sch_netem works (tc qdisc netem in a scratch namespace)")]
        checks = [
            Check("netem", "warn", f"not available ({out or 'tc failed'}); network faults use the fallback")
        ]
        queue_ok = _run([*prefix, "cat", "/proc/net/netfilter/nfnetlink_queue"])[0] == 0
        ipt = shutil.which("iptables-legacy")
        if ipt and queue_ok:
            checks.append(Check("fallback: delay (NFQUEUE)", "ok", f"{ipt} + nfnetlink_queue"))
        else:
            why = "iptables-legacy missing" if not ipt else "nfnetlink_queue not available in the kernel"
            checks.append(Check("fallback: delay (NFQUEUE)", "missing", why, install_hint(["iptables"])))
        if shutil.which("nft"):
            code, out = _run([*prefix, "nft", "add", "table", "inet", "crashlab_doctor"])
            status: Status = "ok" if code == 0 else "missing"
            checks.append(Check("fallback: loss (nftables)", status, "nft works" if code == 0 else out))
        else:
            checks.append(
                Check("fallback: loss (nftables)", "missing", "nft missing", install_hint(["nftables"]))
            )
        return checks


def check_docker() -> list[Check]:
    if not shutil.which("docker"):
        return [Check("docker", "missing", "no docker CLI", install_hint(["docker.io"]))]
    code, out = _run(["docker", "version", "--format", "{{.Server.Version}}"])
    if code != 0:
        hint = "start the engine (dockerd), or run scripts/ci-docker.sh"
        return [
            Check("docker", "missing", f"no engine answers: {out.splitlines()[-1] if out else code}", hint)
        ]
    checks = [Check("docker", "ok", f"engine {out}")]
    code, out = _run(["docker", "compose", "version", "--short"])
    version = _version(out) if code == 0 else None
    hint = "Compose v2 >= 2.24 (Debian's docker-compose is v1): scripts/ci-docker.sh installs it"
    if version is None:
        checks.append(Check("compose", "missing", "`docker compose` is not available", hint))
    elif version[:2] < MIN_COMPOSE:
        checks.append(Check("compose", "missing", f"Compose {out} is older than 2.24", hint))
    else:
        checks.append(Check("compose", "ok", f"Compose {out}"))
    return checks


def run_checks(docker: bool, kernel: Callable[[], list[Check]] = check_network_faults) -> list[Check]:
    checks = [check_binary(req) for req in requirements()]
    checks += kernel()
    config = _kernel_config()
    if config and "CONFIG_NET_SCH_NETEM=" not in config:
        checks.append(Check("kernel config", "warn", "CONFIG_NET_SCH_NETEM is not set: the fallback is used"))
    if docker:
        checks += check_docker()
    return checks


@click.command("doctor")
@click.option(
    "--docker", is_flag=True, envvar="CRASHLAB_DOCTOR_DOCKER", help="also check Docker and Compose v2"
)
@click.option("--json", "as_json", is_flag=True, help="print the checks as JSON")
def doctor(docker: bool, as_json: bool) -> None:
    """Check the binaries and kernel features crashlab relies on; say how to install what is missing.

    Exit 0 when everything required is there, 1 otherwise.
    """
    checks = run_checks(docker)
    failed = [c for c in checks if c.failed]
    if as_json:
        click.echo(json.dumps({"ok": not failed, "checks": [asdict(c) for c in checks]}, indent=2))
    else:
        marks = {"ok": click.style("ok", fg="green"), "missing": click.style("MISSING", fg="red"),
                 "warn": click.style("warn", fg="yellow")}  # fmt: skip
        width = max(len(c.name) for c in checks)
        for c in checks:
            click.echo(f"{marks[c.status]:>16}  {c.name:<{width}}  {c.detail}")
            if c.fix and c.status != "ok":
                click.echo(f"{'':>7}  {'':<{width}}  fix: {c.fix}")
        packages = sorted({r.package for r in requirements() for c in failed if c.name == r.binary})
        if failed:
            tail = f"; install: {install_hint(packages)}" if packages else ""
            click.echo(f"crashlab doctor: {len(failed)} check(s) failed{tail}", err=True)
        else:
            click.echo("crashlab doctor: everything crashlab needs is here")
    raise SystemExit(1 if failed else 0)
