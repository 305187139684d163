"""PromQL syntax check with Prometheus's own parser (``promtool check rules``), so a typo in a probe or
guardrail is found before the drill runs rather than mid-drill. Skipped when ``promtool`` is not installed
(``make setup`` installs it with Prometheus)."""

from __future__ import annotations

import functools
import re
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import yaml

from crashlab import binaries

_LINE = re.compile(r'group "e(\d+)", rule \d+, "[^"]*": (.+)$')


def promtool() -> str | None:
    return binaries.which("promtool")


def promql_errors(expressions: Sequence[str], tool: str | None = None) -> dict[int, str]:
    """``{index: parser message}`` for every expression Prometheus cannot parse (empty without promtool)."""
    tool = tool or promtool()
    if not expressions or tool is None:
        return {}
    return dict(_check(tuple(expressions), tool))


@functools.lru_cache(maxsize=256)
def _check(expressions: tuple[str, ...], tool: str) -> tuple[tuple[int, str], ...]:
    groups = [
        {"name": f"e{i}", "rules": [{"record": "crashlab_check", "expr": e}]}
        for i, e in enumerate(expressions)
    ]
    with tempfile.TemporaryDirectory(prefix="crashlab-promql-") as tmp:
        rules = Path(tmp) / "rules.yml"
        rules.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False), encoding="utf-8")
        try:
            result = subprocess.run(
                [tool, "check", "rules", str(rules)], capture_output=True, text=True, timeout=20, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return ()
    errors: dict[int, str] = {}
    for line in (result.stdout + result.stderr).splitlines():
        match = _LINE.search(line)
        if match:
            errors.setdefault(int(match[1]), match[2].strip())
    return tuple(errors.items())
