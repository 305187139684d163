"""What the benchmarks share: pin a process to a core, wait for a loopback port, and a canned HTTP/1.1
keep-alive server protocol (costs little, so the core it runs on stays free for what is measured)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import Callable


def pin(cpu: int) -> None:
    """Run this process on ``cpu`` only (when the machine has it)."""
    if hasattr(os, "sched_setaffinity") and cpu < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {cpu})


def wait_port(port: int, timeout_s: float = 30.0) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"127.0.0.1:{port} did not listen within {timeout_s}s")


def http_answer(status: bytes, body: bytes) -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode() + b"\r\n\r\n" + body
    )  # fmt: skip


class CannedHttp(asyncio.Protocol):
    """Answers every request on a keep-alive connection with ``answer(request head, lower case)``."""

    def __init__(self, answer: Callable[[bytes], bytes]) -> None:
        self.answer = answer
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].lower()
            length = 0
            at = head.find(b"content-length:")
            if at >= 0:
                stop = head.find(b"\r\n", at)
                length = int(head[at + 15 : stop if stop > 0 else None])
            if len(self.buf) < end + 4 + length:
                return
            self.buf = self.buf[end + 4 + length :]
            assert self.transport is not None
            self.transport.write(self.answer(head))


async def serve_canned(port: int, answer: Callable[[bytes], bytes]) -> None:
    """Serve ``answer`` on 127.0.0.1:``port`` until SIGTERM."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: CannedHttp(answer), "127.0.0.1", port, backlog=1024)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    server.close()
    await server.wait_closed()
