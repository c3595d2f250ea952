"""Core Tools parity: the host's admin routes a developer uses by hand.

- `POST /admin/functions/{name}` with `{"input": "..."}` runs a non-HTTP function once, like
  the host's AdminController: 202 Accepted and the invocation runs in the background; 404 for an
  unknown function. For a blobTrigger function `input` is a blob path `container/name`, which
  must lie in the trigger's container and match its path pattern (400 otherwise: the function
  would otherwise see a blob from elsewhere labelled with its own container); for an
  activityTrigger function it is the activity's JSON input.
- `GET /admin/host/status`: the host's `HostStatus` shape (`id`, `state`, `version`,
  `versionDetails`, `processUptime` in milliseconds).
- `GET`/`POST /admin/host/ping`: HostController.Ping, the health check deployment scripts
  (and the Durable team's smoke tests) call first: 200 with an empty body, not cached
  (`[ResponseCache(NoStore = true, Location = None)]`), and anonymous (the action has no
  `[Authorize]`), so the guard asks no key for it. The scale controller's `?checkHealth=1`
  load probe (HostPerformanceManager.TryHandleHealthPingAsync) has no meaning locally.

The host plugs in through `AdminBackend`; `HostAdminBackend` adapts devhost's Host.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from devhost.textsafe import escape

log = logging.getLogger("devhost")

VERSION = "4.0.0-devhost"
PING_PATH = "/admin/host/ping"
ANONYMOUS_ADMIN_PATHS = (PING_PATH,)  # HostController actions without [Authorize]
BACKEND_KEY: web.AppKey[AdminBackend] = web.AppKey("admin_backend")
_TASKS: set[asyncio.Task[None]] = set()


class UnsupportedTrigger(Exception):
    pass


class AdminBackend(Protocol):
    host_id: str
    started: float  # time.time() when the host process started

    def trigger_type(self, function_name: str) -> str | None: ...

    def check_input(self, function_name: str, input_text: str) -> str | None:
        """Why this input cannot be given to the function by hand, or None."""
        ...

    async def invoke_by_hand(self, function_name: str, input_text: str) -> None:
        """Run the function once with this trigger input; raise to report a failure."""
        ...


_IMPORTED = time.time()  # devhost imports this module while starting


def _process_start() -> float:
    """When this process started (Linux /proc), else when this module was imported."""
    try:
        stat = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        btime = [x for x in Path("/proc/stat").read_text().splitlines() if x.startswith("btime")]
        return float(btime[0].split()[1]) + int(stat[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return _IMPORTED


async def host_status(request: web.Request) -> web.Response:
    backend = request.app[BACKEND_KEY]
    return web.json_response(
        {
            "id": backend.host_id,
            "state": "Running",
            "version": VERSION,
            "versionDetails": "devhost: a local Functions host for Python v1 apps",
            "processUptime": int((time.time() - backend.started) * 1000),
        }
    )


async def ping(request: web.Request) -> web.Response:
    # ResponseCacheFilter with NoStore and Location.None writes both headers.
    return web.Response(
        status=200, headers={"Cache-Control": "no-store,no-cache", "Pragma": "no-cache"}
    )


async def invoke(request: web.Request) -> web.Response:
    # Cross-site requests never get here: devhost/guard.py refuses them for every listener.
    backend = request.app[BACKEND_KEY]
    name = request.match_info["name"]
    trigger = backend.trigger_type(name)
    if trigger is None:
        return web.Response(status=404)
    if trigger in ("httpTrigger", "orchestrationTrigger", "entityTrigger"):
        return web.json_response(
            {"error": f"{name} has a {trigger}: call it over HTTP or the Durable API"},
            status=400,
        )
    try:
        body = json.loads(await request.text() or "{}")
    except ValueError:
        return web.json_response({"error": 'body must be JSON: {"input": "..."}'}, status=400)
    value = body.get("input") if isinstance(body, dict) else None
    text = value if isinstance(value, str) else json.dumps(value)
    problem = backend.check_input(name, text)
    if problem is not None:
        return web.json_response({"error": problem}, status=400)

    async def run() -> None:
        try:
            await backend.invoke_by_hand(name, text)
        except Exception as exc:
            log.warning("Manual invocation of %s failed: %s", name, escape(exc))

    task = asyncio.create_task(run())
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)
    return web.Response(status=202)


def add_admin_routes(app: web.Application, backend: AdminBackend) -> None:
    app[BACKEND_KEY] = backend
    app.router.add_get("/admin/host/status", host_status)
    app.router.add_route("GET", PING_PATH, ping)
    app.router.add_post(PING_PATH, ping)
    app.router.add_post("/admin/functions/{name}", invoke)


class HostAdminBackend:
    """`AdminBackend` over devhost's Host: blob paths become a BlobTriggerEvent for the runner's
    `handle_blob`; activities go through its `run_activity`."""

    def __init__(self, host: Any) -> None:
        self.host = host
        self.runner = host.runner
        self.host_id = str(host.config.host_id)
        self.started = _process_start()

    def trigger_type(self, function_name: str) -> str | None:
        result = self.runner.trigger_type(function_name)
        return None if result is None else str(result)

    def check_input(self, function_name: str, input_text: str) -> str | None:
        if self.trigger_type(function_name) != "blobTrigger":
            return None
        from devhost.blobtrigger import parse_blob_path, target_from_binding  # noqa: PLC0415

        spec = self.host.functions[function_name]
        target = target_from_binding(spec.name, spec.trigger.raw, self.host.config.settings)
        path = f"{target.container}/{target.blob_pattern}"
        container, _, blob = input_text.strip("/").partition("/")
        if container != target.container or not blob:
            return f"{function_name} is triggered by blobs in '{target.container}': the input " \
                   f"must be a blob path '{target.container}/...' matching '{path}'"  # fmt: skip
        if parse_blob_path(path).match(blob) is None:
            return f"blob '{escape(blob)}' does not match {function_name}'s path '{path}'"
        return None

    async def invoke_by_hand(self, function_name: str, input_text: str) -> None:
        trigger = self.trigger_type(function_name)
        if trigger == "activityTrigger":
            await self.runner.run_activity(function_name, input_text)
        elif trigger == "blobTrigger":
            await self.runner.handle_blob(await self._blob_event(function_name, input_text))
        else:
            raise UnsupportedTrigger(f"{function_name}: {trigger} cannot be run by hand")

    async def _blob_event(self, function_name: str, path: str) -> Any:
        from azure.storage.blob.aio import BlobClient  # noqa: PLC0415

        from devhost.blobtrigger import (  # noqa: PLC0415
            blob_properties_dict,
            parse_blob_path,
            target_from_binding,
        )
        from devhost.contracts import BlobTriggerEvent  # noqa: PLC0415

        spec = self.host.functions[function_name]
        target = target_from_binding(spec.name, spec.trigger.raw, self.host.config.settings)
        problem = self.check_input(function_name, path)
        if problem is not None:
            raise ValueError(problem)
        container, _, blob = path.strip("/").partition("/")
        client = BlobClient.from_connection_string(target.connection_string, container, blob)
        async with client:
            downloader = await client.download_blob()
            content = await downloader.readall()
            props = downloader.properties
        return BlobTriggerEvent(
            target=target,
            blob_name=blob,
            uri=client.url,
            etag=str(props.etag),
            content=content,
            properties=blob_properties_dict(props),
            metadata=dict(props.metadata or {}),
            binding_data=parse_blob_path(f"{container}/{target.blob_pattern}").match(blob) or {},
        )
