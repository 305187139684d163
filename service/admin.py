"""The admin API (fault hooks) under ``/admin/``: bearer token, loopback peers, every fault with a TTL."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable

from aiohttp import web

from service.errors import ApiError
from service.faults import FaultError, FaultLimitError
from service.http import read_json
from service.keys import FAULTS, LOG, SETTINGS

AdminHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _is_loopback(remote: str | None) -> bool:
    if not remote:
        return False
    try:
        return ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


def _guard(handler: AdminHandler) -> AdminHandler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        settings = request.app[SETTINGS]
        if not settings.admin_allow_remote and not _is_loopback(request.remote):
            raise ApiError("ERR_FORBIDDEN")
        token = settings.admin_token
        # header bytes that are not UTF-8 arrive surrogate-escaped: compare the bytes as sent
        given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
        if not token or not hmac.compare_digest(given, f"Bearer {token}".encode()):
            raise ApiError("ERR_UNAUTHORIZED")
        return await handler(request)

    return guarded


async def list_faults(request: web.Request) -> web.Response:
    return web.json_response({"faults": [f.to_json() for f in request.app[FAULTS].all()]})


async def inject_fault(request: web.Request) -> web.Response:
    body = await read_json(request)
    try:
        fault = request.app[FAULTS].inject(body)
    except FaultLimitError as exc:
        raise ApiError("ERR_TOO_MANY_FAULTS", str(exc)) from None
    except FaultError as exc:
        raise ApiError("ERR_INVALID_FAULT", str(exc)) from None
    request.app[LOG].warning("fault injected", fault=fault.to_json())
    return web.json_response(fault.to_json(), status=201)


async def update_fault(request: web.Request) -> web.Response:
    body = await read_json(request)
    try:
        fault = request.app[FAULTS].update(request.match_info["fault_id"], body)
    except KeyError:
        raise ApiError("ERR_FAULT_NOT_FOUND") from None
    except FaultError as exc:
        raise ApiError("ERR_INVALID_FAULT", str(exc)) from None
    request.app[LOG].warning("fault updated", fault=fault.to_json())
    return web.json_response(fault.to_json())


async def revert_fault(request: web.Request) -> web.Response:
    try:
        fault = request.app[FAULTS].revert(request.match_info["fault_id"])
    except KeyError:
        raise ApiError("ERR_FAULT_NOT_FOUND") from None
    request.app[LOG].warning("fault reverted", fault=fault.to_json())
    return web.json_response(fault.to_json())


async def revert_all(request: web.Request) -> web.Response:
    faults = request.app[FAULTS].revert_all()
    if faults:
        request.app[LOG].warning("faults reverted", faults=[f.to_json() for f in faults])
    return web.json_response({"reverted": [f.to_json() for f in faults]})


def add_admin_routes(app: web.Application) -> None:
    app.router.add_get("/admin/faults", _guard(list_faults))
    app.router.add_post("/admin/faults", _guard(inject_fault))
    app.router.add_delete("/admin/faults", _guard(revert_all))
    app.router.add_put("/admin/faults/{fault_id}", _guard(update_fault))
    app.router.add_delete("/admin/faults/{fault_id}", _guard(revert_fault))
