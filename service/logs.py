"""JSON logs: one object a line, to stdout and (when configured) a file.

Cheap on the hot path: one ``json.dumps`` of a small dict and a buffered write; a background task
flushes every 200 ms, and :meth:`JsonLog.flush` runs at shutdown and before a panic exit.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path
from typing import IO, Any

from opentelemetry import trace

_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}


def _now_iso() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


class JsonLog:
    def __init__(
        self, service: str, *, stream: IO[str] | None = None, path: Path | None = None, level: str = "info"
    ) -> None:
        self.service = service
        self.level = _LEVELS[level]
        self._streams: list[IO[str]] = [stream if stream is not None else sys.stdout]
        self._file: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8", buffering=1 << 16)
            self._streams.append(self._file)

    def log(self, level: str, msg: str, **fields: Any) -> None:
        if _LEVELS[level] < self.level:
            return
        record: dict[str, Any] = {"ts": _now_iso(), "level": level, "service": self.service, "msg": msg}
        if "trace_id" not in fields:
            ctx = trace.get_current_span().get_span_context()
            if ctx.is_valid:
                record["trace_id"] = format(ctx.trace_id, "032x")
                record["span_id"] = format(ctx.span_id, "016x")
        record.update(fields)
        line = json.dumps(record, default=str, separators=(",", ":")) + "\n"
        for stream in self._streams:
            with contextlib.suppress(OSError, ValueError):
                stream.write(line)

    def debug(self, msg: str, **fields: Any) -> None:
        self.log("debug", msg, **fields)

    def info(self, msg: str, **fields: Any) -> None:
        self.log("info", msg, **fields)

    def warning(self, msg: str, **fields: Any) -> None:
        self.log("warning", msg, **fields)

    def error(self, msg: str, **fields: Any) -> None:
        self.log("error", msg, **fields)

    def flush(self) -> None:
        for stream in self._streams:
            with contextlib.suppress(OSError, ValueError):
                stream.flush()

    def close(self) -> None:
        self.flush()
        if self._file is not None:
            self._file.close()
            self._streams.remove(self._file)
            self._file = None
