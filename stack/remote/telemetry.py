"""Keep a remote drill's telemetry in its run directory: the series the verdict and the report read,
copied from the remote Prometheus over its HTTP API (raw samples) and written as a TSDB with
``promtool tsdb create-blocks-from openmetrics`` into ``runs/<id>/prometheus/data``. The reporter
replays that TSDB when the remote Prometheus no longer answers (a closed port-forward), as it does a
local run's (reports.sources.prometheus.ReplayPrometheus)."""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

from crashlab import binaries
from crashlab.errors import CrashlabError
from crashlab.prometheus import Prometheus, Series

#: the jobs whose process and ``up`` series the report reads
JOBS = ("game", "odds", "load", "runner", "supervisor", "observer")
#: a copy bigger than this is not made (a shared Prometheus with far more than the kit's series)
MAX_SAMPLES = 5_000_000
PROMTOOL_TIMEOUT_S = 120.0


def selectors() -> dict[str, str]:
    """What is copied: the kit's own series (services, supervisor, runner, players), the process and
    ``up`` series of its jobs, and the alerts (a few series, whoever's rules they are)."""
    jobs = "|".join(JOBS)
    return {
        "kit": '{__name__=~"rps_.+|odds_.+|crashlab_.+"}',
        "processes": f'{{__name__=~"process_.+|up",job=~"{jobs}"}}',
        "alerts": '{__name__=~"ALERTS|ALERTS_FOR_STATE"}',
    }


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return repr(value) if math.isfinite(value) else ("+Inf" if value > 0 else "-Inf" if value < 0 else "NaN")


def openmetrics(series: Iterable[Series]) -> Iterable[str]:
    """The series as OpenMetrics text, one family after another, each sample with its timestamp."""
    by_name: dict[str, list[Series]] = {}
    for s in series:
        by_name.setdefault(s.labels.get("__name__", ""), []).append(s)
    for name in sorted(n for n in by_name if n):
        yield f"# TYPE {name} unknown\n"
        for s in by_name[name]:
            labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(s.labels.items()) if k != "__name__")
            head = f"{name}{{{labels}}}" if labels else name
            for ts, value in s.points:
                yield f"{head} {_number(value)} {ts:.3f}\n"
    yield "# EOF\n"


def snapshot(prometheus_url: str, data_dir: Path, start: float, end: float) -> str:
    """Copy the series of :func:`selectors` in ``[start, end]`` (unix seconds) into a TSDB at
    ``data_dir``; returns what was kept (or why nothing was), for the journal. Never raises."""
    try:
        prom = Prometheus(prometheus_url, timeout_s=20.0)
        series = [s for selector in selectors().values() for s in prom.raw(selector, start, end)]
        samples = sum(len(s.points) for s in series)
        if not samples:
            return f"not copied: the remote Prometheus at {prometheus_url} holds no sample of the run"
        if samples > MAX_SAMPLES:
            return f"not copied: {samples} samples (over {MAX_SAMPLES}); it stays in {prometheus_url}"
        promtool = binaries.find("promtool")
        with tempfile.TemporaryDirectory(prefix="crashlab-remote-") as tmp:
            text = Path(tmp) / "series.om.txt"
            with text.open("w", encoding="utf-8") as fh:
                fh.writelines(openmetrics(series))
            blocks = Path(tmp) / "data"
            done = subprocess.run(
                [promtool, "tsdb", "create-blocks-from", "openmetrics", str(text), str(blocks)],
                capture_output=True,
                text=True,
                timeout=PROMTOOL_TIMEOUT_S,
                check=False,
            )
            if done.returncode != 0:
                why = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
                return f"not copied: promtool exited {done.returncode}: {why[0][:300]}"
            if data_dir.exists():
                shutil.rmtree(data_dir)
            data_dir.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(blocks, data_dir)
    except (CrashlabError, OSError, subprocess.SubprocessError) as exc:
        return f"not copied: {exc}"
    return f"{len(series)} series, {samples} samples copied from {prometheus_url} to {data_dir}"
