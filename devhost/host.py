"""The host: loads the app, wires the durable engine, the blob trigger listener and two HTTP
listeners to one FunctionRunner, and runs them until stopped.

- The public listener (`--host`/`--port`): the Durable webhooks, httpTrigger functions, the
  admin routes and the monitor, as the Functions host serves them.
- The RPC listener, on 127.0.0.1 only: `/durabletask/...`, what DurableOrchestrationClient calls
  (the binding's `rpcBaseUrl`), and the activity workers' wake route. The extension keeps this
  endpoint off the public port the same way (LocalHttpListener: 127.0.0.1:17071, else a random
  port in 30000-31000, ten attempts), so neither a port-forward of the public port nor its key
  reaches an unkeyed API.

Both go through devhost/guard.py.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import random
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from devhost import hostsettings, loglevels
from devhost.admin import ANONYMOUS_ADMIN_PATHS
from devhost.auth import KEYED_PREFIXES
from devhost.bindings import BindingIO
from devhost.blobtrigger import BlobTriggerListener, target_from_binding
from devhost.config import HostConfig, load_config
from devhost.durabletask.azurestorage.partitions import SINGLE_OWNER_NOTE
from devhost.durabletask.engine import DurableEngine
from devhost.durabletask.model.history import utcnow
from devhost.extensions import proxies_notice
from devhost.guard import GuardedServer, MonitorToken, Policy, check_bind, configured_hosts
from devhost.http_triggers import add_http_triggers
from devhost.invoker import Invoker
from devhost.loader import FunctionSpec, load_functions
from devhost.monitor.appview import AppView, app_view_from_settings
from devhost.retention import Retention, announcement, resolve_retention
from devhost.runner import HostRunner, close_sdk_session
from devhost.startup import STORAGE_WAIT, StartupError, check_port_free, wait_for_storage
from devhost.timeouts import function_timeouts
from devhost.webhooks.routes import (
    DEFAULT_MAX_BODY,
    RPC_PREFIX,
    WEBHOOK_PREFIX,
    add_routes,
    client_binding_json,
)
from devhost.worker_settings import (
    process_count_note,
    threadpool_max_workers,
    worker_process_count,
)
from devhost.workers import add_wake_route, run_worker, spawn_worker

log = logging.getLogger("devhost")

KEY_REMEDY = "set DEVHOST_KEY or --key-file FILE and send it as ?code= or x-functions-key"
RPC_HOST = "127.0.0.1"
RPC_DEFAULT_PORT = 17071  # LocalHttpListener.DefaultPort
RPC_RANDOM_PORTS = (30000, 31000)  # LocalHttpListener.MinPort / MaxPort
RPC_ATTEMPTS = 10


@dataclass
class HostOptions:
    app_dir: Path
    host: str = "127.0.0.1"
    port: int = 7071
    storage_connection_string: str | None = None
    concurrency: int = 8
    poll_interval: float = 1.0
    # extra processes that run activities; None: FUNCTIONS_WORKER_PROCESS_COUNT - 1
    workers: int | None = None
    storage_wait: float = STORAGE_WAIT  # seconds to wait for storage at start
    key: str | None = None  # required on webhooks/admin when set; needed off loopback
    rpc_port: int | None = None  # None: 17071, else a random free one, as the extension does
    allowed_hosts: tuple[str, ...] = field(default_factory=tuple)  # --allow-host names
    retain_completed: str | None = None  # --retain-completed (None: the app setting)


def blob_listener(
    functions: dict[str, FunctionSpec],
    config: HostConfig,
    runner: HostRunner,
    o: HostOptions,
    view: AppView,
) -> BlobTriggerListener | None:
    """One listener for every blobTrigger function, or none when the app has none."""
    targets = [
        target_from_binding(f.name, f.trigger.raw, config.settings)
        for f in functions.values()
        if f.trigger.type == "blobTrigger"
    ]
    if not targets:
        return None
    return BlobTriggerListener(
        targets,
        runner.handle_blob,
        host_id=config.host_id,
        poll_interval=o.poll_interval,
        poison_threshold=config.poison_threshold,
        max_concurrency=hostsettings.blob_parallelism(config.host_json),
        skip_reason=view.skip_reason if view.app_skipped else None,
    )


class Host:
    """One app: its functions, engine and listener share one runner and one HTTP server."""

    def __init__(self, options: HostOptions):
        self.options = options
        self.config: HostConfig = load_config(options.app_dir, options.storage_connection_string)
        self.retain = resolve_retention(options.retain_completed, self.config.settings)
        loaded = load_functions(options.app_dir, self.config.settings)
        loaded = hostsettings.apply_allow_list(loaded, self.config.host_json, log)
        self.functions = {f.name: f for f in loaded if not f.disabled}
        self.route_prefix = hostsettings.route_prefix(self.config.host_json)
        loglevels.install(hostsettings.log_levels(self.config.host_json))
        self.disabled = sorted(f.name for f in loaded if f.disabled)
        settings = self.config.settings
        self.timeouts = function_timeouts(self.config.host_json, settings)
        self.invoker = Invoker(
            self.functions, threadpool_max_workers(settings), timeouts=self.timeouts
        )
        self.process_count = worker_process_count(settings)
        self.workers = self.process_count - 1 if options.workers is None else options.workers
        notice = proxies_notice(options.app_dir, self.config.settings)
        if notice:
            log.warning("%s", notice)
        check_bind(options.host, options.key, remedy=KEY_REMEDY)
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
        self.rpc_port = options.rpc_port
        self.runner = HostRunner(
            self.functions,
            self.invoker,
            self._client_json(),
            BindingIO(self.config.settings, self.config.host_json),
        )
        # How the host's tools and its finish line describe an instance (the app's words).
        self.app_view = app_view_from_settings(self.config.settings)
        self.monitor_token = MonitorToken.for_this_run()
        self.durable = self.config.durable or hostsettings.durable_settings(self.config.host_json)
        self.engine = DurableEngine(
            storage,
            self.config.hub_name,
            self.runner,
            **self.durable.engine_options(options.poll_interval),
            on_finished=self.app_view.finish_hook(log),
        )
        self.listener = blob_listener(
            self.functions, self.config, self.runner, options, self.app_view
        )

    @property
    def rpc_url(self) -> str:
        """The RPC listener's origin (its port is known once it listens, or given)."""
        return f"http://{RPC_HOST}:{self.rpc_port or RPC_DEFAULT_PORT}"

    def _client_json(self) -> str:
        return client_binding_json(
            self.base_url,
            self.config.hub_name,
            code=self.options.key,
            rpc_base_url=f"{self.rpc_url}{RPC_PREFIX}/",
        )

    def banner(self) -> str:
        return banner(self)

    async def run_worker(self, stop: asyncio.Event) -> None:
        """An activity worker process (`devhost worker`), spawned by a host with --workers."""
        try:
            await run_worker(self.engine, self.rpc_url, stop)
        finally:
            await close_sdk_session()
            self.invoker.close()

    def _public_app(self) -> web.Application:
        app = web.Application(client_max_size=DEFAULT_MAX_BODY)
        add_routes(app, self.engine, base_url=self.base_url, code=self.options.key,
                   prefixes=(WEBHOOK_PREFIX,))  # fmt: skip
        from devhost.monitor.wiring import add_host_routes  # noqa: PLC0415 - issue 13

        add_host_routes(app, self)  # /monitor, / -> /monitor, /admin/functions, /admin/host
        add_http_triggers(app, self.runner, self.options.key, self.route_prefix)  # catch-all last
        return app

    def _routes(self) -> list[str]:
        http = [f for f in self.functions.values() if f.trigger.type == "httpTrigger"]
        return [str(f.trigger.raw.get("route") or f.name) for f in http]

    async def _start_rpc(self) -> GuardedServer:
        """The RPC listener on 127.0.0.1: the given port, else LocalHttpListener's choice."""
        app = web.Application(client_max_size=DEFAULT_MAX_BODY)
        add_routes(app, self.engine, base_url=self.base_url, code=self.options.key,
                   prefixes=(RPC_PREFIX,), request_base_url=self.rpc_url)  # fmt: skip
        add_wake_route(app, self.engine)
        policy = Policy("durable-rpc", RPC_HOST, self.rpc_port or 0, loopback_clients_only=True)
        server = GuardedServer(app, policy)
        await server.setup()
        if self.rpc_port:
            candidates = [self.rpc_port]
        else:
            low, high = RPC_RANDOM_PORTS
            candidates = [RPC_DEFAULT_PORT, *random.sample(range(low, high), RPC_ATTEMPTS - 1)]
        for port in candidates:
            try:
                self.rpc_port = await server.listen(port)
                break
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    await server.close()
                    raise StartupError(
                        f"cannot listen on {RPC_HOST}:{port}: {exc.strerror}"
                    ) from exc
                log.debug("Durable RPC port %d is busy", port)
        else:
            await server.close()
            raise StartupError(
                f"no free port for the Durable RPC endpoint on {RPC_HOST} after {len(candidates)}"
                " attempts" + (" (--rpc-port is in use)" if len(candidates) == 1 else "")
            )
        self.runner.set_client_json(self._client_json())  # rpcBaseUrl names the bound port
        return server

    async def run(self, stop: asyncio.Event) -> None:
        o = self.options
        check_port_free(o.host, o.port)
        await wait_for_storage(self.storage, o.storage_wait)
        rpc = await self._start_rpc()
        public = GuardedServer(
            self._public_app(),
            Policy(
                "devhost",
                o.host,
                o.port,
                key=o.key,
                key_remedy=KEY_REMEDY,
                keyed_prefixes=KEYED_PREFIXES,
                anonymous_paths=ANONYMOUS_ADMIN_PATHS,
                open_prefixes=hostsettings.app_route_prefixes(self.route_prefix, self._routes()),
                monitor_token=self.monitor_token,
                allowed_hosts=configured_hosts(o.allowed_hosts),
            ),
        )
        await public.setup()
        # Creates the task hub before the API can be called.
        await self.engine.start(activities=self.workers == 0)
        await public.listen()  # before the listener: blob-triggered functions call the API
        assert self.rpc_port is not None
        rpc_port = self.rpc_port
        workers = []
        for i in range(self.workers):
            proc = spawn_worker(i, o.app_dir, o.port, rpc_port, o.concurrency, o.poll_interval,
                                self.storage)  # fmt: skip
            workers.append(proc)
        listener_task = asyncio.create_task(self.listener.run()) if self.listener else None
        retention_task = None
        if self.retain is not None:
            retention = Retention(self.engine.client, self.retain, utcnow)
            retention_task = asyncio.create_task(retention.run(stop))
        print(self.banner(), flush=True)
        log.info("Host started")
        try:
            await stop.wait()
        finally:
            log.info("Stopping host")
            if self.listener is not None:
                await self.listener.stop()
            for task in (listener_task, retention_task):
                if task is not None:
                    task.cancel()
            for proc in workers:
                proc.terminate()
            await self.engine.stop()
            await public.close()
            await rpc.close()
            for proc in workers:
                await asyncio.to_thread(proc.wait, 10)
            await close_sdk_session()
            self.invoker.close()


