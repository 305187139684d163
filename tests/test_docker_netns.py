"""The path a container's network faults take: the container's own namespace gets a name
(``ip netns attach``) and the ``network`` family applies its fault there, never on the machine's
interfaces. Verified inside a namespace this test creates (both ends on its own loopback), with a
process in it standing in for a container's main process; the machine's own namespace is refused.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Iterator

import pytest

from chaos.faults import FaultContext, registry
from stack.docker import DockerError, netns
from tests.helpers_netns import scratch_netns, udp_received


@pytest.fixture
def namespace_process() -> Iterator[tuple[str, int]]:
    """A fresh namespace with lo up and a process inside it (a container's main process stand-in)."""
    with scratch_netns("crashlab-dt") as name:
        proc = subprocess.Popen(["ip", "netns", "exec", name, "sleep", "60"])
        try:
            # `ip netns exec` enters the namespace, then execs sleep: wait until it is inside
            target = os.stat(f"/run/netns/{name}").st_ino
            deadline = time.monotonic() + 5
            while os.stat(f"/proc/{proc.pid}/ns/net").st_ino != target and time.monotonic() < deadline:
                time.sleep(0.01)
            yield name, proc.pid
        finally:
            proc.kill()
            proc.wait(5)


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
        assert udp_received(alias) == 200
        handle = asyncio.run(
            fault.inject(
                registry.validate("network.loss", {"service": "odds", "percent": 50}), 30, ctx, label="t"
            )
        )
        try:
            assert handle["netns"] == alias
            assert udp_received(alias) < 170  # about 100 of 200 datagrams dropped
        finally:
            assert asyncio.run(fault.revert(handle, ctx)) == "reverted"
        assert udp_received(alias) == 200
    finally:
        netns.detach(alias)
