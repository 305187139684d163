"""The path a container's network faults take: the container's own namespace gets a name
(``ip netns attach``) and the ``network`` family applies its fault there, never on the machine's
interfaces. Verified inside a namespace this test creates (both ends on its own loopback), with a
process in it standing in for a container's main process; the machine's own namespace is refused.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from chaos.faults import FaultContext, registry
from stack.docker import DockerError, netns

UDP = """
import socket
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); rx.bind(("127.0.0.1", 0)); rx.settimeout(0.5)
rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(200):
    try:
        tx.sendto(b"x", rx.getsockname())
    except PermissionError:
        pass
got = 0
try:
    while True:
        rx.recv(10); got += 1
except TimeoutError:
    pass
print(got)
"""


@pytest.fixture
def namespace_process() -> Iterator[tuple[str, int]]:
    """A fresh namespace with lo up and a process inside it (a container's main process stand-in)."""
    name = f"crashlab-dt-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    proc: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        proc = subprocess.Popen(["ip", "netns", "exec", name, "sleep", "60"])
        # `ip netns exec` enters the namespace, then execs sleep: wait until it is inside
        target = os.stat(f"/run/netns/{name}").st_ino
        deadline = time.monotonic() + 5
        while os.stat(f"/proc/{proc.pid}/ns/net").st_ino != target and time.monotonic() < deadline:
            time.sleep(0.01)
        yield name, proc.pid
    finally:
        if proc is not None:
            proc.kill()
            proc.wait(5)
        subprocess.run(["ip", "netns", "delete", name], check=False)


def _received(name: str) -> int:
    out = subprocess.run(
        ["ip", "netns", "exec", name, sys.executable, "-c", UDP], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


def test_a_process_namespace_gets_a_name_and_the_host_namespace_is_refused(
    namespace_process: tuple[str, int],
) -> None:
    created, pid = namespace_process
    alias = f"{created}-ctr"
    try:
        assert netns.attach(alias, pid) == alias
        assert os.stat(f"/run/netns/{alias}").st_ino == os.stat(f"/proc/{pid}/ns/net").st_ino
        assert not netns.is_host_namespace(pid)
    finally:
        netns.detach(alias)
    assert not os.path.exists(f"/run/netns/{alias}")
    with pytest.raises(DockerError, match="host networking"):
        netns.attach(f"{created}-host", os.getpid())
    assert not os.path.exists(f"/run/netns/{created}-host")


def test_network_fault_in_a_named_process_namespace_is_applied_and_reverted(
    namespace_process: tuple[str, int],
) -> None:
    created, pid = namespace_process
    alias = netns.attach(f"{created}-ctr", pid)
    ctx = FaultContext(runtime="docker", netns_of=lambda _service: alias)
    fault = registry.get("network.loss")
    try:
        assert _received(alias) == 200
        handle = asyncio.run(
            fault.inject(
                registry.validate("network.loss", {"service": "odds", "percent": 50}), 30, ctx, label="t"
            )
        )
        try:
            assert handle["netns"] == alias
            assert _received(alias) < 170  # about 100 of 200 datagrams dropped
        finally:
            assert asyncio.run(fault.revert(handle, ctx)) == "reverted"
        assert _received(alias) == 200
    finally:
        netns.detach(alias)
