"""Server-sent events (``aiohttp-sse``): each console page follows the game day live.

A stream starts with a ``state`` event (the whole view); then, for every batch of journal records that
changed the game day, one event per record the audience may see (``event: <type>.<event>``, ``data``:
the record as JSON) and a fresh ``state``. The facilitator's streams also get ``sli`` events. A stream
whose client does not keep up (its queue full) is closed; the browser's ``EventSource`` reconnects and
starts again from a fresh ``state``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web
from aiohttp_sse import sse_response

from gameday.console.http import ConsoleError

Audience = Literal["team", "facilitator"]
#: messages a stream may have waiting before it is closed as too slow
QUEUE_MESSAGES = 512
#: a comment line every so often keeps proxies and browsers from closing an idle stream
PING_INTERVAL_S = 15.0
#: how often a stream waiting for news checks that its client is still there
CHECK_INTERVAL_S = 5.0
Message = tuple[str, str]


@dataclass(eq=False)
class Stream:
    audience: Audience
    who: str
    queue: asyncio.Queue[Message | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_MESSAGES))

    def offer(self, messages: list[Message]) -> None:
        try:
            for message in messages:
                self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.close()

    def close(self) -> None:
        # make room for the end marker: the stream ends at once, whatever is still queued
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)


class Streams:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: set[Stream] = set()

    def __len__(self) -> int:
        return len(self._open)

    def of(self, audience: Audience) -> list[Stream]:
        return [s for s in self._open if s.audience == audience]

    @contextlib.contextmanager
    def open(self, audience: Audience, who: str) -> Iterator[Stream]:
        if len(self._open) >= self.limit:
            raise ConsoleError(429, f"too many open event streams (at most {self.limit})")
        stream = Stream(audience, who)
        self._open.add(stream)
        try:
            yield stream
        finally:
            self._open.discard(stream)

    def broadcast(self, audience: Audience, messages: list[Message]) -> None:
        for stream in self.of(audience):
            stream.offer(messages)

    def close_all(self) -> None:
        for stream in list(self._open):
            stream.close()


async def serve_stream(
    request: web.Request, streams: Streams, audience: Audience, who: str, first: str
) -> web.StreamResponse:
    """Stream to one client: ``first`` (its ``state``), then whatever is broadcast to ``audience``."""
    with streams.open(audience, who) as stream:
        async with sse_response(request, ping_interval=PING_INTERVAL_S) as response:
            try:
                await response.send(first, event="state")
                while response.is_connected():
                    try:
                        # wake up now and then: a client that went away is noticed by the pings
                        message = await asyncio.wait_for(stream.queue.get(), CHECK_INTERVAL_S)
                    except TimeoutError:
                        continue
                    if message is None:
                        break
                    event, data = message
                    await response.send(data, event=event)
            except (ConnectionResetError, TimeoutError):
                # the client went away (aiohttp's ClientConnectionResetError) or stalled past the send
                # timeout (aiohttp-sse aborted the connection): nothing to answer
                pass
        return response
