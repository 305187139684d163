"""The ``dependency`` family: the third-party odds service misbehaves, through its admin API."""

from __future__ import annotations

from chaos.faults.admin_faults import admin_faults

FAULTS = admin_faults("dependency")
