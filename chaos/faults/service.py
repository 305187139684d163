"""The ``service`` family: faults inside the game, through its admin API."""

from __future__ import annotations

from chaos.faults.admin_faults import admin_faults

FAULTS = admin_faults("service")
