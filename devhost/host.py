"""The host: loads the app, serves HTTP (Durable API + httpTrigger), runs the blob trigger
listener and the durable engine, and implements the FunctionRunner they call."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import azure.functions as func
from aiohttp import web
from azure.functions import meta

from devhost.blobtrigger import BlobTriggerListener, target_from_binding
from devhost.config import HostConfig, load_config
from devhost.contracts import BlobTriggerEvent, FunctionInvocationError
from devhost.durable.engine import DurableEngine
from devhost.durable.http_api import add_routes, client_binding_json
from devhost.invoker import Invoker
from devhost.loader import CLIENT_TYPES, FunctionSpec, load_functions

log = logging.getLogger("devhost")


@dataclass
class HostOptions:
    app_dir: Path
    host: str = "127.0.0.1"
    port: int = 7071
    storage_connection_string: str | None = None
    concurrency: int = 8
    poll_interval: float = 1.0
    workers: int = 0  # extra processes that run activities (FUNCTIONS_WORKER_PROCESS_COUNT - 1)


class Host:
    def __init__(self, options: HostOptions):
        self.options = options
        self.config: HostConfig = load_config(options.app_dir, options.storage_connection_string)
        self.functions = {
            f.name: f
            for f in load_functions(options.app_dir, self.config.settings)
            if not f.disabled
        }
        self.invoker = Invoker(self.functions, options.concurrency)
        local = "127.0.0.1" if options.host in ("0.0.0.0", "") else options.host  # noqa: S104
        self.base_url = f"http://{local}:{options.port}"
        storage = self.config.settings.get("AzureWebJobsStorage")
        if not storage:
            raise SystemExit(
                "AzureWebJobsStorage is not set: local.settings.json or --storage-connection-string"
            )
        self.engine = DurableEngine(
            storage,
            self.config.hub_name,
            self,
            poll_interval=options.poll_interval,
            activity_concurrency=options.concurrency,
        )
        self._client_json = client_binding_json(self.base_url, self.config.hub_name)
        self.listener: BlobTriggerListener | None = None
        targets = [
            target_from_binding(f.name, f.trigger.raw, self.config.settings)
            for f in self.functions.values()
            if f.trigger.type == "blobTrigger"
        ]
        if targets:
            self.listener = BlobTriggerListener(
                targets,
                self.handle_blob,
                host_id=self.config.host_id,
                poll_interval=options.poll_interval,
                poison_threshold=self.config.poison_threshold,
                max_concurrency=options.concurrency,
            )

    # --- FunctionRunner -----------------------------------------------------------------
    def trigger_type(self, function_name: str) -> str | None:
        spec = self.functions.get(function_name)
        return spec.trigger.type if spec else None

    def function_names(self) -> list[str]:
        return sorted(self.functions)

    def _common_inputs(self, spec: FunctionSpec) -> dict[str, meta.Datum]:
        return {
            b.name: meta.Datum(type="string", value=self._client_json)
            for b in spec.inputs
            if b.type in CLIENT_TYPES
        }

    async def run_orchestrator(self, function_name: str, context_json: str) -> str:
        spec = self._spec(function_name, "orchestrationTrigger")
        data = {spec.trigger.name: meta.Datum(type="string", value=context_json)}
        result = await self.invoker.invoke(function_name, data, {}, "OrchestratorEpisode")
        return str(self.invoker.encode_return(spec, result.value).value)

    async def run_activity(self, function_name: str, input_json: str | None) -> str:
        spec = self._spec(function_name, "activityTrigger")
        data = {
            spec.trigger.name: meta.Datum(type="json", value=input_json or "null"),
            **self._common_inputs(spec),
        }
        result = await self.invoker.invoke(function_name, data, {}, "ActivityTask")
        return str(self.invoker.encode_return(spec, result.value).value)

    async def run_entity(self, function_name: str, batch_json: str) -> str:
        raise FunctionInvocationError(
            function_name, "durable entities are not supported by devhost"
        )

    def _spec(self, name: str, trigger: str) -> FunctionSpec:
        spec = self.functions.get(name)
        if spec is None or spec.trigger.type != trigger:
            raise FunctionInvocationError(
                name,
                f"The function '{name}' doesn't exist, is disabled, "
                f"or is not an {trigger} function.",
            )
        return spec

    # --- blob trigger -------------------------------------------------------------------
    async def handle_blob(self, ev: BlobTriggerEvent) -> None:
        spec = self.functions[ev.target.function_name]
        full = f"{ev.target.container}/{ev.blob_name}"
        tm = {
            "BlobTrigger": meta.Datum(type="string", value=full),
            "Uri": meta.Datum(type="string", value=ev.uri),
            "Properties": meta.Datum(type="json", value=json.dumps(ev.properties)),
            "Metadata": meta.Datum(type="json", value=json.dumps(ev.metadata)),
            **{k: meta.Datum(type="string", value=v) for k, v in ev.binding_data.items()},
        }
        data = {
            spec.trigger.name: meta.Datum(type="bytes", value=ev.content),
            **self._common_inputs(spec),
        }
        await self.invoker.invoke(spec.name, data, tm, f"New blob detected: {full}")

    # --- HTTP ---------------------------------------------------------------------------
    def _http_routes(self, app: web.Application) -> None:
        for spec in self.functions.values():
            if spec.trigger.type != "httpTrigger":
                continue
            route = str(spec.trigger.raw.get("route") or spec.name)
            route = re.sub(r"\{(\w+)(:[^}?]*)?\??\}", r"{\1}", route).strip("/")
            methods = [m.upper() for m in spec.trigger.raw.get("methods") or ["GET", "POST"]]
            for m in methods:
                app.router.add_route(m, f"/api/{route}", self._http_handler(spec))

    def _http_handler(self, spec: FunctionSpec) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            body = await request.read()
            value = {
                "method": meta.Datum(type="string", value=request.method),
                "url": meta.Datum(type="string", value=str(request.url)),
                "headers": {
                    k.lower(): meta.Datum(type="string", value=v)
                    for k, v in request.headers.items()
                },
                "query": {k: meta.Datum(type="string", value=v) for k, v in request.query.items()},
                "params": {
                    k: meta.Datum(type="string", value=v) for k, v in request.match_info.items()
                },
                "body": meta.Datum(type="bytes", value=body),
            }
            data = {
                spec.trigger.name: meta.Datum(type="http", value=value),
                **self._common_inputs(spec),
            }
            try:
                result = await self.invoker.invoke(spec.name, data, {}, "HTTP request")
            except FunctionInvocationError:
                return web.Response(status=500)
            out = result.value
            http_out = next(
                (b for b in spec.bindings if b.type == "http" and b.direction == "out"), None
            )
            if http_out is not None and http_out.name != "$return":
                out = result.outputs.get(http_out.name)
            return _to_response(out)

        return handler

    # --- activity worker processes -------------------------------------------------------
    def _spawn_worker(self, index: int) -> subprocess.Popen[bytes]:
        """Same process group as the host: a SIGKILL of the group takes workers down too."""
        argv = [
            sys.executable, "-m", "devhost", "worker", "--app-dir", str(self.options.app_dir),
            "--port", str(self.options.port), "--concurrency", str(self.options.concurrency),
            "--poll-interval", str(self.options.poll_interval),
            "--storage-connection-string", self.config.settings["AzureWebJobsStorage"],
        ]  # fmt: skip
        log.info("Starting activity worker %d", index + 1)
        return subprocess.Popen(argv, cwd=self.options.app_dir)

    async def _wake(self, request: web.Request) -> web.Response:
        if request.remote not in ("127.0.0.1", "::1"):
            return web.Response(status=403)
        self.engine.wake(request.query.get("queue"))
        return web.Response(status=204)

    async def run_worker(self, stop: asyncio.Event) -> None:
        """Activities only: the main host runs triggers, orchestrations and the HTTP API."""
        session = aiohttp.ClientSession()
        wake_url = f"{self.base_url}/admin/devhost/wake"

        async def remote_work(queue: str) -> None:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.post(wake_url, params={"queue": queue}, timeout=2) as resp:
                    await resp.read()

        self.engine.on_remote_work = remote_work
        await self.engine.start(orchestrations=False)
        parent = os.getppid()
        try:
            while not stop.is_set() and os.getppid() == parent:  # orphaned: exit
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
        finally:
            await self.engine.stop()
            await session.close()
            await _close_sdk_session()
            self.invoker.close()

    # --- run ----------------------------------------------------------------------------
    def banner(self) -> str:
        lines = ["", "Functions:", ""]
        for spec in self.functions.values():
            lines.append(f"        {spec.describe()}")
        lines += [
            "",
            f"Durable task hub: {self.config.hub_name}; HTTP on {self.base_url} "
            f"(Durable API at {self.base_url}/runtime/webhooks/durabletask)",
            "",
        ]
        return "\n".join(lines)

    async def run(self, stop: asyncio.Event) -> None:
        app = web.Application(client_max_size=100 * 1024 * 1024)
        add_routes(app, self.engine)
        self._http_routes(app)
        app.router.add_post("/admin/devhost/wake", self._wake)
        from devhost.monitor.wiring import add_host_routes  # noqa: PLC0415 - issue 13

        add_host_routes(app, self)  # /monitor, / -> /monitor, /admin/functions, /admin/host
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        # Creates the task hub before the API can be called.
        await self.engine.start(activities=self.options.workers == 0)
        site = web.TCPSite(runner, self.options.host, self.options.port)
        await site.start()  # before the listener: blob-triggered functions call the API
        workers = [self._spawn_worker(i) for i in range(self.options.workers)]
        listener_task = asyncio.create_task(self.listener.run()) if self.listener else None
        print(self.banner(), flush=True)
        log.info("Host started")
        try:
            await stop.wait()
        finally:
            log.info("Stopping host")
            if self.listener is not None:
                await self.listener.stop()
            if listener_task is not None:
                listener_task.cancel()
            for proc in workers:
                proc.terminate()
            await self.engine.stop()
            await runner.cleanup()
            for proc in workers:
                await asyncio.to_thread(proc.wait, 10)
            await _close_sdk_session()
            self.invoker.close()


def _to_response(out: Any) -> web.Response:
    if isinstance(out, func.HttpResponse):
        headers = {k: v for k, v in out.headers.items() if k.lower() != "content-length"}
        if out.mimetype and "content-type" not in {k.lower() for k in headers}:
            ct = out.mimetype + (f"; charset={out.charset}" if out.charset else "")
            headers["Content-Type"] = ct
        return web.Response(status=out.status_code, body=out.get_body(), headers=headers)
    if out is None:
        return web.Response(status=204)
    if isinstance(out, bytes | str):
        return web.Response(status=200, body=out if isinstance(out, bytes) else out.encode())
    return web.json_response(out)


async def _close_sdk_session() -> None:
    """The Durable SDK keeps one shared aiohttp session per process; close it on shutdown."""
    try:
        from azure.durable_functions.models.utils import http_utils  # noqa: PLC0415
    except ImportError:
        return
    close = getattr(http_utils, "_close_session", None)
    if close is not None:
        await close()
