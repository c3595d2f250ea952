"""Keys, as the real host checks them once it is reachable from other machines.

`func start` serves everything anonymously on localhost, and devhost does the same by default.
In Azure the Durable webhooks need the system key and the admin API the master key, as `code=`
or `x-functions-key` (WebJobs.Script.WebHost's key authentication handler), and the internal
Durable RPC endpoint (`/durabletask/`, what `DurableOrchestrationClient` calls) is reachable
only from the machine itself. devhost refuses a non-loopback address without a key; with one it
requires it on the webhooks, the admin routes, the monitor and non-anonymous httpTrigger
functions (401 otherwise), and keeps `/durabletask/` and its own `/admin/devhost/` routes
loopback-only.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from devhost.startup import StartupError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

KEY_HEADER = "x-functions-key"
KEYED_PREFIXES = ("/runtime/webhooks/", "/admin/", "/monitor")
LOOPBACK_ONLY = ("/durabletask/", "/admin/devhost/")


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, key: str | None) -> None:
    """A listener other machines can reach needs a key (what Azure always has)."""
    if not is_loopback(host) and not key:
        raise StartupError(
            f"refusing to listen on {host} without a key: anyone who can reach it could start, "
            "terminate and purge orchestrations; set --key (or DEVHOST_KEY) and send it as "
            "?code= or x-functions-key, or listen on 127.0.0.1"
        )


def presented_key(request: web.Request) -> str:
    return request.query.get("code") or request.headers.get(KEY_HEADER) or ""


def key_matches(request: web.Request, key: str) -> bool:
    return hmac.compare_digest(presented_key(request).encode(), key.encode())


def key_middleware(key: str | None) -> Middleware:
    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path.startswith(LOOPBACK_ONLY):
            if not is_loopback(request.remote):
                return web.Response(status=403)
        elif key and path.startswith(KEYED_PREFIXES) and not key_matches(request, key):
            return web.Response(status=401)
        return await handler(request)

    return check


def require_key(key: str | None, handler: Handler) -> Handler:
    """Wrap an httpTrigger whose authLevel is not anonymous."""
    if not key:
        return handler

    async def checked(request: web.Request) -> web.StreamResponse:
        if not key_matches(request, key):
            return web.Response(status=401)
        return await handler(request)

    return checked
