"""Fuzzing the public endpoints and the admin API of real ``crashlab serve`` processes with arbitrary JSON,
bytes and headers: never a 5xx, never a traceback, never a counted panic, and an admin request that is
refused (4xx) leaves the faults exactly as they were."""

from __future__ import annotations

import json
import re
import socket
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers_service import TOKEN, ServiceProcess

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), database=None)
FAULT_TYPES = [
    "latency",
    "stall",
    "errors",
    "hang",
    "reset",
    "exception",
    "memory_leak",
    "cpu_burn",
    "loop_block",
]

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(["rock", "paper", "scissors", "win", "lose", "draw", "anonymous"]),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
#: small numbers only: a fault that happens to be valid must stay harmless until it is reverted
SMALL = st.one_of(st.integers(-3, 40), st.floats(-1, 40, allow_nan=False), st.none(), st.text(max_size=5))
PARAM_NAMES = ["ms", "jitter_ms", "rate", "status", "code", "where", "mb_per_s", "max_mb", "percent", "x"]
NEAR_FAULT = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from([*FAULT_TYPES, "Latency", "", "nope"]) | SCALARS,
        "params": st.dictionaries(st.sampled_from(PARAM_NAMES), SMALL, max_size=3) | JSON,
        "ttl_s": SMALL | st.sampled_from([0, -1, 3601, "10", 1e300]),
        "name": st.text(max_size=10) | SCALARS,
        "extra": SCALARS,
    },
)
#: faults the admin API accepts (harmless for the moment they live), to reach the accepting side too
VALID_FAULTS = st.sampled_from(
    [
        {"type": "latency", "params": {"ms": 5, "jitter_ms": 1}, "ttl_s": 5},
        {"type": "errors", "params": {"rate": 0.1, "status": 503}, "ttl_s": 5, "name": "e"},
        {"type": "cpu_burn", "params": {"percent": 5}, "ttl_s": 5},
        {"type": "memory_leak", "params": {"mb_per_s": 1, "max_mb": 2}, "ttl_s": 5},
        {"params": {"ms": 7}},
        {"params": {"ms": 3}, "ttl_s": 30},
    ]
)
BODIES = st.one_of(
    JSON.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.sampled_from([b"[" * 40 + b"]" * 40, b'{"a": NaN}', b"1e999", b'"\xff"', b"{" * 5000]),
)
CONTENT_TYPES = st.sampled_from(
    [b"application/json", b"text/plain", b"application/json; charset=latin-1", b""]
)
HEADER_VALUES = st.binary(max_size=30).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))


def http(
    url: str, method: str, path: bytes, body: bytes = b"", headers: dict[bytes, bytes] | None = None
) -> tuple[int | None, bytes]:
    """One request written byte for byte (no client-side checks); the answer's status and body (for
    aiohttp's own 400s, which refuse a request it cannot parse before the app sees it: ``b""``)."""
    host, port = url.removeprefix("http://").split(":")
    head = [method.encode() + b" " + path + b" HTTP/1.1", b"Host: x", b"Connection: close"]
    head += [name + b": " + value for name, value in (headers or {}).items()]
    head.append(b"Content-Length: " + str(len(body)).encode())
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"\r\n".join(head) + b"\r\n\r\n" + body)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    answer = b"".join(chunks)
    if not answer:
        return None, b""
    head_text, _, rest = answer.partition(b"\r\n\r\n")
    status = int(head_text.split(b" ", 2)[1])
    if status == 400 and b"application/json" not in head_text:
        return status, b""
    return status, rest


def _check(status: int | None, body: bytes, what: object) -> None:
    assert status is not None and status < 500, (status, body[:200], what)
    if status >= 400 and body:
        start, end = body.find(b"{"), body.rfind(b"}")
        error = json.loads(body[start : end + 1])
        assert set(error) == {"code", "kind", "message", "trace_id"}, error


def _no_traceback(*procs: ServiceProcess) -> None:
    for proc in procs:
        assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
        assert '"level":"error"' not in proc.stdout, [
            line for line in proc.stdout.splitlines() if '"level":"error"' in line
        ][:3]


def _metric(url: str, name: str) -> float:
    _, body = http(url, "GET", b"/metrics")
    return sum(
        float(m.group(1)) for m in re.finditer(rb"^" + name.encode() + rb"(?:\{[^}]*\})? (\S+)$", body, re.M)
    )


