"""The ``network`` family: tc netem between the game and the odds service.

netem goes only into the target's *own* network namespace (a namespace the project created, or a
container's), on a device inside it (default ``lo``), never onto the machine's interfaces: the
fault refuses a target whose namespace is the host's. A detached timer removes the qdisc when the
TTL ends, so the fault ends even if the runner dies.

Where the kernel has no netem (``CONFIG_NET_SCH_NETEM`` unset, as on some VM kernels), each fault
falls back to what the kernel has, in the same namespace: ``network.delay`` to an ``NFQUEUE`` rule
(``--queue-bypass``) and a small delayer process (:mod:`chaos.faults.nfq_delay`) that accepts each
packet ``ms`` (+- ``jitter_ms``) later and exits at the TTL; ``network.loss`` to an nftables rule
dropping that share of the namespace's packets; ``network.rate`` to a ``tbf`` qdisc. The handle
records the mechanism used, so revert (and ``chaos revert --all``) undo the right thing.

Target: ``netns`` (a name from ``ip netns list``) or ``pid`` (a process whose namespace to
enter), else the namespace the stack reports for ``service`` (``FaultContext.netns_of``).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import sys
from dataclasses import dataclass, field
from typing import ClassVar

from chaos.faults import detached
from chaos.faults.base import FaultContext, FaultType, Handle, Implementation, RevertOutcome, check_ttl
from chaos.faults.errors import FaultError
from crashlab.faultkinds import (
    NetworkDelayParams,
    NetworkLossParams,
    NetworkParams,
    NetworkRateParams,
    Params,
)
from stack.capabilities import Capability

#: what the TTL remover's command line holds (so revert only kills our own timer)
_MARKER = "sleep"
#: what the delayer's command line holds
_DELAYER = "chaos.faults.nfq_delay"
NFT_TABLE = "crashlab_fault"
_NO_NETEM = "Specified qdisc kind is unknown"


def _netem_args(params: Params) -> list[str]:
    if isinstance(params, NetworkDelayParams):
        args = ["delay", f"{params.ms:g}ms"]
        if params.jitter_ms:
            args.append(f"{params.jitter_ms:g}ms")
        return args
    if isinstance(params, NetworkLossParams):
        return ["loss", f"{params.percent:g}%"]
    if isinstance(params, NetworkRateParams):
        return ["rate", f"{params.kbit}kbit"]
    raise FaultError(f"no netem arguments for {type(params).__name__}")


def _ns_inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def host_namespaces() -> set[int]:
    """The machine's own network namespace: ours and init's (when we may look at it)."""
    return {ino for ino in (_ns_inode("/proc/self/ns/net"), _ns_inode("/proc/1/ns/net")) if ino is not None}


def namespace_prefix(netns: str | None, pid: int | None) -> list[str]:
    """The command prefix that runs a command inside the target namespace, after checking that the
    namespace exists and is not the host's."""
    if netns:
        path = f"/run/netns/{netns}"
        if not os.path.exists(path):
            raise FaultError(f"network namespace {netns!r} does not exist ({path})")
        prefix = ["ip", "netns", "exec", netns]
    elif pid:
        path = f"/proc/{pid}/ns/net"
        if not os.path.exists(path):
            raise FaultError(f"process {pid} is gone: no network namespace to use")
        prefix = ["nsenter", "-t", str(pid), "-n"]
    else:
        raise FaultError("network faults need a target in its own network namespace (netns or pid)")
    inode = _ns_inode(path)
    if inode is None or inode in host_namespaces():
        raise FaultError(
            f"refusing netem: the target namespace {netns or pid!r} is the host's own network namespace"
        )
    return prefix


