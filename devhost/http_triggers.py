"""httpTrigger functions on `/api/{route}`: the request as the worker's `http` datum, the
`$return` or `func.Out` http binding back as the response."""

from __future__ import annotations

import re
from typing import Any

import azure.functions as func
from aiohttp import web
from azure.functions import meta

from devhost.auth import require_key
from devhost.contracts import FunctionInvocationError
from devhost.loader import FunctionSpec
from devhost.runner import HostRunner


def add_http_triggers(
    app: web.Application, runner: HostRunner, key: str | None = None, prefix: str = "api"
) -> None:
    """`prefix` is host.json extensions.http.routePrefix (HttpOptions.RoutePrefix)."""
    base = f"/{prefix}/" if prefix else "/"
    for spec in runner.functions.values():
        if spec.trigger.type != "httpTrigger":
            continue
        route = str(spec.trigger.raw.get("route") or spec.name)
        route = re.sub(r"\{(\w+)(:[^}?]*)?\??\}", r"{\1}", route).strip("/")
        methods = [m.upper() for m in spec.trigger.raw.get("methods") or ["GET", "POST"]]
        handler = _http_handler(runner, spec)
        if str(spec.trigger.raw.get("authLevel", "function")).lower() != "anonymous":
            handler = require_key(key, handler)
        for m in methods:
            app.router.add_route(m, f"{base}{route}", handler)


def _http_handler(runner: HostRunner, spec: FunctionSpec) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        value = {
            "method": meta.Datum(type="string", value=request.method),
            "url": meta.Datum(type="string", value=str(request.url)),
            "headers": {
                k.lower(): meta.Datum(type="string", value=v) for k, v in request.headers.items()
            },
            "query": {k: meta.Datum(type="string", value=v) for k, v in request.query.items()},
            "params": {
                k: meta.Datum(type="string", value=v) for k, v in request.match_info.items()
            },
            "body": meta.Datum(type="bytes", value=body),
        }
        data = {
            spec.trigger.name: meta.Datum(type="http", value=value),
            **runner.common_inputs(spec),
        }
        binding_data = {**request.query, **request.match_info}
        try:
            result = await runner.invoke(spec, data, {}, "HTTP request", binding_data)
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
