"""One Durable HTTP API request as the handlers see it: the engine, the client operations, the
API settings and the parsed query (kept apart so handlers and body helpers need not import the
router)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from devhost.durabletask.core.taskhub_client import TaskHubClient
from devhost.durabletask.engine import DurableEngine
from devhost.webhooks.params import Query

ENGINE_KEY: web.AppKey[DurableEngine] = web.AppKey("durable_engine", DurableEngine)
SETTINGS_KEY: web.AppKey[dict[str, Any]] = web.AppKey("durable_api_settings", dict)
DEFAULT_BASE_URL = "http://127.0.0.1:7071"


def _local_url(request: web.Request) -> str:
    """Without a configured base URL: the address the connection came in on (never the Host
    header, which a client controls)."""
    sock = request.transport.get_extra_info("sockname") if request.transport else None
    if not sock:
        return DEFAULT_BASE_URL
    host, port = str(sock[0]), int(sock[1])
    if host in ("0.0.0.0", "::"):  # noqa: S104 - describing, not binding
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class Context:
    """One request as the handlers see it."""

    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.engine = request.app[ENGINE_KEY]
        self.query = Query(request.query)
        self.hub: str = self.query.get("taskHub") or self.engine.hub
        self.client: TaskHubClient = self.engine.client_for(self.hub)
        settings = request.app[SETTINGS_KEY]
        self.base_url: str = settings["base_url"] or _local_url(request)
        self.request_base_url: str = settings.get("request_base_url") or self.base_url
        self.max_body: int = settings["max_body"]
        self.connection: str = settings["connection"]
        self.code: str | None = settings["code"]