@pytest.fixture(params=["naive", "hardened"])
def services(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    odds = ServiceProcess("odds", "--profile", request.param, tmp=tmp_path)
    game = ServiceProcess("game", "--profile", request.param, "--odds-url", odds.url, tmp=tmp_path)
    try:
        yield game, odds
    finally:
        game.terminate()
        odds.terminate()


def test_public_endpoints_never_answer_5xx(services: tuple[ServiceProcess, ServiceProcess]) -> None:
    game, odds = services
    targets = [(game.url, b"/play"), (odds.url, b"/results")]

    @FUZZ
    @given(
        st.sampled_from(targets),
        BODIES,
        CONTENT_TYPES,
        st.dictionaries(
            st.sampled_from([b"X-Player-Id", b"X-Request-Deadline-Ms", b"traceparent", b"Accept"]),
            HEADER_VALUES,
            max_size=3,
        ),
    )
    def post(target: tuple[str, bytes], body: bytes, ctype: bytes, headers: dict[bytes, bytes]) -> None:
        url, path = target
        status, answer = http(url, "POST", path, body, {b"Content-Type": ctype, **headers})
        _check(status, answer, (path, body[:80], ctype, headers))

    @FUZZ
    @given(st.text(max_size=30), HEADER_VALUES)
    def get_odds(player: str, accept: bytes) -> None:
        path = b"/odds/" + urllib.parse.quote(player, safe="").encode()
        status, answer = http(odds.url, "GET", path, headers={b"Accept": accept})
        _check(status, answer, path)

    post()
    get_odds()
    assert _metric(game.url, "rps_panics_total") == 0
    _no_traceback(game, odds)


def test_admin_api_refuses_without_a_trace(services: tuple[ServiceProcess, ServiceProcess]) -> None:
    game, odds = services
    auth = {b"Authorization": b"Bearer " + TOKEN.encode(), b"Content-Type": b"application/json"}
    kept = {}
    for proc, type_ in ((game, "latency"), (odds, "latency")):
        status, body = http(
            proc.url,
            "POST",
            b"/admin/faults",
            json.dumps({"type": type_, "params": {"ms": 0}, "ttl_s": 600}).encode(),
            auth,
        )
        assert status == 201, body
        kept[proc.url] = json.loads(body)["id"]

    def faults(url: str) -> Any:
        status, body = http(url, "GET", b"/admin/faults", headers=auth)
        assert status == 200
        return json.loads(body)

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(
        st.sampled_from([game, odds]),
        st.sampled_from(["POST", "POST", "PUT", "PUT", "PUT-junk", "DELETE-junk"]),
        VALID_FAULTS | NEAR_FAULT | JSON | st.binary(max_size=60),
        st.sampled_from(
            [
                auth,
                auth,
                auth,
                {**auth, b"Authorization": b"Bearer wrong\xff"},
                {b"Content-Type": b"application/json"},
            ]
        ),
    )
    def admin(proc: ServiceProcess, op: str, payload: Any, headers: dict[bytes, bytes]) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        fault_id = kept[proc.url]
        path = {
            "POST": b"/admin/faults",
            "PUT": b"/admin/faults/" + fault_id.encode(),
            "PUT-junk": b"/admin/faults/nope",
            "DELETE-junk": b"/admin/faults/" + body[:20].hex().encode(),
        }[op]
        before = faults(proc.url)
        status, answer = http(proc.url, op.split("-")[0], path, body, headers)
        _check(status, answer, (op, body[:100]))
        assert status is not None
        seen.append((op, status))
        if status >= 400:
            assert faults(proc.url) == before, (op, body[:100], status)
        elif op == "POST":  # a valid fault: revert it at once, the next example starts from the same state
            created = json.loads(answer)["id"]
            assert http(proc.url, "DELETE", b"/admin/faults/" + created.encode(), headers=auth)[0] == 200

    seen: list[tuple[str, int]] = []
    admin()
    # the fuzz reached both sides: faults accepted (and reverted) and requests refused unchanged
    assert {op for op, status in seen if status < 300} >= {"POST", "PUT"}, sorted(set(seen))
    assert {status for _, status in seen} >= {400, 401, 404}, sorted(set(seen))
    assert _metric(game.url, "rps_panics_total") == 0
    _no_traceback(game, odds)
