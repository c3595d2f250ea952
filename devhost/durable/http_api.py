"""The Durable HTTP API: what DurableOrchestrationClient calls (rpcBaseUrl) and the public
`/runtime/webhooks/durabletask/...` forms, with the status codes and JSON the SDK expects."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web

from devhost.durable.engine import DurableEngine, OrchestrationConflict, UnknownOrchestrator
from devhost.durable.events import EventType, event, iso, public_event
from devhost.durable.instance import TERMINAL, Instance
from devhost.durable.names import escape_key, unescape_key

PREFIXES = ("/durabletask", "/runtime/webhooks/durabletask")
ENGINE_KEY: web.AppKey[DurableEngine] = web.AppKey("durable_engine", DurableEngine)


def client_binding_json(base_url: str, hub: str, connection: str = "Storage") -> str:
    """The string a durableClient binding receives (DurableOrchestrationClient parses it)."""
    hook = f"{base_url}/runtime/webhooks/durabletask"
    query = f"taskHub={hub}&connection={connection}"
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
            "rpcBaseUrl": f"{base_url}/durabletask/",
            "httpBaseUrl": "",
        }
    )


def _json_or_text(value: str | None) -> Any:
    if value is None or value == "":
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


def _time(value: Any) -> str | None:
    return iso(value) if isinstance(value, datetime) else value


def status_json(
    inst: Instance, *, show_input: bool = True, history: bool = False, history_output: bool = False
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": inst.name,
        "instanceId": inst.instance_id,
        "runtimeStatus": inst.status,
        "input": _json_or_text(inst.input) if show_input else None,
        "customStatus": _json_or_text(inst.custom_status),
        "output": _json_or_text(inst.output),
        "createdTime": _time(inst.created),
        "lastUpdatedTime": _time(inst.updated),
    }
    if history:
        events = []
        for ev in inst.history:
            if ev["EventType"] in (EventType.OrchestratorStarted, EventType.OrchestratorCompleted):
                continue
            pub = public_event(ev)
            if not history_output:
                pub.pop("Result", None)
            events.append(pub)
        out["history"] = events
        out["historyEvents"] = events
    return out


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() == "true"


def _status_url(request: web.Request, instance_id: str) -> str:
    return f"{request.scheme}://{request.host}/runtime/webhooks/durabletask/instances/{quote(instance_id)}"


def _management(request: web.Request, instance_id: str) -> dict[str, str]:
    base = _status_url(request, instance_id)
    return {
        "id": instance_id,
        "statusQueryGetUri": base,
        "sendEventPostUri": f"{base}/raiseEvent/{{eventName}}",
        "terminatePostUri": f"{base}/terminate?reason={{text}}",
        "purgeHistoryDeleteUri": base,
        "suspendPostUri": f"{base}/suspend?reason={{text}}",
        "resumePostUri": f"{base}/resume?reason={{text}}",
    }


def _payload(raw: str) -> str | None:
    """JSON text of the payload. The Python SDK double-encodes (the body is a JSON string
    holding JSON text); other clients send the JSON itself."""
    if not raw:
        return None
    try:
        decoded = json.loads(raw)
    except ValueError:
        return json.dumps(raw)
    if isinstance(decoded, str):
        try:
            json.loads(decoded)
            return decoded
        except ValueError:
            return raw
    return raw


async def start(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]
    input_text = _payload(await request.text())
    try:
        instance_id = await engine.start_new(
            request.match_info["function"], request.match_info.get("instance") or None, input_text
        )
    except UnknownOrchestrator as exc:
        return web.json_response(
            {
                "Message": "One or more of the arguments submitted is incorrect",
                "ExceptionMessage": str(exc),
            },
            status=400,
        )
    except OrchestrationConflict as exc:
        return web.json_response({"Message": str(exc), "ExceptionMessage": str(exc)}, status=409)
    body = _management(request, instance_id)
    return web.json_response(body, status=202, headers={"Location": body["statusQueryGetUri"]})


async def get_status(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]
    instance_id = request.match_info["instance"]
    want_history = _flag(request, "showHistory")
    inst = await engine.read(instance_id, history=want_history)
    if inst is None:
        return web.Response(status=404)
    body = status_json(
        inst,
        show_input=request.query.get("showInput", "true").lower() != "false",
        history=want_history,
        history_output=_flag(request, "showHistoryOutput"),
    )
    if inst.status in TERMINAL:
        return web.json_response(body, status=200)
    return web.json_response(
        body, status=202, headers={"Location": _status_url(request, instance_id)}
    )


def _query_filter(request: web.Request) -> str | None:
    parts = []
    statuses = [s for s in request.query.get("runtimeStatus", "").split(",") if s]
    if statuses:
        parts.append("(" + " or ".join(f"RuntimeStatus eq '{_odata(s)}'" for s in statuses) + ")")
    if request.query.get("createdTimeFrom"):
        parts.append(f"CreatedTime ge datetime'{_odata(request.query['createdTimeFrom'])}'")
    if request.query.get("createdTimeTo"):
        parts.append(f"CreatedTime le datetime'{_odata(request.query['createdTimeTo'])}'")
    prefix = request.query.get("instanceIdPrefix")
    if prefix:
        key = _odata(escape_key(prefix))
        parts.append(f"PartitionKey ge '{key}' and PartitionKey lt '{key}\uffff'")
    return " and ".join(parts) or None


def _odata(value: str) -> str:
    return value.replace("'", "''")


async def list_instances(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]
    top = min(int(request.query.get("top", "100") or 100), 1000)
    token = request.headers.get("x-ms-continuation-token") or None
    rows, nxt = await engine.query_instances(_query_filter(request), top, token)
    show_input = _flag(request, "showInput")
    body = [
        status_json(Instance.from_row(unescape_key(r["PartitionKey"]), r), show_input=show_input)
        for r in rows
    ]
    headers = {"x-ms-continuation-token": nxt} if nxt else {}
    return web.json_response(body, status=200, headers=headers)


async def _control(request: web.Request, kind: EventType, **fields: Any) -> web.Response:
    engine = request.app[ENGINE_KEY]
    instance_id = request.match_info["instance"]
    inst = await engine.read(instance_id)
    if inst is None:
        return web.Response(status=404)
    if inst.status in TERMINAL:
        return web.Response(status=410)
    if kind is EventType.ExecutionResumed and inst.status != "Suspended":
        return web.Response(status=202)
    await engine.send_event(instance_id, event(kind, **fields))
    return web.Response(status=202)


async def raise_event(request: web.Request) -> web.Response:
    return await _control(
        request,
        EventType.EventRaised,
        Name=request.match_info["event"],
        Input=_payload(await request.text()),
    )


async def terminate(request: web.Request) -> web.Response:
    return await _control(request, EventType.ExecutionTerminated, Input=request.query.get("reason"))


async def suspend(request: web.Request) -> web.Response:
    return await _control(request, EventType.ExecutionSuspended, Reason=request.query.get("reason"))


async def resume(request: web.Request) -> web.Response:
    return await _control(request, EventType.ExecutionResumed, Reason=request.query.get("reason"))


async def restart(request: web.Request) -> web.Response:
    """Start the instance again with its original input (same id unless asked otherwise)."""
    engine = request.app[ENGINE_KEY]
    inst = await engine.read(request.match_info["instance"])
    if inst is None:
        return web.Response(status=404)
    new_id = None if _flag(request, "restartWithNewInstanceId") else inst.instance_id
    try:
        instance_id = await engine.start_new(inst.name, new_id, inst.input)
    except OrchestrationConflict as exc:
        return web.json_response({"Message": str(exc)}, status=409)
    return web.json_response(_management(request, instance_id), status=202)


async def purge(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]
    deleted = await engine.purge(request.match_info["instance"])
    if not deleted:
        return web.Response(status=404)
    return web.json_response({"instancesDeleted": deleted}, status=200)


async def purge_many(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]
    deleted, token = 0, None
    query = _query_filter(request)
    while True:
        rows, token = await engine.query_instances(query, 500, token)
        for r in rows:
            deleted += await engine.purge(unescape_key(r["PartitionKey"]))
        if not token:
            break
    if not deleted:
        return web.Response(status=404)
    return web.json_response({"instancesDeleted": deleted}, status=200)


def add_routes(app: web.Application, engine: DurableEngine) -> None:
    app[ENGINE_KEY] = engine
    for p in PREFIXES:
        app.router.add_post(p + "/orchestrators/{function}", start)
        app.router.add_post(p + "/orchestrators/{function}/{instance}", start)
        app.router.add_get(p + "/instances/", list_instances)
        app.router.add_get(p + "/instances", list_instances)
        app.router.add_delete(p + "/instances/", purge_many)
        app.router.add_delete(p + "/instances", purge_many)
        app.router.add_get(p + "/instances/{instance}", get_status)
        app.router.add_delete(p + "/instances/{instance}", purge)
        app.router.add_post(p + "/instances/{instance}/raiseEvent/{event}", raise_event)
        app.router.add_post(p + "/instances/{instance}/terminate", terminate)
        app.router.add_post(p + "/instances/{instance}/suspend", suspend)
        app.router.add_post(p + "/instances/{instance}/resume", resume)
        app.router.add_post(p + "/instances/{instance}/restart", restart)
