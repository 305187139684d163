"""A scratch network namespace for network-fault tests: both ends on its own loopback, never the
machine's interfaces."""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import sys
from collections.abc import Iterator

#: sends 200 datagrams to itself on the namespace's loopback and prints how many arrived
UDP = """
import socket
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); rx.bind(("127.0.0.1", 0)); rx.settimeout(0.5)
rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(200):
    try:
        tx.sendto(b"x", rx.getsockname())
    except PermissionError:  # dropped in the output hook
        pass
got = 0
try:
    while True:
        rx.recv(10); got += 1
except TimeoutError:
    pass
print(got)
"""


@contextlib.contextmanager
def scratch_netns(prefix: str) -> Iterator[str]:
    """A fresh namespace ``<prefix>-<random>`` with lo up; deleted on exit."""
    name = f"{prefix}-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


def in_ns(name: str, code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run Python ``code`` inside the namespace."""
    return subprocess.run(
        ["ip", "netns", "exec", name, sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def udp_received(name: str) -> int:
    """How many of :data:`UDP`'s 200 datagrams arrived inside the namespace."""
    out = in_ns(name, UDP)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.strip())
