"""Loopback ports: the one ``free_port`` every area uses (stacks, the drill runner, the consoles, the
reporter's replay Prometheus, tests).

A port is picked at random below the kernel's ephemeral range, never by binding port 0: the kernel
hands the ports of that range to every outgoing connection too (Locust's players, probes, scrapes), so
a port it picked could be taken by a connection before its user bound it (seen with several drills
at once). Below the range only a listener can take it, and a taken one fails the bind check here.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

LOOPBACK = "127.0.0.1"

#: the lowest port picked (above the usual fixed ports of databases and dev servers)
LOWEST = 20000
#: the Docker CI layout's documented defaults start here (stack/compose.ci.yaml): picked below them
HIGHEST = 27000
_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
#: Linux's default, where the range cannot be read
_DEFAULT_EPHEMERAL = (32768, 60999)
_random = random.SystemRandom()


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range for outgoing connections' local ports."""
    try:
        low, high = (int(part) for part in _RANGE_FILE.read_text().split())
    except (OSError, ValueError):
        return _DEFAULT_EPHEMERAL
    return low, high


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port on ``host`` that was free a moment ago, below the ephemeral range."""
    top = min(HIGHEST, ephemeral_range()[0])
    for _ in range(200):
        port = _random.randrange(LOWEST, top)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    # a crowded machine: the kernel's own pick
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        picked: int = sock.getsockname()[1]
        return picked
