"""Activity worker processes (`start --workers N`, like FUNCTIONS_WORKER_PROCESS_COUNT).

Workers run only the work-item queue; the main host keeps triggers, orchestrations and the
HTTP API. A worker that queues orchestrator work tells the host through a loopback-only wake
endpoint, so the host polls that control queue at once instead of after its back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
from pathlib import Path

import aiohttp
from aiohttp import web

from devhost.durabletask.engine import DurableEngine

log = logging.getLogger("devhost")

WAKE_PATH = "/admin/devhost/wake"


def spawn_worker(  # noqa: PLR0917
    index: int,
    app_dir: Path,
    port: int,
    concurrency: int,
    poll_interval: float,
    storage_connection_string: str,
) -> subprocess.Popen[bytes]:
    """Same process group as the host: a SIGKILL of the group takes workers down too."""
    argv = [
        sys.executable, "-m", "devhost", "worker", "--app-dir", str(app_dir),
        "--port", str(port), "--concurrency", str(concurrency),
        "--poll-interval", str(poll_interval),
        "--storage-connection-string", storage_connection_string,
    ]  # fmt: skip
    log.info("Starting activity worker %d", index + 1)
    return subprocess.Popen(argv, cwd=app_dir)


def add_wake_route(app: web.Application, engine: DurableEngine) -> None:
    async def wake(request: web.Request) -> web.Response:
        if request.remote not in ("127.0.0.1", "::1"):
            return web.Response(status=403)
        engine.wake(request.query.get("queue"))
        return web.Response(status=204)

    app.router.add_post(WAKE_PATH, wake)


async def run_worker(engine: DurableEngine, base_url: str, stop: asyncio.Event) -> None:
    """Activities only, until `stop` or until the parent host is gone (orphaned: exit)."""
    session = aiohttp.ClientSession()
    wake_url = f"{base_url}{WAKE_PATH}"

    async def remote_work(queue: str) -> None:
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            timeout = aiohttp.ClientTimeout(total=2)
            async with session.post(wake_url, params={"queue": queue}, timeout=timeout) as resp:
                await resp.read()

    engine.on_remote_work = remote_work
    await engine.start(orchestrations=False)
    parent = os.getppid()
    try:
        while not stop.is_set() and os.getppid() == parent:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
    finally:
        await engine.stop()
        await session.close()
