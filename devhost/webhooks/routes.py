"""The Durable HTTP API: what DurableOrchestrationClient calls (rpcBaseUrl, `/durabletask/...`
on the loopback-only RPC listener) and the public `/runtime/webhooks/durabletask/...` forms,
routed and answered as the extension's HttpApiHandler does (HandleRequestAsync, L282-450):
unmatched paths and methods are 404, ArgumentException is 400 "One or more of the arguments
submitted is incorrect", anything else 500 "Something went wrong while processing your
request" — never a devhost traceback."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from devhost.durabletask.azurestorage.tracking import InvalidContinuationToken
from devhost.durabletask.engine import DurableEngine
from devhost.durabletask.model.errors import ArgumentError
from devhost.webhooks.bodies import BodyTooLarge, InvalidJson, error_response
from devhost.webhooks.context import ENGINE_KEY, SETTINGS_KEY, Context
from devhost.webhooks.handlers import (
    get_status,
    list_instances,
    purge_filter,
    purge_one,
    raise_event,
    restart,
    rewind,
    start,
    suspend_resume_terminate,
)
from devhost.webhooks.payloads import url_encode

RPC_PREFIX = "/durabletask"  # LocalHttpListener: http://127.0.0.1:{port}/durabletask/
WEBHOOK_PREFIX = "/runtime/webhooks/durabletask"
PREFIXES = (RPC_PREFIX, WEBHOOK_PREFIX)
DEFAULT_MAX_BODY = 100 * 1024 * 1024  # the Functions host's default request body limit
log = logging.getLogger("devhost.durable")

Handler = Callable[[], Awaitable[web.StreamResponse]]


def client_binding_json(
    base_url: str,
    hub: str,
    connection: str = "Storage",
    code: str | None = None,
    *,
    rpc_base_url: str,
) -> str:
    """The string a durableClient binding receives (DurableOrchestrationClient parses it);
    with a key, every webhook URL carries `code=` as in Azure (the system key). `rpc_base_url`
    is the RPC listener's `http://127.0.0.1:{port}/durabletask/`, as the extension's
    `TryGetRpcBaseUrl` gives LocalHttpListener.InternalRpcUri."""
    hook = f"{base_url}/runtime/webhooks/durabletask"
    query = f"taskHub={hub}&connection={connection}"
    if code:
        query += f"&code={url_encode(code)}"
    inst = f"{hook}/instances/INSTANCEID"
    create = f"{hook}/orchestrators/{{functionName}}[/{{instanceId}}]"
    wait = "timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}"
    return json.dumps(
        {
            "taskHubName": hub,
            "creationUrls": {
                "createNewInstancePostUri": f"{create}?{query}",
                "createAndWaitOnNewInstancePostUri": f"{create}?{wait}&{query}",
            },
            "managementUrls": {
                "id": "INSTANCEID",
                "statusQueryGetUri": f"{inst}?{query}",
                "sendEventPostUri": f"{inst}/raiseEvent/{{eventName}}?{query}",
                "terminatePostUri": f"{inst}/terminate?reason={{text}}&{query}",
                "rewindPostUri": f"{inst}/rewind?reason={{text}}&{query}",
                "purgeHistoryDeleteUri": f"{inst}?{query}",
                "restartPostUri": f"{inst}/restart?{query}",
                "suspendPostUri": f"{inst}/suspend?reason={{text}}&{query}",
                "resumePostUri": f"{inst}/resume?reason={{text}}&{query}",
            },
            "baseUrl": hook,
            "requiredQueryStringParameters": query,
            "rpcBaseUrl": rpc_base_url,
            "httpBaseUrl": "",
        }
    )


def _route(request: web.Request, ctx: Context) -> Handler | None:
    """HandleRequestAsync's route table (L298-435); None means 404."""
    seg = request.match_info["tail"].strip("/").split("/")
    method, head, n = request.method, seg[0].lower(), len(seg)
    if head == "orchestrators" and n in (2, 3) and seg[1]:
        post = method == "POST"
        return (lambda: start(ctx, seg[1], seg[2] if n == 3 else "")) if post else None
    if head != "instances":
        return None
    routes: dict[tuple[str, str], Handler] = {}
    if n == 1 or (n == 2 and not seg[1]):
        routes = {
            ("GET", ""): lambda: list_instances(ctx),
            ("DELETE", ""): lambda: purge_filter(ctx),
        }
    elif n == 2:
        routes = {
            ("GET", ""): lambda: get_status(ctx, seg[1]),
            ("DELETE", ""): lambda: purge_one(ctx, seg[1]),
        }
    elif n == 3:
        op = seg[2].lower()
        routes = {
            ("POST", "terminate"): lambda: suspend_resume_terminate(ctx, seg[1], op),
            ("POST", "suspend"): lambda: suspend_resume_terminate(ctx, seg[1], op),
            ("POST", "resume"): lambda: suspend_resume_terminate(ctx, seg[1], op),
            ("POST", "restart"): lambda: restart(ctx, seg[1]),
            ("POST", "rewind"): lambda: rewind(ctx, seg[1]),
        }
        return routes.get((method, op))
    elif n == 4 and seg[2].lower() == "raiseevent" and seg[3]:
        routes = {("POST", ""): lambda: raise_event(ctx, seg[1], seg[3])}
    return routes.get((method, ""))


def _failure(request: web.Request, exc: Exception) -> web.Response:
    """The status and body the extension gives for an exception (L438-449)."""
    if isinstance(exc, BodyTooLarge):
        return error_response(413, str(exc))
    if isinstance(exc, InvalidJson):
        return error_response(400, "Invalid JSON content", exc.__cause__ or exc, exc.dotnet_type)
    if isinstance(exc, ArgumentError):
        return error_response(400, "One or more of the arguments submitted is incorrect", exc)
    type_name = ""
    if isinstance(exc, InvalidContinuationToken):  # Convert.FromBase64String
        type_name = "System.FormatException"
    else:
        log.warning("Durable HTTP API %s %s failed: %r", request.method, request.path, exc)
    return error_response(500, "Something went wrong while processing your request", exc, type_name)


async def dispatch(request: web.Request) -> web.StreamResponse:
    ctx = Context(request)
    handler = _route(request, ctx)
    if handler is None:
        return web.Response(status=404)
    try:
        return await handler()
    except Exception as exc:  # the extension's catch-all: never a devhost traceback
        return _failure(request, exc)


def add_routes(
    app: web.Application,
    engine: DurableEngine,
    *,
    base_url: str | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    connection: str = "Storage",
    code: str | None = None,
    prefixes: tuple[str, ...] = PREFIXES,
    request_base_url: str | None = None,
) -> None:
    """Serve the API under `prefixes`. `base_url` (the host's public URL) builds management
    URLs; `request_base_url` (this listener's own URL, default `base_url`) the Location of a
    status request, which is the request's URI (without either: the listening address); a
    request's Host header never does. Bodies above `max_body` bytes are refused with 413."""
    app[ENGINE_KEY] = engine
    app[SETTINGS_KEY] = {
        "base_url": base_url.rstrip("/") if base_url else None,
        "request_base_url": request_base_url.rstrip("/") if request_base_url else None,
        "max_body": max_body,
        "connection": connection,
        "code": code,
    }
    for prefix in prefixes:
        app.router.add_route("*", prefix + r"/{tail:[\s\S]*}", dispatch)
