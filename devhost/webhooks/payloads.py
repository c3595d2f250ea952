"""The JSON the Durable HTTP API returns: StatusResponsePayload (HttpApiHandler.ConvertFrom), the
history conversion of DurableClient.GetDurableOrchestrationStatusAsync, and the check-status
payload of HttpApiHandler.GetClientResponseLinks / CreateCheckStatusResponseMessage.

Orchestration inputs: the extension stores the start body as sent and the status shows it parsed
(`ParseToJToken`), so an SDK-started instance (the SDK double-encodes) shows its input as JSON
*text*, a string. devhost's Instances `Input` column holds the text the orchestrator receives
(what the extension's context JSON carries after parsing the stored value); for a start whose
body is not a JSON string (a raw object, number, ...) that text is kept with a leading
`RAW_INPUT_MARK` (JSON whitespace, invisible to the SDK's json.loads) so the status can show the
value parsed, as the extension does.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

from devhost.durabletask.model.history import Event, EventType, public_event
from devhost.durabletask.model.state import Instance

RAW_INPUT_MARK = "\r"
MERGED = {
    EventType.TaskCompleted: EventType.TaskScheduled,
    EventType.TaskFailed: EventType.TaskScheduled,
    EventType.SubOrchestrationInstanceCompleted: EventType.SubOrchestrationInstanceCreated,
    EventType.SubOrchestrationInstanceFailed: EventType.SubOrchestrationInstanceCreated,
}
_HIDDEN = (EventType.OrchestratorStarted, EventType.OrchestratorCompleted)
_DOUBLE_ENCODED = (
    EventType.ExecutionStarted,
    EventType.TaskScheduled,
    EventType.SubOrchestrationInstanceCreated,
    EventType.ContinueAsNew,
)
_WITH_RESULT = (EventType.TaskCompleted, EventType.SubOrchestrationInstanceCompleted)


def parse_token(value: str | None) -> Any:
    """DurableClient.ParseToJToken (L1095-1118): null stays null, blank is "", JSON is parsed,
    anything else is returned as the (trimmed) string."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return ""
    try:
        return json.loads(text)
    except ValueError:
        return text


def stored_input(body_value: Any, body_text: str) -> str | None:
    """The Input column for a start body (already validated JSON)."""
    if body_value is None:
        return None
    if isinstance(body_value, str):
        return body_value
    return RAW_INPUT_MARK + body_text.strip()


def input_value(stored: str | None) -> Any:
    """What the extension's status shows for an Input column written by devhost."""
    if stored is None:
        return None
    if stored.startswith(RAW_INPUT_MARK):
        return parse_token(stored)
    return stored


def column_text(stored: str | None) -> str | None:
    """The text the extension keeps for an input devhost stores as `stored`: an orchestrator's
    inputs (activity, sub-orchestration, continue-as-new) and SDK start bodies are JSON strings
    holding JSON text, which DTFx serializes again (OutOfProcOrchestrationShim's `object Input`)."""
    if stored is None or stored.startswith(RAW_INPUT_MARK):
        return None if stored is None else stored[len(RAW_INPUT_MARK) :]
    return json.dumps(stored, ensure_ascii=False)


