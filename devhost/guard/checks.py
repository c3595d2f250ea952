"""The per-request checks (Host, cross-site, monitor token, key) as one aiohttp middleware."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from devhost.auth import is_loopback, key_matches
from devhost.guard.limits import LIMITER, Connections, watch_body
from devhost.guard.policy import (
    MONITOR_PREFIX,
    POLICY_KEY,
    SAME_ORIGIN_SITES,
    STATE_CHANGING,
    TOKEN_PARAM,
    WILDCARDS,
    Policy,
)
from devhost.textsafe import escape

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _split_host(authority: str) -> str:
    """The host part of `host[:port]` / `[v6]:port`, lowercase, without a trailing dot."""
    authority = authority.strip().lower()
    if authority.startswith("["):
        return authority[1 : authority.find("]")] if "]" in authority else ""
    if authority.count(":") == 1:
        authority = authority.split(":", 1)[0]
    return authority.rstrip(".")


def host_allowed(name: str, policy: Policy) -> bool:
    if not name:
        return False
    if name == "localhost" or name.endswith(".localhost"):  # browsers resolve these locally
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return name in policy.allowed_hosts
    bound = policy.host.strip("[]").lower()
    if address.is_loopback or str(address) == bound:
        return True
    return bound in WILDCARDS and not policy.loopback_clients_only


def cross_site_refusal(request: web.Request, policy: Policy | None = None) -> str | None:
    """Why a state-changing request is refused as cross-site, or None when it is not."""
    policy = policy or request.app.get(POLICY_KEY) or Policy("devhost", "127.0.0.1", 0)
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site.lower() not in SAME_ORIGIN_SITES:
        return f"Sec-Fetch-Site: {site}"
    origin = request.headers.get("Origin")
    if origin is None:
        return None  # not a browser, or a browser on this origin (same-origin GETs omit it)
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "Origin is not an http(s) origin"
    if not host_allowed(_split_host(parts.netloc), policy):
        return "Origin is not an allowed host"
    host = request.headers.get("Host", "")
    if parts.netloc.lower() != host.lower() or parts.scheme != request.scheme:
        return "Origin is another site"
    return None


def _monitor_access(request: web.Request, policy: Policy) -> tuple[bool, bool]:
    """(allowed, set the cookie): the cookie, a token in a GET's query string, or the key."""
    token = policy.monitor_token
    assert token is not None
    cookie = request.cookies.get(cookie_name(policy))
    if cookie and hmac.compare_digest(cookie.encode(), token.value.encode()):
        return True, False
    offered = request.query.get(TOKEN_PARAM)
    if (
        request.method in ("GET", "HEAD")
        and offered
        and hmac.compare_digest(offered.encode(), token.value.encode())
    ):
        return True, True
    return bool(policy.key and key_matches(request, policy.key)), False


def cookie_name(policy: Policy) -> str:
    """Cookies are per host, not per port: two monitors on one machine keep their own."""
    return f"devhost-monitor-{policy.port}"


def _text(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message + "\n", headers={"Cache-Control": "no-store"})


def middleware(policy: Policy, connections: Connections) -> Any:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if policy.loopback_clients_only and not is_loopback(request.remote):
            return _text(403, "this endpoint is reachable from this machine only")
        host = request.headers.get("Host")
        if host is not None and not host_allowed(_split_host(host), policy):
            LIMITER.warn("host", "%s: refused a request for host %s (not allowed; add it with "
                         "--allow-host)", policy.role, escape(host)[:100])  # fmt: skip
            return _text(403, "Host not allowed (DNS rebinding guard): use 127.0.0.1, "
                         "localhost or a name given with --allow-host")  # fmt: skip
        if request.method in STATE_CHANGING and not path.startswith(policy.open_prefixes):
            why = cross_site_refusal(request, policy)
            if why is not None:
                return _text(403, f"cross-site request refused ({why})")
        set_cookie = False
        if policy.monitor_token is not None and (
            path == MONITOR_PREFIX or path.startswith(MONITOR_PREFIX + "/")
        ):
            allowed, set_cookie = _monitor_access(request, policy)
            if not allowed:
                return _text(401, "the monitor needs the URL with the token printed at start "
                             f"({MONITOR_PREFIX}?{TOKEN_PARAM}=...)")  # fmt: skip
        elif (
            policy.key
            and path.startswith(policy.keyed_prefixes)
            and path not in policy.anonymous_paths
            and not key_matches(request, policy.key)
        ):
            return web.Response(status=401)
        proto = request.protocol
        connections.enter(proto)
        watch = None
        if request.body_exists and not request.content.is_eof():
            watch = asyncio.create_task(watch_body(request, policy.idle_timeout))
        try:
            response = await handler(request)
        finally:
            connections.leave(proto)
            if watch is not None:
                watch.cancel()
        if set_cookie and policy.monitor_token is not None:
            response.set_cookie(cookie_name(policy), policy.monitor_token.value, httponly=True,
                                samesite="Strict", path="/")  # fmt: skip
        return response

    return guard
