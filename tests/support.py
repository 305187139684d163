"""Small helpers shared by every area's tests. Area-specific fixtures live in tests/helpers_<area>.py."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(url: str, timeout_s: float = 15.0, status: int = 200) -> None:
    """Poll ``url`` until it answers ``status`` or raise after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1.0) as resp:
                if resp.status == status:
                    return
                last = resp.status
        except urllib.error.HTTPError as exc:
            last = exc.code
            exc.close()
        except OSError as exc:
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer {status} within {timeout_s}s (last: {last})")
