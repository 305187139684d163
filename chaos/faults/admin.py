"""A small client for the services' admin fault API (docs/contracts.md, "Admin API")."""

from __future__ import annotations

from typing import Any

import aiohttp

from chaos.faults.base import RevertOutcome
from chaos.faults.errors import FaultError

_TIMEOUT = aiohttp.ClientTimeout(total=5.0)


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def create_fault(
    base_url: str, token: str, type_: str, params: dict[str, Any], ttl_s: float, label: str
) -> dict[str, Any]:
    """POST /admin/faults; returns the service's ``Fault`` object."""
    body = {"type": type_, "params": params, "ttl_s": ttl_s, "name": label}
    url = f"{base_url}/admin/faults"
    try:
        async with (
            aiohttp.ClientSession(timeout=_TIMEOUT) as session,
            session.post(url, json=body, headers=_headers(token)) as resp,
        ):
            text = await resp.text()
            if resp.status != 201:
                raise FaultError(f"POST {url} ({type_}, {label!r}) answered {resp.status}: {text[:300]}")
            data: dict[str, Any] = await resp.json()
            return data
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise FaultError(f"POST {url} ({type_}, {label!r}) failed: {exc!r}") from exc


async def delete_fault(base_url: str, token: str, fault_id: str) -> RevertOutcome:
    """DELETE /admin/faults/{id}: ``reverted``; ``expired`` when the service no longer has it (its
    TTL ran out, or the process restarted); ``gone`` when the service does not answer at all."""
    url = f"{base_url}/admin/faults/{fault_id}"
    try:
        async with (
            aiohttp.ClientSession(timeout=_TIMEOUT) as session,
            session.delete(url, headers=_headers(token)) as resp,
        ):
            if resp.status == 200:
                return "reverted"
            if resp.status == 404:
                return "expired"
            raise FaultError(f"DELETE {url} answered {resp.status}: {(await resp.text())[:300]}")
    except aiohttp.ClientConnectionError:
        return "gone"
    except TimeoutError as exc:
        raise FaultError(f"DELETE {url} timed out") from exc


async def list_faults(base_url: str, token: str) -> list[dict[str, Any]]:
    url = f"{base_url}/admin/faults"
    try:
        async with (
            aiohttp.ClientSession(timeout=_TIMEOUT) as session,
            session.get(url, headers=_headers(token)) as resp,
        ):
            if resp.status != 200:
                raise FaultError(f"GET {url} answered {resp.status}: {(await resp.text())[:300]}")
            data = await resp.json()
            faults: list[dict[str, Any]] = data["faults"]
            return faults
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise FaultError(f"GET {url} failed: {exc!r}") from exc
