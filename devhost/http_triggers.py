"""httpTrigger functions on `/api/{route}`: the request as the worker's `http` datum, the
`$return` or `func.Out` http binding back as the response.

Routing is the host's (WebScriptHostHttpRoutesManager.InitializeHttpFunctionRoutes over
WebJobsRouteBuilder): every function's route template in WebJobsRouteBuilder's precedence order,
the first whose template, inline constraints and `methods` accept the request wins; a function
without `methods` gets no HttpMethodRouteConstraint and so takes every method; no match is 404
(never 405). The matched values are the worker's `params` (`req.route_params`) and binding data;
an optional parameter without a value is left out, as FunctionInvocationMiddleware.
PopulateRouteData adds it as null and the gRPC conversion drops nulls.
"""

from __future__ import annotations

from typing import Any

import azure.functions as func
from aiohttp import web
from azure.functions import meta

from devhost.auth import Handler, require_key
from devhost.contracts import FunctionInvocationError
from devhost.loader import FunctionSpec
from devhost.routetemplates import RouteTemplate, precedence_order
from devhost.runner import HostRunner


def route_template(spec: FunctionSpec) -> RouteTemplate:
    """The function's route; the host defaults an empty one to the function's name."""
    return RouteTemplate(str(spec.trigger.raw.get("route") or spec.name))


def trigger_methods(spec: FunctionSpec) -> frozenset[str] | None:
    """The methods function.json names, upper-case; None (every method) when it names none."""
    methods = spec.trigger.raw.get("methods")
    return frozenset(str(m).upper() for m in methods) if methods else None


def add_http_triggers(
    app: web.Application, runner: HostRunner, key: str | None = None, prefix: str = "api"
) -> None:
    """`prefix` is host.json extensions.http.routePrefix (HttpOptions.RoutePrefix); with an
    empty prefix the catch-all goes last, after the host's own routes."""
    base = f"/{prefix}/" if prefix else "/"
    routes: list[tuple[RouteTemplate, tuple[frozenset[str] | None, Handler]]] = []
    for spec in runner.functions.values():
        if spec.trigger.type != "httpTrigger":
            continue
        handler = _http_handler(runner, spec)
        if str(spec.trigger.raw.get("authLevel", "function")).lower() != "anonymous":
            handler = require_key(key, handler)
        routes.append((route_template(spec), (trigger_methods(spec), handler)))
    if not routes:
        return
    ordered = precedence_order(routes)

    async def dispatch(request: web.Request) -> web.StreamResponse:
        tail = request.raw_path.split("?", 1)[0][len(base) :]  # still percent-encoded
        for template, (methods, handler) in ordered:
            values = template.match(tail)
            if values is None or (methods is not None and request.method not in methods):
                continue
            request[ROUTE_VALUES] = {k: v for k, v in values.items() if v is not None}
            return await handler(request)
        return web.Response(status=404)

    app.router.add_route("*", f"{base}{{tail:.*}}", dispatch)


ROUTE_VALUES: web.RequestKey[dict[str, str]] = web.RequestKey("route_values", dict)


def _http_handler(runner: HostRunner, spec: FunctionSpec) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        route = request[ROUTE_VALUES]
        value = {
            "method": meta.Datum(type="string", value=request.method),
            "url": meta.Datum(type="string", value=str(request.url)),
            "headers": {
                k.lower(): meta.Datum(type="string", value=v) for k, v in request.headers.items()
            },
            "query": {k: meta.Datum(type="string", value=v) for k, v in request.query.items()},
            "params": {k: meta.Datum(type="string", value=v) for k, v in route.items()},
            "body": meta.Datum(type="bytes", value=body),
        }
        data = {
            spec.trigger.name: meta.Datum(type="http", value=value),
            **runner.common_inputs(spec),
        }
        binding_data = {**request.query, **route}
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
