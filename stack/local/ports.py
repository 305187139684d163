"""Loopback ports for the parts of a local stack: taken from the config or chosen free."""

from __future__ import annotations

import errno
import socket
from collections.abc import Mapping

from crashlab.ports import free_port
from stack.runtime import StackError

PARTS = ("odds", "game", "prometheus", "alertmanager", "supervisor")
#: the CLI option (and environment variable) that sets each part's port, for error messages
PORT_OPTIONS = {part: f"--{part}-port / CRASHLAB_{part.upper()}_PORT" for part in PARTS}


def check_free(host: str, port: int, part: str) -> None:
    """Raise a :class:`StackError` naming ``part`` when ``host:port`` cannot be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StackError(
                    f"{part}: port {host}:{port} is already in use; free it or pick another port "
                    f"({PORT_OPTIONS.get(part, 'port option')}; 0 picks a free one)"
                ) from None
            raise StackError(f"{part}: cannot bind {host}:{port}: {exc.strerror}") from None


def allocate(host: str, wanted: Mapping[str, int], parts: tuple[str, ...] = PARTS) -> dict[str, int]:
    """A distinct port per part: ``wanted[part]`` when given (checked free), else a free one."""
    ports: dict[str, int] = {}
    for part in parts:
        port = int(wanted.get(part) or 0)
        if port:
            if not 0 < port < 65536:
                raise StackError(f"{part}: port {port} is out of range (1-65535)")
            clash = [other for other, p in ports.items() if p == port]
            if clash:
                raise StackError(f"{part}: port {port} is also given to {clash[0]}; give each part its own")
            check_free(host, port, part)
            ports[part] = port
    for part in parts:
        if part not in ports:
            port = free_port(host)
            while port in ports.values():
                port = free_port(host)
            ports[part] = port
    return ports
