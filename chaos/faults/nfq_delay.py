"""A packet delayer for kernels without netem: ``python -m chaos.faults.nfq_delay --queue N --ms D
[--jitter-ms J] --ttl S``, run inside the target's network namespace next to an
``iptables -j NFQUEUE --queue-num N --queue-bypass`` rule. It receives each queued packet's metadata
over nfnetlink_queue (a raw netlink socket, no library) and accepts it ``D`` (+- ``J``) ms later. It
exits at its TTL; the rule's ``--queue-bypass`` then lets packets through undelayed.
"""

from __future__ import annotations

import argparse
import heapq
import os
import random
import select
import socket
import struct
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET = 0
NFQNL_MSG_VERDICT = 1
NFQNL_MSG_CONFIG = 2
NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NLM_F_REQUEST = 1
NLMSG_ERROR = 2
NF_ACCEPT = 1
_HDR = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, pid
_NFGEN = struct.Struct("=BBH")  # nfgenmsg: family, version, res_id (big-endian value)


def _attr(kind: int, payload: bytes) -> bytes:
    size = 4 + len(payload)
    return struct.pack("=HH", size, kind) + payload + b"\0" * ((4 - size % 4) % 4)


def _message(msg: int, queue: int, attrs: bytes, seq: int) -> bytes:
    body = _NFGEN.pack(socket.AF_UNSPEC, 0, socket.htons(queue)) + attrs
    kind = (NFNL_SUBSYS_QUEUE << 8) | msg
    return _HDR.pack(_HDR.size + len(body), kind, NLM_F_REQUEST, seq, 0) + body


def bind(sock: socket.socket, queue: int) -> None:
    cmd = _attr(NFQA_CFG_CMD, struct.pack("!BBH", NFQNL_CFG_CMD_BIND, 0, socket.AF_INET))
    sock.send(_message(NFQNL_MSG_CONFIG, queue, cmd, 1))
    params = _attr(NFQA_CFG_PARAMS, struct.pack("!IB", 0, NFQNL_COPY_META))
    sock.send(_message(NFQNL_MSG_CONFIG, queue, params, 2))


def verdict(sock: socket.socket, queue: int, packet_id: int) -> None:
    sock.send(
        _message(
            NFQNL_MSG_VERDICT, queue, _attr(NFQA_VERDICT_HDR, struct.pack("!II", NF_ACCEPT, packet_id)), 0
        )
    )


def packet_ids(data: bytes) -> list[int]:
    """The packet ids of every NFQNL_MSG_PACKET in a netlink datagram."""
    ids = []
    offset = 0
    while offset + _HDR.size <= len(data):
        length, kind, _flags, _seq, _pid = _HDR.unpack_from(data, offset)
        if length < _HDR.size:
            break
        if kind == NLMSG_ERROR:
            (code,) = struct.unpack_from("=i", data, offset + _HDR.size)
            if code != 0:
                raise OSError(-code, f"nfnetlink_queue: {os.strerror(-code)}")
        elif kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
            pos = offset + _HDR.size + _NFGEN.size
            end = offset + length
            while pos + 4 <= end:
                size, atype = struct.unpack_from("=HH", data, pos)
                if size < 4:
                    break
                if atype & 0x7FFF == NFQA_PACKET_HDR:
                    ids.append(struct.unpack_from("!I", data, pos + 4)[0])
                pos += (size + 3) & ~3
        offset += (length + 3) & ~3
    return ids


def run(queue: int, delay_s: float, jitter_s: float, ttl_s: float) -> None:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind((0, 0))
    bind(sock, queue)
    end = time.monotonic() + ttl_s
    pending: list[tuple[float, int]] = []
    while True:
        now = time.monotonic()
        while pending and pending[0][0] <= now:
            verdict(sock, queue, heapq.heappop(pending)[1])
        if now >= end:
            for _due, packet in pending:  # let the held packets go before leaving
                verdict(sock, queue, packet)
            return
        wait = min(end - now, pending[0][0] - now if pending else 0.5)
        ready, _, _ = select.select([sock], [], [], max(0.0, wait))
        if ready:
            data = sock.recv(1 << 16)
            for packet in packet_ids(data):
                due = time.monotonic() + max(0.0, delay_s + random.uniform(-jitter_s, jitter_s))
                heapq.heappush(pending, (due, packet))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queue", type=int, required=True)
    parser.add_argument("--ms", type=float, required=True)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--ttl", type=float, required=True)
    args = parser.parse_args()
    run(args.queue, args.ms / 1000, args.jitter_ms / 1000, args.ttl)


if __name__ == "__main__":
    main()
