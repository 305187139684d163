"""``python -m stack.local.serve game|odds [OPTIONS]``: the ``crashlab serve`` command, started
without loading the other areas' CLIs, so a service process depends only on ``service/``."""

from __future__ import annotations

import sys

from service.cli import serve


def main() -> None:
    serve.main(sys.argv[1:], prog_name="crashlab serve")


if __name__ == "__main__":
    main()
