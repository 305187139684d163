"""Prometheus' file_sd targets of the Docker stack (``runs/<id>/prometheus/targets/``, mounted at
``/etc/prometheus/targets`` by compose; stack/docker/prometheus.yml reads ``*.json`` and
``alertmanagers/*.json``). One file per job, written atomically and readable by the container."""

from __future__ import annotations

import json
from pathlib import Path


def write_target(targets_dir: Path, job: str, address: str, run_id: str, metrics_path: str = "") -> None:
    """``job`` scraped at ``address`` (``host:port``), optionally on another path than ``/metrics``."""
    targets_dir.mkdir(parents=True, exist_ok=True)
    labels = {"job": job, "run_id": run_id}
    if metrics_path:
        labels["__metrics_path__"] = metrics_path
    tmp = targets_dir / f".{job}.json.tmp"
    tmp.write_text(json.dumps([{"targets": [address], "labels": labels}]) + "\n")
    tmp.chmod(0o644)
    tmp.replace(targets_dir / f"{job}.json")


def remove_target(targets_dir: Path, job: str) -> None:
    (targets_dir / f"{job}.json").unlink(missing_ok=True)


def write_alertmanagers(folder: Path, address: str) -> None:
    """Prometheus' file_sd of Alertmanagers (docker/prometheus.yml: targets/alertmanagers/*.json)."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    tmp = folder / ".alertmanager.json.tmp"
    tmp.write_text(json.dumps([{"targets": [address]}]) + "\n")
    tmp.chmod(0o644)
    tmp.replace(folder / "alertmanager.json")
