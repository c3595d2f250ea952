"""Activity worker processes (`start --workers N`, like FUNCTIONS_WORKER_PROCESS_COUNT).

Workers run only the work-item queue; the main host keeps triggers, orchestrations and the
HTTP API. A worker that queues orchestrator work tells the host through a wake endpoint on the
host's loopback-only RPC listener, so the host polls that control queue at once instead of
after its back-off. A worker's command line holds no secret: the storage connection string
travels in its environment (AzureWebJobsStorage), where other users cannot read it.
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
    rpc_port: int,
    concurrency: int,
    poll_interval: float,
    storage_connection_string: str,
) -> subprocess.Popen[bytes]:
    """Same process group as the host: a SIGKILL of the group takes workers down too."""
    argv = [
        sys.executable, "-m", "devhost", "worker", "--app-dir", str(app_dir),
        "--port", str(port), "--rpc-port", str(rpc_port), "--concurrency", str(concurrency),
        "--poll-interval", str(poll_interval),
    ]  # fmt: skip
    # The app dir is the worker's cwd; it imports devhost from where this host did.
    devhost_root = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (devhost_root, os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "AzureWebJobsStorage": storage_connection_string, "PYTHONPATH": path}
    log.info("Starting activity worker %d", index + 1)
    return subprocess.Popen(argv, cwd=app_dir, env=env)


def add_wake_route(app: web.Application, engine: DurableEngine) -> None:
    """On the RPC listener (loopback only, behind the guard)."""

    async def wake(request: web.Request) -> web.Response:
        engine.wake(request.query.get("queue"))
        return web.Response(status=204)

    app.router.add_post(WAKE_PATH, wake)


async def run_worker(engine: DurableEngine, rpc_url: str, stop: asyncio.Event) -> None:
    """Activities only, until `stop` or until the parent host is gone (orphaned: exit)."""
    session = aiohttp.ClientSession()
    wake_url = f"{rpc_url}{WAKE_PATH}"

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
                async with asyncio.timeout(1.0):
                    await stop.wait()
    finally:
        await engine.stop()
        await session.close()
