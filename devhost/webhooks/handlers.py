"""HttpApiHandler's Handle*RequestAsync methods (HttpApiHandler.cs), one function each."""

from __future__ import annotations

import asyncio
import json
import math
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aiohttp import web

from devhost.durabletask.azurestorage.names import escape_key
from devhost.durabletask.model.errors import ArgumentError, InvalidOperation
from devhost.durabletask.model.history import EventType, event
from devhost.durabletask.model.status import TERMINAL
from devhost.webhooks.bodies import (
    error_response,
    json_response,
    parse_json,
    read_body,
)
from devhost.webhooks.params import (
    parse_bool,
    parse_datetime,
    parse_int,
    parse_seconds,
    parse_statuses,
)
from devhost.webhooks.payloads import (
    history_events,
    management_payload,
    parse_token,
    status_payload,
    stored_input,
)

if TYPE_CHECKING:
    from devhost.durabletask.model.state import Instance
    from devhost.webhooks.context import Context

MAX_TIMESPAN_SECONDS = 922_337_203_685  # TimeSpan.MaxValue
PURGEABLE = ("Completed", "Terminated", "Canceled", "Failed")
_EVENTS = {
    "terminate": EventType.ExecutionTerminated,
    "suspend": EventType.ExecutionSuspended,
    "resume": EventType.ExecutionResumed,
}


# --- responses --------------------------------------------------------------------------
def check_status(ctx: Context, instance_id: str) -> web.Response:
    """CreateCheckStatusResponseMessage (L1211-1240): 202, Location, Retry-After: 10."""
    body = management_payload(ctx.base_url, instance_id, ctx.hub, ctx.connection, ctx.code)
    headers = {"Location": body["statusQueryGetUri"], "Retry-After": "10"}
    return json_response(body, status=202, headers=headers)


