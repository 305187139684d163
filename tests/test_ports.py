"""``free_port``: a loopback port that no outgoing connection can take before its user binds it."""

from __future__ import annotations

import socket

from crashlab.ports import LOOPBACK, ephemeral_range, free_port


def test_a_free_port_is_below_the_kernels_ephemeral_range() -> None:
    """The kernel hands ports of its ephemeral range to every outgoing connection (Locust's players,
    probes, scrapes): a port picked there and bound a moment later was seen taken in CI (a game-day
    console's restart found 'address already in use')."""
    low, _ = ephemeral_range()
    ports = {free_port() for _ in range(200)}
    assert all(port < low for port in ports), sorted(p for p in ports if p >= low)
    assert len(ports) > 150  # spread out, so two pickers seldom meet


def test_a_port_in_use_is_never_given() -> None:
    with socket.socket() as held:
        held.bind((LOOPBACK, free_port()))
        taken = held.getsockname()[1]
        assert all(free_port() != taken for _ in range(500))
