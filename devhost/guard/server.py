"""A listener behind its policy: the middleware, aiohttp's keep-alive timer as the header and
idle timeout, and a site whose protocol factory enforces the connection cap."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from devhost.guard.checks import middleware
from devhost.guard.limits import Connections, accept_errors
from devhost.guard.policy import POLICY_KEY, Policy, check_bind


class _Site(web.TCPSite):
    """TCPSite whose protocol factory is `Connections.accept`."""

    def __init__(self, runner: web.AppRunner, policy: Policy, connections: Connections,
                 port: int):  # fmt: skip
        super().__init__(runner, policy.host or None, port, reuse_address=True)
        self.connections = connections

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert isinstance(server, web.Server)
        self._server = await loop.create_server(
            lambda: self.connections.accept(server),
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
        )
        if self._server.sockets:
            self._bound_port = self._server.sockets[0].getsockname()[1]


class GuardedServer:
    """One listener: `app` behind `policy`. `setup()` then `listen()`; `close()` at the end."""

    def __init__(self, app: web.Application, policy: Policy) -> None:
        check_bind(policy.host, policy.key, remedy=policy.key_remedy)
        self.app = app
        self.policy = policy
        self.connections = Connections(policy)
        app[POLICY_KEY] = policy
        app.middlewares.insert(0, middleware(policy, self.connections))
        self.runner = web.AppRunner(app, access_log=None, keepalive_timeout=policy.idle_timeout)
        self.site: _Site | None = None

    async def setup(self) -> None:
        await self.runner.setup()

    async def listen(self, port: int | None = None) -> int:
        """Start accepting on `port` (default: the policy's); returns the bound port (the one
        chosen for 0). OSError (EADDRINUSE) leaves the server ready for another try."""
        accept_errors(asyncio.get_running_loop())
        site = _Site(self.runner, self.policy, self.connections,
                     self.policy.port if port is None else port)  # fmt: skip
        try:
            await site.start()
        except OSError:
            await site.stop()
            raise
        self.site = site
        return site.port

    @property
    def port(self) -> int:
        return self.site.port if self.site is not None else self.policy.port

    async def close(self) -> None:
        with contextlib.suppress(RuntimeError):
            await self.runner.cleanup()