async def _run(argv: list[str], what: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace").strip()


def _iptables() -> str:
    # the legacy binary uses the xt NFQUEUE target directly (no nft queue support needed)
    return "iptables-legacy" if shutil.which("iptables-legacy") else "iptables"


@dataclass(frozen=True)
class Mechanism:
    """How one network fault is applied in a namespace and how it is seen and removed."""

    name: str  # netem | nfqueue | nft | tbf
    adds: list[list[str]]
    remove: list[str]
    show: list[str]
    #: ``show`` prints this while the fault is in place
    present: str
    #: a process to run in the namespace before the adds (the nfqueue delayer)
    helper: list[str] = field(default_factory=list)
    extra: dict[str, object] = field(default_factory=dict)


def _tc(dev: str, name: str, qdisc: list[str]) -> Mechanism:
    return Mechanism(
        name,
        adds=[["tc", "qdisc", "add", "dev", dev, "root", *qdisc]],
        remove=["tc", "qdisc", "del", "dev", dev, "root"],
        show=["tc", "qdisc", "show", "dev", dev],
        present=f"qdisc {name}",
    )


def _nfqueue(queue: int) -> Mechanism:
    rule = ["-t", "mangle", "{op}", "OUTPUT", "-j", "NFQUEUE", "--queue-num", str(queue), "--queue-bypass"]
    ipt = _iptables()
    return Mechanism(
        "nfqueue",
        adds=[[ipt, *(a.replace("{op}", "-A") for a in rule)]],
        remove=[ipt, *(a.replace("{op}", "-D") for a in rule)],
        show=[ipt, "-t", "mangle", "-S", "OUTPUT"],
        present=f"--queue-num {queue} ",
        extra={"queue": queue},
    )


def _nft() -> Mechanism:
    return Mechanism(
        "nft",
        adds=[],
        remove=["nft", "delete", "table", "inet", NFT_TABLE],
        show=["nft", "list", "table", "inet", NFT_TABLE],
        present=NFT_TABLE,
    )


def netem(params: Params, dev: str) -> Mechanism:
    return _tc(dev, "netem", ["netem", *_netem_args(params)])


def fallback(params: Params, dev: str, mtu: int, ttl_s: float) -> Mechanism:
    """What replaces netem on a kernel without it."""
    if isinstance(params, NetworkDelayParams):
        queue = 1000 + secrets.randbelow(60000)
        base = _nfqueue(queue)
        delayer = [sys.executable, "-m", _DELAYER, "--queue", str(queue), "--ms", f"{params.ms:g}",
                   "--jitter-ms", f"{params.jitter_ms:g}", "--ttl", f"{ttl_s:.3f}"]  # fmt: skip
        return Mechanism(base.name, base.adds, base.remove, base.show, base.present, delayer, base.extra)
    if isinstance(params, NetworkLossParams):
        chain = "{ type filter hook output priority 0 ; policy accept ; }"
        share = round(params.percent * 100)  # of 10,000
        # numgen draws 0..9999, so "lt 10000" is out of nft's range: every packet is simply dropped
        sample = ["numgen", "random", "mod", "10000", "lt", str(share)] if share < 10000 else []
        base = _nft()
        adds = [
            ["nft", "add", "table", "inet", NFT_TABLE],
            ["nft", "add", "chain", "inet", NFT_TABLE, "out", chain],
            ["nft", "add", "rule", "inet", NFT_TABLE, "out", *sample, "drop"],
        ]
        return Mechanism(base.name, adds, base.remove, base.show, base.present)
    if isinstance(params, NetworkRateParams):
        # tbf drops packets larger than its burst: lo's MTU is 64 kB
        burst = str(max(4096, 2 * mtu))
        return _tc(dev, "tbf", ["tbf", "rate", f"{params.kbit}kbit", "burst", burst, "latency", "400ms"])
    raise FaultError(f"no fallback for {type(params).__name__}")


def from_handle(handle: Handle) -> Mechanism:
    name, dev = str(handle.get("mechanism", "netem")), str(handle.get("dev", "lo"))
    if name == "nfqueue":
        return _nfqueue(int(handle["queue"]))
    if name == "nft":
        return _nft()
    return _tc(dev, name, [])


async def _queue_bound(prefix: list[str], queue: int, timeout_s: float = 5.0) -> bool:
    """Whether a process has bound nfnetlink queue ``queue`` in the namespace (polls)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        code, out = await _run([*prefix, "cat", "/proc/net/netfilter/nfnetlink_queue"], "queues")
        if code == 0 and any(line.split()[:1] == [str(queue)] for line in out.splitlines()):
            return True
        await asyncio.sleep(0.02)
    return False


async def _mtu(prefix: list[str], dev: str) -> int:
    code, out = await _run([*prefix, "cat", f"/sys/class/net/{dev}/mtu"], "mtu")
    return int(out) if code == 0 and out.isdigit() else 1500


@dataclass(frozen=True)
class NetemFault(Implementation):
    """netem (or what the kernel has instead) in the target's network namespace."""

    needs: ClassVar[frozenset[Capability]] = frozenset({Capability.NETNS})

    def target(self, params: Params) -> str:
        assert isinstance(params, NetworkParams)
        return params.netns or (f"pid:{params.pid}" if params.pid else params.service)

    async def inject(self, params: Params, ttl_s: float, ctx: FaultContext, *, label: str) -> Handle:
        assert isinstance(params, NetworkParams)
        netns = params.netns if params.netns or params.pid else ctx.netns_of(params.service)
        if not netns and not params.pid:
            raise FaultError(
                f"{self.name} ({label!r}): service {params.service!r} does not run in a network namespace "
                f"of its own in this stack ({ctx.runtime}); netem is never applied to the host's interfaces"
            )
        prefix = namespace_prefix(netns, params.pid)
        check_ttl(ttl_s)
        mech = netem(params, params.dev)
        try:
            timer, helper = await self._apply(mech, prefix, ttl_s, label)
        except FaultError as exc:
            if _NO_NETEM not in str(exc):
                raise
            mech = fallback(params, params.dev, await _mtu(prefix, params.dev), ttl_s)
            timer, helper = await self._apply(mech, prefix, ttl_s, label)
        return {
            "kind": "network",
            "mechanism": mech.name,
            "netns": netns,
            "pid": params.pid,
            "dev": params.dev,
            "timer_pid": timer,
            "helper_pid": helper,
            **mech.extra,
        }

    async def _apply(
        self, mech: Mechanism, prefix: list[str], ttl_s: float, label: str
    ) -> tuple[int, int | None]:
        """Arm the TTL remover first (the fault must never outlive its TTL), start the helper, add."""
        timer = detached.start_timer(ttl_s, [*prefix, *mech.remove])
        helper = None
        if mech.helper:
            helper = detached.spawn_detached([*prefix, *mech.helper])
            # until it has bound its queue, --queue-bypass would let packets by undelayed
            if not await _queue_bound(prefix, int(str(mech.extra["queue"]))):
                detached.cancel_timer(timer, _MARKER)
                detached.cancel_timer(helper, _DELAYER)
                raise FaultError(f"{self.name} ({label!r}): the packet delayer did not bind its queue in 5 s")
        for done, argv in enumerate(mech.adds):
            code, out = await _run([*prefix, *argv], self.name)
            if code != 0:
                detached.cancel_timer(timer, _MARKER)
                if helper is not None:
                    detached.cancel_timer(helper, _DELAYER)
                if done:  # undo a partial add (never a fault that was there before)
                    await _run([*prefix, *mech.remove], self.name)
                raise FaultError(f"{self.name} ({label!r}): `{' '.join([*prefix, *argv])}` failed: {out}")
        return timer, helper

    async def revert(self, handle: Handle, ctx: FaultContext) -> RevertOutcome:
        detached.cancel_timer(int(handle["timer_pid"]), _MARKER)
        if handle.get("helper_pid"):
            detached.cancel_timer(int(handle["helper_pid"]), _DELAYER)
        try:  # re-check: never touch the host's namespace, even from an edited journal
            prefix = namespace_prefix(handle.get("netns"), handle.get("pid"))
        except FaultError:
            return "gone"
        mech = from_handle(handle)
        code, out = await _run([*prefix, *mech.show], "show")
        if code != 0 and mech.name in ("netem", "tbf"):
            return "gone"
        if code != 0 or mech.present not in out + " ":
            return "expired"
        code, out = await _run([*prefix, *mech.remove], "remove")
        if code != 0:
            raise FaultError(f"{self.name}: removing {mech.name} in {' '.join(prefix)} failed: {out}")
        return "reverted"


FAULTS: list[FaultType] = [
    NetemFault("network.delay"),
    NetemFault("network.loss"),
    NetemFault("network.rate"),
]
