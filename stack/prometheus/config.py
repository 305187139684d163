"""The Prometheus configuration of a stack, valid for Prometheus 2.42 (Debian) and 3.x.

Scrape targets come from ``file_sd_configs``: one JSON file per job in ``targets/`` (relative to the
config file), so adding or removing a target is writing or deleting a file; Prometheus rereads them
within a second. Every target carries the labels ``job`` and ``run_id``. Alertmanagers come the same
way from ``alertmanagers/*.json``. The external labels ``crashlab_runbooks`` / ``crashlab_grafana``
only feed the alerts' link annotations (stack/prometheus/generate.py); they are dropped from the
alerts sent to Alertmanager.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml

from stack.runtime import StackError

#: external labels the alerts' link annotations are built on (stack/prometheus/generate.py)
RUNBOOKS_LABEL = "crashlab_runbooks"
GRAFANA_LABEL = "crashlab_grafana"
LINK_LABELS = (RUNBOOKS_LABEL, GRAFANA_LABEL)
#: where the runbooks are, relative to the repository (the fallback of ``runbook_url``)
RUNBOOKS_PATH = "docs/runbooks"

HERE = Path(__file__).resolve().parent
RULES_DIR = HERE / "rules"
RUNBOOKS_DIR = HERE.parents[1] / "docs" / "runbooks"
AlertWindows = Literal["fast", "real"]
#: drills need short intervals so an alert can fire within seconds of the SLO breaking
SCRAPE_INTERVAL = "1s"
EVALUATION_INTERVAL = "1s"


def rules_dir(windows: AlertWindows) -> Path:
    """``rules/fast/`` holds the drill windows, ``rules/real/`` the SRE-book windows."""
    return RULES_DIR / windows


def rule_files(windows: AlertWindows) -> list[Path]:
    return sorted(rules_dir(windows).glob("*.yml"))


def prometheus_config(
    *,
    rule_globs: list[str],
    sd_globs: list[str],
    alertmanager_globs: list[str] | None = None,
    external_labels: dict[str, str] | None = None,
    scrape_interval: str = SCRAPE_INTERVAL,
    evaluation_interval: str = EVALUATION_INTERVAL,
) -> dict[str, Any]:
    """The config as a dict: only fields both 2.42 and 3.x read the same way."""
    global_: dict[str, Any] = {
        "scrape_interval": scrape_interval,
        "scrape_timeout": scrape_interval,
        "evaluation_interval": evaluation_interval,
    }
    if external_labels:
        global_["external_labels"] = external_labels
    config: dict[str, Any] = {"global": global_, "rule_files": rule_globs}
    if alertmanager_globs:
        config["alerting"] = alerting(alertmanager_globs)
    return config | {
        "scrape_configs": [
            {
                "job_name": "crashlab",
                # the file_sd labels set `job` per target; keep what the targets export
                "honor_labels": False,
                "file_sd_configs": [{"files": sd_globs, "refresh_interval": "1s"}],
            }
        ],
    }


def alerting(alertmanager_globs: list[str]) -> dict[str, Any]:
    """Alerts go to the Alertmanagers of ``alertmanager_globs`` (file_sd), without the link labels."""
    return {
        "alert_relabel_configs": [{"action": "labeldrop", "regex": "|".join(LINK_LABELS)}],
        "alertmanagers": [
            {
                "api_version": "v2",
                "file_sd_configs": [{"files": alertmanager_globs, "refresh_interval": "1s"}],
            }
        ],
    }


def runbooks_base(runbooks_url: str | None = None) -> str | None:
    """The runbooks' base URL: ``runbooks_url``, else the file URL of this checkout's docs/runbooks
    (None in an installation without them: ``runbook_url`` then names the repository path)."""
    base = runbooks_url or (RUNBOOKS_DIR.as_uri() if RUNBOOKS_DIR.is_dir() else None)
    return base.rstrip("/") if base else None


def link_labels(runbooks_url: str | None = None, grafana_url: str | None = None) -> dict[str, str]:
    """The external labels the alerts' ``runbook_url`` and ``graph_url`` are built on: the runbooks'
    base URL (:func:`runbooks_base`) and Grafana's URL (if any)."""
    labels = {}
    runbooks = runbooks_base(runbooks_url)
    if runbooks:
        labels[RUNBOOKS_LABEL] = runbooks
    if grafana_url:
        labels[GRAFANA_LABEL] = grafana_url.rstrip("/")
    return labels


