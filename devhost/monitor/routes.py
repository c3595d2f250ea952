"""The monitor's page and JSON endpoints under /monitor, on any aiohttp application.

POSTs change state, so they are refused unless they carry `X-Devhost-Monitor: 1` (a custom
header a cross-site form or a simple fetch cannot send without a CORS preflight, which is never
granted) and pass devhost/guard.py's cross-site check (`Origin` must be this listener on an
allowed host, `Sec-Fetch-Site` same-origin). The guard also requires the per-run token (its
cookie) on everything under /monitor.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from devhost.guard import TOKEN_PARAM, cross_site_refusal
from devhost.monitor.api import ApiError
from devhost.monitor.index import SORT_KEYS, Query
from devhost.monitor.payloads import failure_text, parse_payload
from devhost.monitor.sources import ACTIONS, MonitorSource
from devhost.monitor.timeline import build_timeline, parse_time

STATIC = Path(__file__).resolve().parent / "static"
SOURCE_KEY: web.AppKey[MonitorSource] = web.AppKey("monitor_source", MonitorSource)
PREFETCH_KEY: web.AppKey[asyncio.Task[None]] = web.AppKey("monitor_prefetch")
CSRF_HEADER = "X-Devhost-Monitor"
ROWS_PAGE_MAX = 200  # rows per page of the Rows view, whatever the query asks
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def same_origin_post(request: web.Request) -> bool:
    return request.headers.get(CSRF_HEADER) == "1" and cross_site_refusal(request) is None


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, headers={"Cache-Control": "no-store"})


async def page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers=SECURITY_HEADERS)


async def to_monitor(request: web.Request) -> web.Response:
    token = request.query.get(TOKEN_PARAM)  # `/?token=...` keeps working
    raise web.HTTPFound("/monitor" + (f"?{urlencode({TOKEN_PARAM: token})}" if token else ""))


async def overview(request: web.Request) -> web.Response:
    source = request.app[SOURCE_KEY]
    started = time.perf_counter()
    index = await source.index()
    body = index.overview()
    try:
        body["poison"] = await source.poison_count()
    except Exception:
        body["poison"] = None
    try:
        skipped = await source.skip_counts()
    except Exception:
        skipped = None
    body["skipped"] = (
        None if skipped is None else {"total": sum(skipped.values()), "byReason": skipped}
    )
    body["source"] = source.label
    body["computeMs"] = round((time.perf_counter() - started) * 1000, 1)
    return _json(body)


def _set(value: str) -> frozenset[str]:
    return frozenset(v for v in value.split(",") if v)


def _time(value: str) -> float | None:
    if not value:
        return None
    try:
        return float(value) / 1000.0  # epoch milliseconds
    except ValueError:
        return parse_time(value)


async def instances(request: web.Request) -> web.Response:
    q = request.query
    try:
        query = Query(
            statuses=_set(q.get("status", "")),
            outcomes=_set(q.get("outcome", "")),
            created_from=_time(q.get("from", "")),
            created_to=_time(q.get("to", "")),
            text=q.get("q", "").strip(),
            sort=q.get("sort", "created") if q.get("sort") in SORT_KEYS else "created",
            descending=q.get("order", "desc") != "asc",
            page=int(q.get("page", "0") or 0),
            size=int(q.get("size", "50") or 50),
        )
    except ValueError:
        return _json({"error": "bad query"}, 400)
    index = await request.app[SOURCE_KEY].index()
    return _json(index.select(query))


async def instance(request: web.Request) -> web.Response:
    status = await request.app[SOURCE_KEY].status(request.match_info["id"])
    if status is None:
        return _json({"error": "no such instance"}, 404)
    runtime = str(status.get("runtimeStatus") or "")
    view = request.app[SOURCE_KEY].view
    d = view.describe(
        runtime, status.get("input"), status.get("output"), status.get("customStatus")
    )
    body = {
        "instanceId": status.get("instanceId"),
        "name": status.get("name"),
        "runtimeStatus": runtime,
        "createdTime": status.get("createdTime"),
        "lastUpdatedTime": status.get("lastUpdatedTime"),
        "input": _decoded(status.get("input")),
        "output": _decoded(status.get("output")),
        "customStatus": _decoded(status.get("customStatus")),
        "subject": d.subject,
        "subjectLabel": view.subject_label,
        "outcome": d.outcome,
        "reason": d.reason,
        "failure": failure_text(status.get("output")) if runtime == "Failed" else None,
        "timeline": build_timeline(status),
    }
    return _json(body)


def _decoded(value: Any) -> Any:
    return parse_payload(value)


async def rows(request: web.Request) -> web.Response:
    """A page of the app's rows: `limit` (1..ROWS_PAGE_MAX) after the continuation `after`."""
    try:
        limit = min(max(1, int(request.query.get("limit", "50") or 50)), ROWS_PAGE_MAX)
    except ValueError:
        return _json({"error": "bad limit"}, 400)
    name = request.query.get("name")
    after = request.query.get("after") or None
    try:
        body = await request.app[SOURCE_KEY].rows(limit, name, after)
    except ValueError as exc:  # a continuation the app view does not accept
        return _json({"error": f"bad continuation: {exc}"}, 400)
    except Exception as exc:
        return _json({"error": f"SQL: {exc}"}, 502)
    if body is None:
        return _json({"error": "no SQL connection string configured"}, 404)
    return _json(body)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.text() or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


