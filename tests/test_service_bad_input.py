"""Anonymous input never pages anyone: every kind of bad request gets the 4xx of docs/contracts.md
(or, when the client hung up, no answer at all), never a 5xx, never a counted panic, in both profiles;
slow clients are cut off by the header and body deadlines."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from typing import Any

import aiohttp
import pytest

from tests.helpers_service import TOKEN, Running, metric, running

PROFILES = ["naive", "hardened"]


def _deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


async def raw_request(target: Running, data: bytes, *, hang_up: bool = False) -> tuple[int | None, bytes]:
    """Send ``data`` as is on a fresh connection; the answer's status and body (None when there was none).
    ``hang_up``: close the connection right after sending, without reading."""
    host, port = target.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(data)
        await writer.drain()
        if hang_up:
            return None, b""
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    if not answer:
        return None, b""
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def _post(path: str, body: bytes, *, ctype: bytes = b"application/json", extra: bytes = b"") -> bytes:
    return (
        b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Type: "
        + ctype
        + b"\r\n"
        + extra
        + b"Content-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
    ) + body


def _code(body: bytes) -> str:
    # a chunked answer: take the JSON between the chunk framing
    start, end = body.find(b"{"), body.rfind(b"}")
    return str(json.loads(body[start : end + 1])["code"])


async def _no_5xx_no_panic(s: aiohttp.ClientSession, game: Running, odds: Running) -> None:
    async with s.get(f"{game.url}/metrics") as r:
        text = await r.text()
    async with s.get(f"{odds.url}/metrics") as r:
        text += await r.text()
    fives = [
        line
        for line in text.splitlines()
        if line.startswith(("rps_http_requests_total{", "odds_http_requests_total{")) and 'status="5' in line
    ]
    assert fives == []
    assert await metric(s, game, "rps_panics_total") == 0


@pytest.mark.parametrize("profile", PROFILES)
async def test_bad_bodies_get_their_4xx_never_a_5xx_nor_a_panic(profile: str) -> None:
    async with (
        running("odds", profile) as odds,
        running("game", profile, odds_url=odds.url) as game,
        aiohttp.ClientSession() as s,
    ):
        gzipped = gzip.compress(b'{"player_choice": "rock"}')
        bomb = gzip.compress(b" " * (64 * 1024 * 1024))  # 64 MB of spaces in about 64 KB
        cases: list[tuple[Running, bytes, int, str]] = [
            (game, _post("/play", _deep(1000)), 400, "ERR_INVALID_JSON"),
            (odds, _post("/results", _deep(1000)), 400, "ERR_INVALID_JSON"),
            (game, _post("/play", _deep(33)), 400, "ERR_INVALID_JSON"),
            (game, _post("/play", _deep(32)), 400, "ERR_INVALID_BODY"),  # deep enough, but not the schema
            (game, _post("/play", b'{"player_choice": NaN}'), 400, "ERR_INVALID_JSON"),
            (game, _post("/play", b'{"player_choice": Infinity}'), 400, "ERR_INVALID_JSON"),
            (game, _post("/play", b'{"player_choice": 1e999}'), 400, "ERR_INVALID_JSON"),
            (game, _post("/play", b'{"player_choice": ' + b"9" * 5000 + b"}"), 400, "ERR_INVALID_JSON"),
            (game, _post("/play", b'{"player_choice": "\xff"}'), 400, "ERR_INVALID_JSON"),
            (
                game,
                _post("/play", b'{"player_choice": "rock"}', ctype=b"text/plain"),
                415,
                "ERR_UNSUPPORTED_MEDIA_TYPE",
            ),
            (
                game,
                _post("/play", gzipped, extra=b"Content-Encoding: gzip\r\n"),
                415,
                "ERR_UNSUPPORTED_MEDIA_TYPE",
            ),
            (
                game,
                _post("/play", b"hello", extra=b"Content-Encoding: gzip\r\n"),
                415,
                "ERR_UNSUPPORTED_MEDIA_TYPE",
            ),
            # never inflated: a decompression bomb costs what it weighs
            (
                odds,
                _post("/results", bomb, extra=b"Content-Encoding: gzip\r\n"),
                415,
                "ERR_UNSUPPORTED_MEDIA_TYPE",
            ),
            (game, _post("/play", b" " * 20000), 413, "ERR_BODY_TOO_LARGE"),
            (
                game,
                _post("/play", b'{"player_choice": "rock"}', extra=b"X-Player-Id: \xff\xfe\r\n"),
                400,
                "ERR_INVALID_PLAYER",
            ),
            (
                odds,
                _post("/admin/faults", b"{}", extra=b"Authorization: Bearer " + TOKEN.encode() + b"\xff\r\n"),
                401,
                "ERR_UNAUTHORIZED",
            ),
            (
                game,
                b"GET /admin/faults HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                b"Authorization: Bearer \xff\xfe\r\n\r\n",
                401,
                "ERR_UNAUTHORIZED",
            ),
        ]
        for target, data, status, code in cases:
            got, body = await raw_request(target, data)
            assert (got, _code(body)) == (status, code), data[:80]
        await _no_5xx_no_panic(s, game, odds)


@pytest.mark.parametrize("profile", PROFILES)
async def test_a_client_hanging_up_mid_body_gets_no_answer_and_pages_no_one(profile: str) -> None:
    async with (
        running("odds", profile) as odds,
        running("game", profile, odds_url=odds.url) as game,
        aiohttp.ClientSession() as s,
    ):
        head = _post("/play", b"").replace(b"Content-Length: 0", b"Content-Length: 100")
        for target, data in ((game, head + b'{"player'), (odds, head.replace(b"/play", b"/results") + b"{")):
            got, _ = await raw_request(target, data, hang_up=True)
            assert got is None

        async def counted() -> float:
            return await metric(s, game, "rps_http_requests_total", route="/play") + await metric(
                s, odds, "odds_http_requests_total", route="/results"
            )

        for _ in range(200):  # within 10 s
            if await counted() >= 2:
                break
            await asyncio.sleep(0.05)
        assert await counted() == 2
        await _no_5xx_no_panic(s, game, odds)


async def test_a_panic_counter_exists_at_zero_before_the_first_panic() -> None:
    """So that Prometheus' increase() sees 0 -> 1 and PanicRate fires on the first panic."""
    async with running("game", "hardened") as game, aiohttp.ClientSession() as s:
        async with s.get(f"{game.url}/metrics") as r:
            text = await r.text()
        assert 'rps_panics_total{where="handler"} 0.0' in text
        assert 'rps_panics_total{where="background"} 0.0' in text