def write_config(
    prom_dir: Path, windows: AlertWindows, *, alertmanagers: bool = False, runbooks_url: str | None = None
) -> Path:
    """Write ``prometheus.yml``, a copy of the rules (``rules/``) and an empty ``targets/`` into
    ``prom_dir`` (a run's ``prometheus/``), so the run keeps the exact rules it was evaluated with.
    ``alertmanagers``: send alerts to those of ``alertmanagers/*.json`` (:func:`write_alertmanager`)."""
    rules_copy = prom_dir / "rules"
    rules_copy.mkdir(parents=True, exist_ok=True)
    sources = rule_files(windows)
    if not sources:
        raise StackError(f"prometheus: no rule files in {rules_dir(windows)}; reinstall crashlab")
    for src in sources:
        shutil.copyfile(src, rules_copy / src.name)
    (prom_dir / "targets").mkdir(parents=True, exist_ok=True)
    (prom_dir / "data").mkdir(parents=True, exist_ok=True)
    if alertmanagers:
        (prom_dir / "alertmanagers").mkdir(parents=True, exist_ok=True)
    config = prometheus_config(
        rule_globs=["rules/*.yml"],
        sd_globs=["targets/*.json"],
        alertmanager_globs=["alertmanagers/*.json"] if alertmanagers else None,
        external_labels=link_labels(runbooks_url),
    )
    path = prom_dir / "prometheus.yml"
    path.write_text(
        "# generated by crashlab (stack/prometheus/config.py); rules copied from "
        f"stack/prometheus/{rules_dir(windows).relative_to(HERE)}\n"
        + yaml.safe_dump(config, sort_keys=False),
        encoding="utf-8",
    )
    return path


def target_entry(job: str, url: str, run_id: str) -> dict[str, Any]:
    """A file_sd entry for ``url`` (``http://host:port[/path]``; path defaults to ``/metrics``)."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if not parts.hostname or not parts.port:
        raise StackError(f"scrape target {job}: {url!r} is not http://host:port")
    labels = {"job": job, "run_id": run_id}
    if parts.path and parts.path not in ("", "/"):
        labels["__metrics_path__"] = parts.path
    if parts.scheme == "https":
        labels["__scheme__"] = "https"
    return {"targets": [f"{parts.hostname}:{parts.port}"], "labels": labels}


def write_target(prom_dir: Path, job: str, url: str, run_id: str) -> Path:
    """Atomically (re)write ``targets/<job>.json``."""
    targets = prom_dir / "targets"
    targets.mkdir(parents=True, exist_ok=True)
    path = targets / f"{job}.json"
    tmp = targets / f".{job}.json.tmp"
    tmp.write_text(json.dumps([target_entry(job, url, run_id)], indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def remove_target(prom_dir: Path, job: str) -> None:
    (prom_dir / "targets" / f"{job}.json").unlink(missing_ok=True)


def write_alertmanager(prom_dir: Path, url: str) -> Path:
    """Atomically (re)write ``alertmanagers/alertmanager.json``: Prometheus sends its alerts to ``url``."""
    parts = urlsplit(url)
    if not parts.hostname or not parts.port:
        raise StackError(f"alertmanager: {url!r} is not http://host:port")
    entry: dict[str, Any] = {"targets": [f"{parts.hostname}:{parts.port}"]}
    if parts.scheme == "https":
        entry["labels"] = {"__scheme__": "https"}
    folder = prom_dir / "alertmanagers"
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / ".alertmanager.json.tmp"
    tmp.write_text(json.dumps([entry], indent=2) + "\n", encoding="utf-8")
    path = folder / "alertmanager.json"
    tmp.replace(path)
    return path
