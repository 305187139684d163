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


def play_request(port: int, player: str, choice: str) -> bytes:
    """A ``POST /play`` request (HTTP/1.1, keep-alive) for 127.0.0.1:``port``."""
    body = b'{"player_choice": "%s"}' % choice.encode()
    return (
        b"POST /play HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
        b"X-Player-Id: %s\r\nContent-Length: %d\r\n\r\n%s" % (port, player.encode(), len(body), body)
    )


class ClosedLoopClient(asyncio.Protocol):
    """One keep-alive connection sending its ``requests`` in turn, each as soon as the answer to the
    last one is in, while ``more()`` says so (asked before every request); counts the answers that
    are not 200 and, given ``latencies``, appends each answer's latency in seconds. Raw asyncio: it
    costs the load generator's core little."""

    def __init__(
        self,
        requests: list[bytes],
        more: Callable[[], bool],
        done: asyncio.Future[None],
        latencies: list[float] | None = None,
    ) -> None:
        self.requests = requests
        self.more = more
        self.done = done
        self.latencies = latencies
        self.i = 0
        self.errors = 0
        self.buf = b""
        self.t0 = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._next()

    def _next(self) -> None:
        assert self.transport is not None
        if not self.more():
            self.transport.close()
            return
        self.t0 = time.perf_counter()
        self.transport.write(self.requests[self.i % len(self.requests)])
        self.i += 1

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buf[:end].lower()
        at = head.find(b"content-length:")
        stop = head.find(b"\r\n", at)
        length = int(head[at + 15 : stop if stop > 0 else None])
        if len(self.buf) < end + 4 + length:
            return
        if self.latencies is not None:
            self.latencies.append(time.perf_counter() - self.t0)
        if not head.startswith(b"http/1.1 200"):
            self.errors += 1
        self.buf = self.buf[end + 4 + length :]
        self._next()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def closed_loop(
    port: int,
    requests: Callable[[int], list[bytes]],
    more: Callable[[], bool],
    concurrency: int,
    latencies: list[float] | None = None,
) -> int:
    """``concurrency`` :class:`ClosedLoopClient` s on 127.0.0.1:``port`` (connection ``n`` sends
    ``requests(n)``) until ``more()`` says stop and every answer is in; returns the non-200 answers."""
    loop = asyncio.get_running_loop()
    clients = []
    for n in range(concurrency):
        done: asyncio.Future[None] = loop.create_future()
        _, client = await loop.create_connection(
            lambda n=n, done=done: ClosedLoopClient(requests(n), more, done, latencies),  # type: ignore[misc]
            "127.0.0.1",
            port,
        )
        clients.append(client)
    await asyncio.gather(*(c.done for c in clients))
    return sum(c.errors for c in clients)
