"""Mounting the monitor and the admin routes on devhost's own HTTP server (one call)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from devhost.admin import HostAdminBackend, add_admin_routes
from devhost.monitor.api import DurableApi
from devhost.monitor.routes import add_monitor_routes
from devhost.monitor.sources import LocalSource
from devhost.webhooks.routes import RPC_PREFIX


def add_host_routes(app: web.Application, host: Any) -> None:
    """`/monitor` (+ `/` redirect) over the host's task hub, `/admin/functions/{name}`,
    `/admin/host/status` and `/admin/host/ping`. `host` needs base_url, rpc_url, config
    (settings, hub_name, host_id), functions and runner (trigger_type, handle_blob,
    run_activity)."""
    settings = host.config.settings
    view = host.app_view
    source = LocalSource(
        host.base_url,
        settings["AzureWebJobsStorage"],
        host.config.hub_name,
        view,
        settings.get(view.rows_setting) if view.rows_setting else None,
        api=DurableApi(host.rpc_url, api_path=RPC_PREFIX),  # details and actions: loopback RPC
        host_id=host.config.host_id,
    )
    add_monitor_routes(app, source)
    add_admin_routes(app, HostAdminBackend(host))