def status_time(value: Any) -> str | None:
    """`DateTime.ToString("s") + "Z"` (HttpApiHandler.ConvertFrom L713-714): whole seconds."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return None if value is None else str(value)


def json_time(value: str) -> str:
    """A history timestamp as Json.NET writes a UTC DateTime (7 fraction digits, trailing zeros
    dropped)."""
    head, _, rest = value.rstrip("Z").partition(".")
    fraction = rest.rstrip("0")
    return f"{head}.{fraction}Z" if fraction else f"{head}Z"


def status_payload(
    inst: Instance, *, show_input: bool = True, history: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """StatusResponsePayload (StatusResponsePayload.cs): `historyEvents` only when present."""
    out: dict[str, Any] = {
        "name": inst.name,
        "instanceId": inst.instance_id,
        "runtimeStatus": inst.status,
        "input": input_value(inst.input) if show_input else None,
        "customStatus": parse_token(inst.custom_status),
        "output": parse_token(inst.output),
        "createdTime": status_time(inst.created),
        "lastUpdatedTime": status_time(inst.updated),
    }
    if history is not None:
        out["historyEvents"] = history
    return out


def history_events(
    events: list[Event], *, show_input: bool, show_output: bool
) -> list[dict[str, Any]]:
    """DurableClient.GetDurableOrchestrationStatusAsync (L938-1042): string EventTypes,
    OrchestratorStarted/Completed dropped, each TaskScheduled / SubOrchestrationInstanceCreated
    folded into its completion (FunctionName, ScheduledTime, Input), ids and IsPlayed removed,
    results only with showHistoryOutput."""
    out: list[dict[str, Any] | None] = []
    scheduled: dict[tuple[int, int], tuple[int, dict[str, Any]]] = {}
    for ev in events:
        kind = EventType(ev["EventType"])
        if kind in _HIDDEN:
            continue
        item = _public_item(ev, kind)
        if kind in (EventType.TaskScheduled, EventType.SubOrchestrationInstanceCreated):
            scheduled[(kind, int(ev.get("EventId", -1)))] = (len(out), item)
        elif kind in MERGED:
            key = (MERGED[kind], int(ev.get("TaskScheduledId", -1)))
            found = scheduled.get(key)
            if found is not None:
                index, sched = found
                item["ScheduledTime"] = sched.get("Timestamp")
                item["FunctionName"] = sched.get("Name")
                if show_input:
                    item["Input"] = sched.get("Input")
                out[index] = None
            item.pop("TaskScheduledId", None)
            _result(item, show_output and kind in _WITH_RESULT)
        elif kind is EventType.ExecutionStarted:
            item["FunctionName"] = item.pop("Name", None)
            for gone in ("OrchestrationInstance", "ParentInstance", "ParentInstanceId", "Tags"):
                item.pop(gone, None)
        elif kind is EventType.ExecutionCompleted:
            _result(item, show_output)
        elif kind is EventType.TimerFired:
            item.pop("TimerId", None)
        if not show_input:
            item.pop("Input", None)
        item.pop("EventId", None)
        out.append(item)
    return [item for item in out if item is not None]


def _public_item(ev: Event, kind: EventType) -> dict[str, Any]:
    item = public_event(ev)
    item.pop("Version", None)
    if kind in _DOUBLE_ENCODED and "Input" in item:
        item["Input"] = column_text(item["Input"])
    if "Timestamp" in item:
        item["Timestamp"] = json_time(str(item["Timestamp"]))
    return item


def _result(item: dict[str, Any], show: bool) -> None:
    if not show:
        item.pop("Result", None)
    elif "Result" in item:
        item["Result"] = parse_token(item["Result"])


def url_encode(value: str) -> str:
    """WebUtility.UrlEncode: space as '+', only letters, digits and -_.!*() left as they are."""
    return quote_plus(value, safe="!*()").replace("~", "%7E")


def management_payload(
    base_url: str, instance_id: str, hub: str, connection: str = "Storage", code: str | None = None
) -> dict[str, str]:
    """CreateCheckStatusResponseMessage's body (HttpApiHandler.cs L1164-1240)."""
    prefix = f"{base_url}/runtime/webhooks/durabletask/instances/{url_encode(instance_id)}"
    query = f"taskHub={url_encode(hub)}&connection={url_encode(connection)}"
    if code:
        query += f"&code={url_encode(code)}"
    return {
        "id": instance_id,
        "statusQueryGetUri": f"{prefix}?{query}",
        "sendEventPostUri": f"{prefix}/raiseEvent/{{eventName}}?{query}",
        "terminatePostUri": f"{prefix}/terminate?reason={{text}}&{query}",
        "purgeHistoryDeleteUri": f"{prefix}?{query}",
        "restartPostUri": f"{prefix}/restart?{query}",
        "suspendPostUri": f"{prefix}/suspend?reason={{text}}&{query}",
        "resumePostUri": f"{prefix}/resume?reason={{text}}&{query}",
    }