async def _closed_after(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, trickle: bytes) -> float:
    """Trickle ``trickle`` one byte every 0.2 s until the server closes; seconds until it did."""
    start = time.monotonic()
    for byte in trickle:
        try:
            writer.write(bytes([byte]))
            await writer.drain()
        except ConnectionError:
            break
        try:
            got = await asyncio.wait_for(reader.read(65536), 0.2)
        except TimeoutError:
            continue
        if not got:
            break
        # an answer: read it all, the server closes after it
        while got:
            got = await asyncio.wait_for(reader.read(65536), 5)
        break
    return time.monotonic() - start


@pytest.mark.parametrize("profile", PROFILES)
async def test_slow_headers_and_slow_bodies_are_cut_off(profile: str) -> None:
    settings: dict[str, Any] = {"header_timeout_s": 1.0, "body_timeout_s": 1.0}
    async with running("game", profile, settings=settings) as game, aiohttp.ClientSession() as s:
        host, port = game.url.removeprefix("http://").split(":")
        # slowloris: headers that never end
        reader, writer = await asyncio.open_connection(host, int(port))
        took = await _closed_after(reader, writer, b"POST /play HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200)
        writer.close()
        assert 0.9 <= took < 5, took
        # a body that never ends: 408, then the connection is closed
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(_post("/play", b"").replace(b"Content-Length: 0", b"Content-Length: 1000"))
        took = await _closed_after(reader, writer, b'{"player_choice": "' + b"r" * 200)
        writer.close()
        assert 0.9 <= took < 5, took
        assert await metric(s, game, "rps_http_requests_total", status="408", code="ERR_BODY_TIMEOUT") == 1
        assert await metric(s, game, "rps_panics_total") == 0
