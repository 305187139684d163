"""The ``crashlab`` console script (and ``python -m crashlab``).

Loading the commands imports every area (a second or more on a busy machine). A Ctrl-C in that time
ends the command quietly, like one during a command does (``crashlab: interrupted``, exit 130), never
with a traceback of an import; once the commands are loaded, the default handler is back and each
command handles Ctrl-C itself (a drill reverts its faults, ``up`` stops what it started).
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

#: exit code of an interrupted command (as crashlab.cli.EXIT_INTERRUPTED)
INTERRUPTED = 130


def _interrupted_while_loading(signum: int, frame: FrameType | None) -> None:
    os.write(2, b"crashlab: interrupted\n")
    os._exit(INTERRUPTED)


def main() -> None:
    previous = signal.signal(signal.SIGINT, _interrupted_while_loading)
    from crashlab.cli import cli

    signal.signal(signal.SIGINT, previous)
    sys.exit(cli.main(standalone_mode=True))
