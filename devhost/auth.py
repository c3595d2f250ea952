"""Keys, as the real host checks them once it is reachable from other machines.

`func start` serves everything anonymously on localhost, and devhost does the same by default.
In Azure the Durable webhooks need the system key and the admin API the master key, as `code=`
or `x-functions-key` (WebJobs.Script.WebHost's key authentication handler). devhost, given a
key, requires it on the webhooks, the admin routes and non-anonymous httpTrigger functions (401
otherwise); devhost/guard.py applies it, with the rest of what every listener enforces.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

KEY_HEADER = "x-functions-key"
KEYED_PREFIXES = ("/runtime/webhooks/", "/admin/")


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def presented_key(request: web.Request) -> str:
    return request.query.get("code") or request.headers.get(KEY_HEADER) or ""


def key_matches(request: web.Request, key: str) -> bool:
    return hmac.compare_digest(presented_key(request).encode(), key.encode())


def require_key(key: str | None, handler: Handler) -> Handler:
    """Wrap an httpTrigger whose authLevel is not anonymous."""
    if not key:
        return handler

    async def checked(request: web.Request) -> web.StreamResponse:
        if not key_matches(request, key):
            return web.Response(status=401)
        return await handler(request)

    return checked
