"""network.* faults inside a network namespace the test creates (both ends on its own loopback);
never on the machine's interfaces. Where the kernel has no netem, loss and rate use their fallbacks
(NFQUEUE delayer, nftables, tbf)."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from chaos.faults import FaultContext, FaultError, network, registry
from tests.helpers_netns import in_ns, scratch_netns, udp_received

FETCH = """
import sys, time, urllib.request
start = time.monotonic()
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/{sys.argv[2]}", timeout=20).read()
print(time.monotonic() - start)
"""


@pytest.fixture
def netns(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A fresh network namespace with lo up and an HTTP server (serving a 1 MB file) on its loopback."""
    (tmp_path / "blob").write_bytes(os.urandom(1_000_000))
    with scratch_netns("crashlab-test") as name:
        port = 18000 + secrets.randbelow(1000)
        server = subprocess.Popen(
            ["ip", "netns", "exec", name, sys.executable, "-m", "http.server", str(port),
             "--bind", "127.0.0.1", "--directory", str(tmp_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 10
            while in_ns(name, FETCH, str(port), "").returncode != 0 and time.monotonic() < deadline:
                time.sleep(0.1)
            yield name, port
        finally:
            server.terminate()
            server.wait(timeout=10)


def fetch_s(name: str, port: int, path: str = "") -> float:
    out = in_ns(name, FETCH, str(port), path)
    assert out.returncode == 0, out.stderr
    return float(out.stdout)


def shaping(name: str) -> str:
    """Everything tc and nft hold in the namespace."""
    tc = subprocess.run(
        ["ip", "netns", "exec", name, "tc", "qdisc", "show", "dev", "lo"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    nft = subprocess.run(
        ["ip", "netns", "exec", name, "nft", "list", "ruleset"], capture_output=True, text=True, check=True
    ).stdout
    return tc + nft


def host_shaping() -> str:
    tc = subprocess.run(["tc", "qdisc", "show"], capture_output=True, text=True, check=True).stdout
    nft = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True, check=True).stdout
    ipt = subprocess.run(["iptables-legacy-save"], capture_output=True, text=True, check=True).stdout
    return tc + nft + "\n".join(line for line in ipt.splitlines() if not line.startswith("#"))


def has_netem_module() -> bool:
    """Whether this kernel has netem (built in, or loadable)."""
    probe = subprocess.run(["ip", "netns", "add", "crashlab-test-probe"], capture_output=True)
    try:
        added = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                "crashlab-test-probe",
                "tc",
                "qdisc",
                "add",
                "dev",
                "lo",
                "root",
                "netem",
            ],
            capture_output=True,
        )
        return probe.returncode == 0 and added.returncode == 0
    finally:
        subprocess.run(["ip", "netns", "del", "crashlab-test-probe"], capture_output=True)


def rules(name: str) -> str:
    return subprocess.run(
        ["ip", "netns", "exec", name, "iptables-legacy", "-t", "mangle", "-S"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def test_delay_is_measured_inside_the_namespace_and_revert_removes_it(netns: tuple[str, int]) -> None:
    name, port = netns
    host_before = host_shaping()
    base = fetch_s(name, port)
    fault = registry.get("network.delay")
    params = registry.validate("network.delay", {"netns": name, "ms": 100, "jitter_ms": 5})
    handle = await fault.inject(params, 30, FaultContext(), label="d")
    # netem where the kernel has it, else the NFQUEUE delayer (this project's VM kernel)
    assert handle["mechanism"] == ("netem" if has_netem_module() else "nfqueue")
    assert host_shaping() == host_before  # the machine's own tables and qdiscs are untouched
    delayed = fetch_s(name, port)
    assert delayed >= base + 0.3  # handshake, request and response each cross lo with 100 ms
    assert await fault.revert(handle, FaultContext()) == "reverted"
    assert fetch_s(name, port) < delayed - 0.2
    if handle.get("helper_pid"):
        assert not alive(handle["helper_pid"])
    assert "NFQUEUE" not in rules(name) and "netem" not in shaping(name)


async def test_delay_ends_at_its_ttl_without_a_revert(netns: tuple[str, int]) -> None:
    name, port = netns
    fault = registry.get("network.delay")
    handle = await fault.inject(
        registry.validate("network.delay", {"netns": name, "ms": 150}), 5, FaultContext(), label="d"
    )
    # a TTL long enough for the fetch's own interpreter to start on a busy machine (1.5 s was not)
    assert fetch_s(name, port) >= 0.45
    deadline = time.monotonic() + 20
    while "NFQUEUE" in rules(name) or "netem" in shaping(name):
        assert time.monotonic() < deadline, "the delay outlived its TTL by 15 s"
        await asyncio.sleep(0.1)
    assert fetch_s(name, port) < 0.3
    assert "NFQUEUE" not in rules(name) and "netem" not in shaping(name)
    assert await fault.revert(handle, FaultContext()) == "expired"


async def test_loss_drops_that_share_of_packets_and_revert_restores(netns: tuple[str, int]) -> None:
    name, _port = netns
    host_before = host_shaping()
    assert udp_received(name) == 200
    fault = registry.get("network.loss")
    handle = await fault.inject(
        registry.validate("network.loss", {"netns": name, "percent": 50}), 30, FaultContext(), label="l"
    )
    assert host_shaping() == host_before  # only the namespace is touched
    got = udp_received(name)
    assert 40 <= got <= 160, got
    assert await fault.revert(handle, FaultContext()) == "reverted"
    assert udp_received(name) == 200
    assert await fault.revert(handle, FaultContext()) == "expired"


@pytest.mark.parametrize("percent", [100.0, 99.99])
def test_nft_fallback_drops_every_packet_at_100_percent(percent: float) -> None:
    """The nftables fallback of network.loss (kernels without netem), applied whatever this kernel
    has: at 100 % every datagram is dropped (nft's numgen draws 0..9999, so no "lt 10000"), at 99.99 %
    the sampled rule is accepted; removing the table lets everything through again."""
    params = registry.validate("network.loss", {"service": "odds", "percent": percent})
    mech = network.fallback(params, "lo", 65536, 30.0)
    assert mech.name == "nft"
    with scratch_netns("crashlab-nft") as name:
        prefix = network.namespace_prefix(name, None)
        for argv in mech.adds:
            subprocess.run([*prefix, *argv], check=True, capture_output=True)
        try:
            got = udp_received(name)
            assert got == 0 if percent == 100 else got <= 5, got
        finally:
            subprocess.run([*prefix, *mech.remove], check=True, capture_output=True)
        assert udp_received(name) == 200


async def test_loss_at_100_percent_drops_everything_and_revert_restores(netns: tuple[str, int]) -> None:
    name, _port = netns
    fault = registry.get("network.loss")
    handle = await fault.inject(
        registry.validate("network.loss", {"netns": name, "percent": 100}), 30, FaultContext(), label="all"
    )
    assert handle["mechanism"] == ("netem" if has_netem_module() else "nft")
    assert udp_received(name) == 0
    assert await fault.revert(handle, FaultContext()) == "reverted"
    assert udp_received(name) == 200


async def test_rate_limits_bandwidth_and_its_ttl_removes_it(netns: tuple[str, int]) -> None:
    name, port = netns
    fast = fetch_s(name, port, "blob")
    fault = registry.get("network.rate")
    await fault.inject(
        registry.validate("network.rate", {"netns": name, "kbit": 4000}), 4.0, FaultContext(), label="r"
    )
    slow = fetch_s(name, port, "blob")  # 1 MB at 500 kB/s (after a 128 kB burst)
    assert slow >= 1.0 > fast
    for _ in range(40):
        if "rate" not in shaping(name):
            break
        await asyncio.sleep(0.2)
    assert "rate" not in shaping(name)
    assert fetch_s(name, port, "blob") < 1.0


async def test_refuses_the_hosts_namespace_and_unknown_ones() -> None:
    fault = registry.get("network.delay")
    with pytest.raises(FaultError, match="host's own network namespace"):
        await fault.inject(
            registry.validate("network.delay", {"pid": os.getpid(), "ms": 10}), 5, FaultContext(), label="x"
        )
    with pytest.raises(FaultError, match="does not exist"):
        await fault.inject(
            registry.validate("network.delay", {"netns": "crashlab-nope", "ms": 10}),
            5,
            FaultContext(),
            label="x",
        )
    with pytest.raises(FaultError, match="does not run in a network namespace of its own"):
        await fault.inject(registry.validate("network.delay", {"ms": 10}), 5, FaultContext(), label="x")
