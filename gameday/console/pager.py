"""The pager: Alertmanager's webhook deliveries as ``team page`` records.

Alertmanager posts a group of alerts (``version`` "4": ``status``, ``receiver``, ``groupKey``,
``alerts[]`` with ``labels``, ``annotations``, ``startsAt``, ``fingerprint``...). Each alert is a page
identified by its fingerprint and ``startsAt`` (the same alert firing again later is a new page). A page
is journaled once when it fires and once when it resolves; Alertmanager's repeats of a notification
(``repeat_interval``, a retried delivery) are counted in the answer and journaled nowhere.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from crashlab.timeutil import iso, parse_iso
from gameday.console.http import ConsoleError

FINGERPRINT = re.compile(r"^[0-9a-f]{1,32}$")
#: alerts in one delivery (Alertmanager's groups here hold a few)
MAX_ALERTS = 200


class WebhookAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: str = "firing"
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: str = ""
    endsAt: str = ""
    generatorURL: str = ""
    fingerprint: str = ""


class WebhookMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: str = "4"
    status: str = "firing"
    receiver: str = ""
    groupKey: str = ""
    alerts: list[WebhookAlert] = Field(default_factory=list, max_length=MAX_ALERTS)


def _starts_at(alert: WebhookAlert, index: int) -> datetime:
    try:
        return parse_iso(alert.startsAt)
    except (ValueError, OverflowError):
        raise ConsoleError(400, "not an RFC 3339 time", f"alerts.{index}.startsAt") from None


def page_id(fingerprint: str, starts_at: datetime) -> str:
    """``<fingerprint>-<startsAt as 20261202T213000.123Z>``: URL-safe, readable, sortable per alert."""
    return f"{fingerprint}-{starts_at.strftime('%Y%m%dT%H%M%S')}.{starts_at.microsecond // 1000:03d}Z"


def page_records(message: WebhookMessage) -> list[dict[str, Any]]:
    """The ``team page`` record fields of every alert in ``message`` (checked; a 400 names the field)."""
    records = []
    for i, alert in enumerate(message.alerts):
        if alert.status not in ("firing", "resolved"):
            raise ConsoleError(400, "must be firing or resolved", f"alerts.{i}.status")
        fingerprint = alert.fingerprint.lower()
        if not fingerprint:
            # an older sender without fingerprints: the labels identify the alert
            canonical = "\x00".join(f"{k}\x01{v}" for k, v in sorted(alert.labels.items()))
            fingerprint = hashlib.sha256(canonical.encode()).hexdigest()[:16]
        if not FINGERPRINT.match(fingerprint):
            raise ConsoleError(400, "not an Alertmanager fingerprint (hex)", f"alerts.{i}.fingerprint")
        starts_at = _starts_at(alert, i)
        records.append(
            {
                "page_id": page_id(fingerprint, starts_at),
                "alert": alert.labels.get("alertname", ""),
                "severity": alert.labels.get("severity", ""),
                "status": alert.status,
                "labels": alert.labels,
                "annotations": alert.annotations,
                "starts_at": iso(starts_at),
                "receiver": message.receiver,
                "group_key": message.groupKey,
            }
        )
    return records
