"""Bounds on connections: the cap with eviction of idle ones, stalled request bodies, and
accept() errors; each logged at most once a minute (`LIMITER`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from devhost.guard.policy import LOG_EVERY, Policy

log = logging.getLogger("devhost.guard")


class LogLimiter:
    """At most one line per kind per LOG_EVERY seconds, then a count of what was dropped."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.last: dict[str, float] = {}
        self.dropped: dict[str, int] = {}

    def warn(self, kind: str, message: str, *args: Any) -> None:
        now = self.clock()
        if now - self.last.get(kind, -LOG_EVERY) < LOG_EVERY:
            self.dropped[kind] = self.dropped.get(kind, 0) + 1
            return
        dropped = self.dropped.pop(kind, 0)
        self.last[kind] = now
        suffix = f" ({dropped} more since the last such line)" if dropped else ""
        log.warning(message + suffix, *args)


LIMITER = LogLimiter()


class Connections:
    """Which connections are running a request, and the cap on how many may be open."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.busy: dict[RequestHandler, int] = {}

    def enter(self, proto: RequestHandler) -> None:
        self.busy[proto] = self.busy.get(proto, 0) + 1

    def leave(self, proto: RequestHandler) -> None:
        left = self.busy.get(proto, 1) - 1
        if left <= 0:
            self.busy.pop(proto, None)
        else:
            self.busy[proto] = left

    def accept(self, server: web.Server) -> asyncio.BaseProtocol:
        """The protocol factory: a new connection over the cap evicts the oldest idle one.
        Connections accepted in the same loop iteration are counted once they start, so the
        count may pass the cap by one accept batch (at most the listen backlog, 128)."""
        live = [c for c in server.connections if c.transport is not None]
        if len(live) >= self.policy.max_connections:
            victim = next((c for c in live if c not in self.busy), None)
            if victim is None:
                LIMITER.warn(
                    f"{self.policy.role}:refused",
                    "%s: %d connections open, all busy: refusing new ones (503)",
                    self.policy.role, len(live),
                )  # fmt: skip
                return _Refuse()
            LIMITER.warn(
                f"{self.policy.role}:evicted",
                "%s: %d connections open (cap %d): closing the oldest idle one",
                self.policy.role, len(live), self.policy.max_connections,
            )  # fmt: skip
            victim.force_close()
        return server()


class _Refuse(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(
            b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        )
        transport.close()


async def watch_body(request: web.Request, timeout: float) -> None:
    """Cut off a request whose body stops arriving (a slow-body connection is never idle)."""
    content = request.content
    loop = asyncio.get_running_loop()
    seen, since = content.total_bytes, loop.time()
    while not content.is_eof():
        await asyncio.sleep(min(1.0, timeout / 4))
        if content.total_bytes != seen:
            seen, since = content.total_bytes, loop.time()
        elif loop.time() - since >= timeout:
            LIMITER.warn("body-stalled", "request body stalled for %.0f s: connection closed",
                         timeout)  # fmt: skip
            request.protocol.force_close()
            return


def accept_errors(loop: asyncio.AbstractEventLoop) -> None:
    """asyncio logs every failed accept() (EMFILE) with a traceback: one line a minute."""
    if getattr(loop, "_devhost_accept_guard", False):
        return
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if "accept" in str(context.get("message", "")) and isinstance(exc, OSError):
            LIMITER.warn("accept", "accept() failed: %s; new connections wait", exc.strerror)
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
    loop._devhost_accept_guard = True  # type: ignore[attr-defined]