def banner(host: Host) -> str:
    """What `devhost start` prints once it listens: functions, addresses, and every way this
    run differs from Azure (one line each)."""
    lines = ["", "Functions:", ""]
    for spec in host.functions.values():
        lines.append(f"        {spec.describe(host.route_prefix)}")
    lines += [f"        {name}: disabled (AzureWebJobs.{name}.Disabled)" for name in host.disabled]
    hub = host.config.hub_name
    lines += [
        "",
        f"Durable task hub: {hub}; HTTP on {host.listen_url} "
        f"(Durable API at {host.base_url}/runtime/webhooks/durabletask"
        + ("; key required" if host.options.key else "")
        + ")",
        f"Durable RPC endpoint (the SDK's rpcBaseUrl): {host.rpc_url}{RPC_PREFIX}/ "
        "(this machine only)",
        f"Monitor: {host.monitor_token.url(host.base_url)}",
        "Not as in Azure: " + SINGLE_OWNER_NOTE.format(n=host.durable.partitions, hub=hub),
        *host.config.announcements,
    ]
    notes = (process_count_note(host.process_count, host.workers), host.timeouts.start_note())
    lines += [f"Not as in Azure: {note}" for note in notes if note]
    if host.retain is not None:
        lines.append(announcement(host.retain))
    lines += [host.app_view.banner_line(), ""]
    return "\n".join(lines)
