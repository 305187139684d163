"""Is a URL the healthy part it is said to be? One HTTP GET each, with a short timeout; the answer
says which URL and what answered (never a traceback)."""

from __future__ import annotations

from typing import Any

import requests

#: what each part answers when healthy
HEALTH_PATHS = {"game": "/healthz", "odds": "/healthz", "prometheus": "/-/ready", "alertmanager": "/-/ready"}
TIMEOUT_S = 3.0
#: what only each monitoring part answers (both answer ``/-/ready``): its API path, a key of its JSON
#: answer and the name to say; a URL of the other part is caught here, not by the drill's probes
IDENTITY = {
    "prometheus": ("/api/v1/status/buildinfo", "data", "Prometheus"),
    "alertmanager": ("/api/v2/status", "cluster", "Alertmanager"),
}


def _get(url: str, token: str | None = None) -> requests.Response | str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        return requests.get(url, headers=headers, timeout=TIMEOUT_S, allow_redirects=False)
    except requests.ConnectionError as exc:
        reason = "connection refused" if "refused" in str(exc).lower() else "no connection"
        return f"{reason} ({type(exc).__name__})"
    except requests.Timeout:
        return f"no answer within {TIMEOUT_S:g} s"
    except requests.RequestException as exc:
        return f"failed: {type(exc).__name__}: {str(exc)[:200]}"


def _snippet(resp: requests.Response) -> str:
    text = resp.text.strip().replace("\n", " ")
    return f": {text[:160]}" if text else ""


def part_problem(part: str, base_url: str) -> str | None:
    """None when ``part`` answers healthy at ``base_url``, else what was wrong (naming the URL)."""
    url = base_url.rstrip("/") + HEALTH_PATHS.get(part, "/")
    resp = _get(url)
    if isinstance(resp, str):
        return f"{part} at {url}: {resp}"
    if resp.status_code != 200:
        return f"{part} at {url}: answered HTTP {resp.status_code}{_snippet(resp)}"
    if part in ("game", "odds"):
        try:
            body: Any = resp.json()
        except ValueError:
            return f"{part} at {url}: answered 200 but not the service's JSON{_snippet(resp)}"
        service = body.get("service") if isinstance(body, dict) else None
        if service != part:
            return (
                f"{part} at {url}: answered as {service!r}, not the {part} service"
                if service
                else f"{part} at {url}: answered 200 but not as a crashlab service{_snippet(resp)}"
            )
        if body.get("status") != "ok":
            return f"{part} at {url}: reports status {body.get('status')!r}"
    if part in IDENTITY:
        return _identity_problem(part, base_url.rstrip("/"))
    return None


def _identity_problem(part: str, base: str) -> str | None:
    """None when ``base`` answers the API only ``part`` has, else what answered instead."""
    path, key, name = IDENTITY[part]
    resp = _get(base + path)
    if isinstance(resp, str):
        return f"{part} at {base}: {path}: {resp}"
    try:
        body: Any = resp.json() if resp.status_code == 200 else None
    except ValueError:
        body = None
    if isinstance(body, dict) and key in body:
        return None
    return (
        f"{part} at {base}: answered, but not as {name} (GET {path}: HTTP {resp.status_code}"
        f"{_snippet(resp)}); is it the URL of another part?"
    )


def admin_problem(part: str, base_url: str, token: str, token_from: str) -> str | None:
    """None when the admin API of ``part`` takes the token, else why not."""
    url = base_url.rstrip("/") + "/admin/faults"
    resp = _get(url, token)
    if isinstance(resp, str):
        return f"{part} admin API at {url}: {resp}"
    if resp.status_code == 200:
        return None
    if resp.status_code == 401:
        return (
            f"{part} admin API at {url}: refused the token from {token_from} (HTTP 401): it is not the "
            "token the service runs with"
        )
    if resp.status_code == 403:
        return (
            f"{part} admin API at {url}: refused this peer (HTTP 403): it serves loopback peers only; "
            "reach it through a port-forward (docs/kubernetes.md) or run the service with "
            "--admin-allow-remote"
        )
    return f"{part} admin API at {url}: answered HTTP {resp.status_code}{_snippet(resp)}"