async def act(request: web.Request) -> web.Response:
    if not same_origin_post(request):
        return _json({"error": "cross-site request refused"}, 403)
    action = request.match_info["action"]
    if action not in ACTIONS:
        return _json({"error": f"unknown action {action}"}, 404)
    data = await _body(request)
    if action == "raiseEvent" and not data.get("name"):
        return _json({"error": "event name required"}, 400)
    code = await request.app[SOURCE_KEY].act(
        request.match_info["id"],
        action,
        reason=data.get("reason") or "terminated from the monitor",
        name=data.get("name"),
        data=data.get("data"),
    )
    return _json({"action": action, "httpStatus": code, "ok": code < 300}, 200)


async def restart_failed(request: web.Request) -> web.Response:
    if not same_origin_post(request):
        return _json({"error": "cross-site request refused"}, 403)
    data = await _body(request)
    source = request.app[SOURCE_KEY]
    failed = (await source.index()).failed()
    listed = [
        {"instanceId": s.instance_id, "subject": s.subject, "reason": s.reason} for s in failed
    ]
    if data.get("dryRun", True):
        return _json({"dryRun": True, "instances": listed})
    gate = asyncio.Semaphore(8)

    async def one(item: dict[str, Any]) -> dict[str, Any]:
        async with gate:
            code = await source.act(str(item["instanceId"]), "restart")
        return item | {"httpStatus": code, "ok": code < 300}

    results = await asyncio.gather(*(one(i) for i in listed))
    return _json({"dryRun": False, "instances": results})


@web.middleware
async def upstream_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """The app's API failing (down, refusing the key, redirecting) is a 502 with one line, not
    a traceback; the line never holds the key (DurableApi scrubs what it quotes)."""
    try:
        return await handler(request)
    except (ApiError, aiohttp.ClientError, TimeoutError) as exc:
        if not request.path.startswith("/monitor/api/"):
            raise
        return _json({"error": f"the app's Durable API: {exc or type(exc).__name__}"}, 502)


def add_monitor_routes(app: web.Application, source: MonitorSource) -> None:
    """GET /monitor (the page; `/` redirects to it), /monitor/static/*, /monitor/api/*."""
    app[SOURCE_KEY] = source
    app.middlewares.append(upstream_errors)
    app.router.add_get("/", to_monitor)
    app.router.add_get("/monitor", page)
    app.router.add_get("/monitor/", page)
    app.router.add_static("/monitor/static/", STATIC, append_version=False)
    app.router.add_get("/monitor/api/overview", overview)
    app.router.add_get("/monitor/api/instances", instances)
    app.router.add_get("/monitor/api/instances/{id}", instance)
    app.router.add_get("/monitor/api/rows", rows)
    app.router.add_post("/monitor/api/instances/{id}/{action}", act)
    app.router.add_post("/monitor/api/restart-failed", restart_failed)

    async def _prefetch() -> None:
        """Build the index while the host starts, so the first page load is a warm one."""
        for _ in range(30):  # the task hub may not exist yet
            try:
                await source.index()
                return
            except Exception:
                await asyncio.sleep(1.0)

    async def _start(app: web.Application) -> None:
        app[PREFETCH_KEY] = asyncio.create_task(_prefetch())

    async def _close(app: web.Application) -> None:
        app[PREFETCH_KEY].cancel()
        await source.close()

    app.on_startup.append(_start)
    app.on_cleanup.append(_close)
