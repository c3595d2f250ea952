"""The host: loads the app, wires the durable engine, the blob trigger listener and the HTTP
server (Durable API + httpTrigger) to one FunctionRunner, and runs them until stopped."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from devhost.auth import check_bind, key_middleware
from devhost.bindings import BindingIO
from devhost.blobtrigger import BlobTriggerListener, target_from_binding
from devhost.config import HostConfig, load_config
from devhost.durabletask.azurestorage.names import PARTITIONS
from devhost.durabletask.azurestorage.partitions import SINGLE_OWNER_NOTE
from devhost.durabletask.engine import DurableEngine
from devhost.durabletask.model.state import Instance
from devhost.http_triggers import add_http_triggers
from devhost.invoker import Invoker
from devhost.loader import load_functions
from devhost.monitor.appview import app_view_from_settings
from devhost.runner import HostRunner, close_sdk_session
from devhost.startup import STORAGE_WAIT, check_port_free, wait_for_storage
from devhost.webhooks.routes import add_routes, client_binding_json
from devhost.workers import add_wake_route, run_worker, spawn_worker

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
    storage_wait: float = STORAGE_WAIT  # seconds to wait for storage at start
    key: str | None = None  # required on webhooks/admin when set; needed off loopback


class Host:
    """One app: its functions, engine and listener share one runner and one HTTP server."""

    def __init__(self, options: HostOptions):
        self.options = options
        self.config: HostConfig = load_config(options.app_dir, options.storage_connection_string)
        loaded = load_functions(options.app_dir, self.config.settings)
        self.functions = {f.name: f for f in loaded if not f.disabled}
        self.disabled = sorted(f.name for f in loaded if f.disabled)
        self.invoker = Invoker(self.functions, options.concurrency)
        check_bind(options.host, options.key)
        shown = options.host if options.host not in ("", "::") else "0.0.0.0"  # noqa: S104
        self.listen_url = f"http://{shown}:{options.port}"
        local = "127.0.0.1" if shown == "0.0.0.0" else options.host  # noqa: S104
        self.base_url = f"http://{local}:{options.port}"
        storage = self.config.settings.get("AzureWebJobsStorage")
        if not storage:
            raise SystemExit(
                "AzureWebJobsStorage is not set: local.settings.json or --storage-connection-string"
            )
        self.storage = storage
        self.runner = HostRunner(
            self.functions,
            self.invoker,
            client_binding_json(self.base_url, self.config.hub_name, code=options.key),
            BindingIO(self.config.settings, self.config.host_json),
        )
        # How the host's tools and its finish line describe an instance (the app's words).
        self.app_view = app_view_from_settings(self.config.settings)
        self.engine = DurableEngine(
            storage,
            self.config.hub_name,
            self.runner,
            poll_interval=options.poll_interval,
            activity_concurrency=options.concurrency,
            on_finished=self._finished,
        )
        self.listener: BlobTriggerListener | None = None
        targets = [
            target_from_binding(f.name, f.trigger.raw, self.config.settings)
            for f in self.functions.values()
            if f.trigger.type == "blobTrigger"
        ]
        if targets:
            self.listener = BlobTriggerListener(
                targets,
                self.runner.handle_blob,
                host_id=self.config.host_id,
                poll_interval=options.poll_interval,
                poison_threshold=self.config.poison_threshold,
                max_concurrency=options.concurrency,
            )

    def banner(self) -> str:
        lines = ["", "Functions:", ""]
        for spec in self.functions.values():
            lines.append(f"        {spec.describe()}")
        lines += [
            f"        {name}: disabled (AzureWebJobs.{name}.Disabled)" for name in self.disabled
        ]
        hub = self.config.hub_name
        lines += [
            "",
            f"Durable task hub: {hub}; HTTP on {self.listen_url} "
            f"(Durable API at {self.base_url}/runtime/webhooks/durabletask"
            + ("; key required" if self.options.key else "")
            + ")",
            "Not as in Azure: " + SINGLE_OWNER_NOTE.format(n=PARTITIONS, hub=hub),
        ]
        if self.app_view.app_describe is not None:
            lines.append(
                f"App view: {self.app_view.name} (outcomes: {', '.join(self.app_view.outcomes)})"
            )
        lines.append("")
        return "\n".join(lines)

    async def run_worker(self, stop: asyncio.Event) -> None:
        """An activity worker process (`devhost worker`), spawned by a host with --workers."""
        try:
            await run_worker(self.engine, self.base_url, stop)
        finally:
            await close_sdk_session()
            self.invoker.close()

    def _finished(self, inst: Instance) -> None:
        line = self.app_view.finish_line(
            inst.name, inst.instance_id, inst.status, inst.input, inst.output
        )
        log.info("%s", line)

    async def run(self, stop: asyncio.Event) -> None:
        app = web.Application(
            client_max_size=100 * 1024 * 1024, middlewares=[key_middleware(self.options.key)]
        )
        add_routes(app, self.engine, base_url=self.base_url, code=self.options.key)
        add_http_triggers(app, self.runner, self.options.key)
        add_wake_route(app, self.engine)
        check_port_free(self.options.host, self.options.port)
        await wait_for_storage(self.storage, self.options.storage_wait)
        from devhost.monitor.wiring import add_host_routes  # noqa: PLC0415 - issue 13

        add_host_routes(app, self)  # /monitor, / -> /monitor, /admin/functions, /admin/host
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        # Creates the task hub before the API can be called.
        await self.engine.start(activities=self.options.workers == 0)
        site = web.TCPSite(runner, self.options.host, self.options.port)
        await site.start()  # before the listener: blob-triggered functions call the API
        o = self.options
        workers = [
            spawn_worker(i, o.app_dir, o.port, o.concurrency, o.poll_interval, self.storage)
            for i in range(o.workers)
        ]
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
            await close_sdk_session()
            self.invoker.close()
