"""Prometheus alert transitions -> journal ``alert firing|resolved`` events, for both runtimes.

The local supervisor and the docker observer each poll Prometheus' ``/api/v1/alerts`` in their own
way (aiohttp, urllib); both hand the decoded body to one :class:`AlertJournal`, which keeps the
set of firing alerts and journals what started and stopped firing since the last poll.
"""

from __future__ import annotations

from typing import Any

from crashlab.journal import Journal

#: an alert's identity: its name and all its labels
AlertKey = tuple[str, tuple[tuple[str, str], ...]]


def alerts_url(prometheus_url: str) -> str:
    """Prometheus' alerts API under its base URL."""
    return prometheus_url.rstrip("/") + "/api/v1/alerts"


class AlertJournal:
    """Journals ``alert firing|resolved`` when an alert starts or stops firing between two polls."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.firing: dict[AlertKey, dict[str, str]] = {}

    def update(self, body: dict[str, Any]) -> None:
        """Take one ``/api/v1/alerts`` response body and journal the transitions since the last."""
        now: dict[AlertKey, dict[str, str]] = {}
        for alert in body.get("data", {}).get("alerts", []):
            if alert.get("state") == "firing":
                labels = {str(k): str(v) for k, v in alert.get("labels", {}).items()}
                now[(labels.get("alertname", ""), tuple(sorted(labels.items())))] = labels
        for key, labels in now.items():
            if key not in self.firing:
                self._write("firing", labels)
        for key, labels in self.firing.items():
            if key not in now:
                self._write("resolved", labels)
        self.firing = now

    def _write(self, event: str, labels: dict[str, str]) -> None:
        self.journal.write(
            "alert",
            event,
            alert=labels.get("alertname", ""),
            severity=labels.get("severity", ""),
            labels=labels,
        )
