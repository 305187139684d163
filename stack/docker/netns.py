"""Named network namespaces for containers: ``ip netns attach NAME PID`` gives a container's own
namespace a name under /run/netns, so the ``network`` fault family (tc netem through
``ip netns exec``) can reach it. A namespace that is the machine's own (host networking) is never
named: netem must not touch the host's interfaces."""

from __future__ import annotations

import os
import subprocess

from stack.docker.engine import DockerError


def _inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def is_host_namespace(pid: int) -> bool:
    """True when process ``pid`` shares this machine's (this process's) network namespace."""
    target = _inode(f"/proc/{pid}/ns/net")
    if target is None:
        raise DockerError(f"network namespace of process {pid}: process gone or not readable")
    host = {ino for ino in (_inode("/proc/self/ns/net"), _inode("/proc/1/ns/net")) if ino is not None}
    return target in host


def attach(name: str, pid: int) -> str:
    """Name the network namespace of ``pid`` as ``name`` (replacing a stale one); returns ``name``."""
    if is_host_namespace(pid):
        raise DockerError(
            f"network namespace of process {pid}: it is this machine's own (host networking); "
            "refusing to name it for network faults"
        )
    detach(name)
    done = subprocess.run(
        ["ip", "netns", "attach", name, str(pid)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise DockerError(f"ip netns attach {name} {pid}: {done.stderr.strip() or 'failed'}")
    return name


def detach(name: str) -> None:
    """Forget the name (the namespace itself lives as long as its processes)."""
    if os.path.exists(f"/run/netns/{name}"):
        subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)