def _seconds_text(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


async def wait_or_check_status(ctx: Context, instance_id: str) -> web.StreamResponse:
    """`timeout` + `pollingInterval` (seconds): WaitForCompletionOrCreateCheckStatusResponseAsync
    (L196-280); otherwise the check-status response."""
    timeout = parse_seconds(ctx.query.get("timeout"))
    interval = parse_seconds(ctx.query.get("pollingInterval"))
    if timeout is None or interval is None:
        return check_status(ctx, instance_id)
    if math.isnan(timeout) or math.isnan(interval):
        raise ArgumentError("TimeSpan does not accept floating point Not-a-Number values.")
    if max(abs(timeout), abs(interval)) > MAX_TIMESPAN_SECONDS:
        raise OverflowError("TimeSpan overflowed because the duration is too long.")
    if interval > timeout:
        raise ArgumentError(
            f"Total timeout {_seconds_text(timeout)} should be bigger than retry timeout "
            f"{_seconds_text(interval)}"
        )
    started = time.monotonic()
    while True:
        inst = await ctx.client.read(instance_id)
        if inst is not None and inst.status in TERMINAL:
            break
        elapsed = time.monotonic() - started
        if elapsed >= timeout:
            break
        await asyncio.sleep(min(interval, timeout - elapsed))
    if inst is not None and inst.status == "Completed":
        return json_response(parse_token(inst.output), status=200)
    if inst is not None and inst.status in TERMINAL:
        return await get_status(ctx, instance_id, fail_500=False)
    return check_status(ctx, instance_id)


# --- handlers ---------------------------------------------------------------------------
async def start(ctx: Context, function_name: str, instance_id: str) -> web.StreamResponse:
    """HandleStartOrchestratorRequestAsync (L857-899): the body is the input as sent."""
    text = await read_body(ctx)
    value = parse_json(text, empty_is_null=True)
    input_text = stored_input(value, text)
    del text
    new_id = await ctx.client.start_new(function_name, instance_id or None, input_text)
    return await wait_or_check_status(ctx, new_id)


async def get_status(
    ctx: Context, instance_id: str, fail_500: bool | None = None
) -> web.StreamResponse:
    """HandleGetStatusRequestAsync(instanceId) (L598-692); the waiting start passes
    fail_500=False (L266) whatever the query says."""
    q = ctx.query
    show_history = parse_bool(q.get("showHistory")) or False
    show_output = parse_bool(q.get("showHistoryOutput")) or False
    show_input = parse_bool(q.get("showInput"))
    show_input = True if show_input is None else show_input
    if fail_500 is None:
        fail_500 = parse_bool(q.get("returnInternalServerErrorOnFailure")) or False
    inst = await ctx.client.read(instance_id, history=show_history, show_input=show_input)
    if inst is None:
        return web.Response(status=404)
    history = None
    if show_history and inst.status != "Pending":
        history = history_events(inst.history, show_input=show_input, show_output=show_output)
    body = status_payload(inst, show_input=show_input, history=history)
    if inst.status in TERMINAL:
        status = 500 if inst.status == "Failed" and fail_500 else 200
        return json_response(body, status=status)
    location = ctx.request_base_url + ctx.request.raw_path  # the request's own URI
    headers = {"Location": location, "Retry-After": "5"}
    return json_response(body, status=202, headers=headers)


def _datetime_literal(value: datetime) -> str:
    return "datetime'" + value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") + "'"


def instance_filter(
    created_from: datetime | None,
    created_to: datetime | None,
    statuses: list[str],
    prefix: str | None = None,
) -> str | None:
    """OrchestrationInstanceStatusQueryCondition.GetConditions (DTFx AzureStorage 1.17.5)."""
    parts = []
    if created_from is not None:
        parts.append(f"CreatedTime ge {_datetime_literal(created_from)}")
    if created_to is not None:
        parts.append(f"CreatedTime le {_datetime_literal(created_to)}")
    if statuses:
        parts.append("(" + " or ".join(f"RuntimeStatus eq '{s}'" for s in statuses) + ")")
    if prefix:
        low = escape_key(prefix)
        high = low[:-1] + chr(ord(low[-1]) + 1)
        parts.append(f"PartitionKey ge '{_odata(low)}' and PartitionKey lt '{_odata(high)}'")
    return " and ".join(f"({p})" for p in parts) or None


def _odata(value: str) -> str:
    return value.replace("'", "''")


async def list_instances(ctx: Context) -> web.StreamResponse:
    """HandleGetStatusRequestAsync() (L452-511). Unparseable top/createdTime*/showInput are
    ignored. As in DTFx 1.17.5's ToTableQuery, showInput=false only projects the Input column
    away when some filter is given; with none, inputs come back anyway."""
    q = ctx.query
    statuses = parse_statuses(q)
    if "Unknown" in statuses:  # Enum.Parse(OrchestrationStatus, "Unknown")
        raise ArgumentError("Requested value 'Unknown' was not found.")
    created_from = parse_datetime(q.get("createdTimeFrom"))
    created_to = parse_datetime(q.get("createdTimeTo"))
    prefix = q.get("instanceIdPrefix")
    show_input = parse_bool(q.get("showInput"))
    filtered = bool(statuses) or bool(created_from or created_to) or prefix is not None
    show_input = True if show_input is None or not filtered else show_input
    top = q.get("top")
    page_size = 100 if top is None or (parsed := parse_int(top)) is None else parsed
    if page_size <= 0:
        raise ArgumentError("Take count must be positive and greater than 0.")
    token = ctx.request.headers.get("x-ms-continuation-token") or None
    query = instance_filter(created_from, created_to, statuses, prefix)
    rows, nxt = await ctx.client.query(query, min(page_size, 1000), token, show_input)
    response = web.StreamResponse(
        status=200,
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    response.headers["x-ms-continuation-token"] = nxt or ""
    await response.prepare(ctx.request)
    await response.write(b"[")
    for index, row in enumerate(rows):  # one row's inputs in memory at a time
        inst: Instance = await ctx.client.load_row(row)
        rows[index] = {}
        payload = json.dumps(
            status_payload(inst, show_input=show_input), separators=(",", ":"), ensure_ascii=False
        )
        del inst
        await response.write((b"," if index else b"") + payload.encode())
        del payload
    await response.write(b"]")
    await response.write_eof()
    return response


async def purge_one(ctx: Context, instance_id: str) -> web.StreamResponse:
    """HandleDeleteHistoryByIdRequestAsync (L554-567): any existing instance is purged."""
    deleted = await ctx.client.purge(instance_id)
    if not deleted:
        return web.Response(status=404)
    return json_response({"instancesDeleted": deleted}, status=200)


async def purge_filter(ctx: Context) -> web.StreamResponse:
    """HandleDeleteHistoryWithFiltersRequestAsync (L569-596): createdTimeFrom is required."""
    q = ctx.query
    created_from = parse_datetime(q.get("createdTimeFrom"))
    if created_from is None:
        message = "Please provide value for 'createdTimeFrom' parameter."
        return json_response(message, status=400)
    created_to = parse_datetime(q.get("createdTimeTo")) or datetime.now(UTC)
    statuses = [s for s in parse_statuses(q) if s in PURGEABLE]
    deleted = await ctx.client.purge_where(instance_filter(created_from, created_to, statuses))
    if not deleted:
        return web.Response(status=404)
    return json_response({"instancesDeleted": deleted}, status=200)


async def _existing_active(ctx: Context, instance_id: str) -> web.Response | None:
    """The handlers' common preamble: 404 unknown, 410 completed/failed/terminated."""
    inst = await ctx.client.read(instance_id, show_input=False)
    if inst is None:
        return web.Response(status=404)
    if inst.status in TERMINAL:
        return web.Response(status=410)
    return None


async def raise_event(ctx: Context, instance_id: str, name: str) -> web.StreamResponse:
    """HandleRaiseEventRequestAsync (L978-1020): application/json only; the body is the event
    data as sent (a JSON string stays a string)."""
    early = await _existing_active(ctx, instance_id)
    if early is not None:
        return early
    if ctx.request.content_type.lower() != "application/json":
        return json_response(
            {"Message": "Only application/json request content is supported"}, status=400
        )
    text = await read_body(ctx)
    parse_json(text, empty_is_null=False)
    await ctx.client.send_event(instance_id, event(EventType.EventRaised, Name=name, Input=text))
    return web.Response(status=202)


async def suspend_resume_terminate(
    ctx: Context, instance_id: str, operation: str
) -> web.StreamResponse:
    """HandleTerminate/Suspend/ResumeInstanceRequestAsync (L785-855); DurableClient's state
    checks then raise InvalidOperationException (500) for e.g. resume of a Running instance."""
    early = await _existing_active(ctx, instance_id)
    if early is not None:
        return early
    reason = ctx.query.get("reason")
    kind = _EVENTS[operation]
    if kind is EventType.ExecutionTerminated:
        ev = event(kind, Input=reason)
    else:
        ev = event(kind, Reason=reason)
    await ctx.client.control(instance_id, ev)
    return web.Response(status=202)


async def restart(ctx: Context, instance_id: str) -> web.StreamResponse:
    """HandleRestartInstanceRequestAsync (L901-947): restartWithNewInstanceId defaults to true;
    an unknown id is 400."""
    new_id = parse_bool(ctx.query.get("restartWithNewInstanceId"))
    try:
        restarted = await ctx.client.restart(instance_id, True if new_id is None else new_id)
    except ArgumentError as exc:
        return error_response(400, "InstanceId does not match a valid orchestration instance.", exc)
    return await wait_or_check_status(ctx, restarted)


async def rewind(ctx: Context, instance_id: str) -> web.StreamResponse:
    """HandleRewindInstanceRequestAsync (L949-976) + DurableClient.RewindAsync (L446-457)."""
    inst = await ctx.client.read(instance_id, show_input=False)
    if inst is None:
        return web.Response(status=404)
    if inst.status in ("Completed", "Terminated", "Canceled"):
        return web.Response(status=410)
    if inst.status != "Failed":
        raise InvalidOperation(
            "The rewind operation is only supported on failed orchestration instances."
        )
    await ctx.client.rewind(instance_id, ctx.query.get("reason"))
    return web.Response(status=202)
