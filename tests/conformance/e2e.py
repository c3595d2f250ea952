"""Helpers for the ports of the extension's end-to-end suite (test/Common/
DurableTaskEndToEndTests.cs at Azure/azure-functions-durable-extension a7c6d694) onto
tests/apps/e2e_app, the Python v1 ports of TestOrchestrations.cs and TestActivities.cs.

Instances start through the SDK's start_new, as a Python app starts them: the SDK sends the input
as JSON text, so the status shows that text (`started_input` decodes it where the .NET test
compares the value). Events are raised through the raw API with a JSON body, which delivers the
value as .NET's RaiseEventAsync does; other operations go through the real SDK client."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from tests.conformance.conftest import TERMINAL, Host
from tests.sdk import arun
from tests.waiting import wait_until

APP = Path(__file__).resolve().parent.parent / "apps" / "e2e_app"


def start(host: Host, name: str, value: Any = None, instance_id: str | None = None) -> str:
    iid = instance_id or f"{name[:20]}-{uuid.uuid4().hex[:10]}"
    started: str = arun(host.client().start_new(name, iid, value))
    assert started == iid
    return iid


def started_input(body: Any) -> Any:
    """The value an SDK-started instance's status `input` (JSON text) stands for."""
    text = body["input"]
    return None if text is None else json.loads(text)


def status(host: Host, iid: str, query: str = "") -> Any:
    return host.status(iid, query).json()


def wait_for(
    host: Host, iid: str, statuses: set[str] = TERMINAL, timeout: float = 90, query: str = ""
) -> Any:
    """The status once runtimeStatus is one of `statuses`."""

    def reached() -> Any:
        body = status(host, iid, query)
        return body if body and body["runtimeStatus"] in statuses else None

    return wait_until(
        reached,
        timeout=timeout,
        message=lambda: (
            f"{iid} never reached {statuses}: {status(host, iid)}\n" + host.proc.log_tail()
        ),
    )


def wait_custom_status(host: Host, iid: str, expected: Any, timeout: float = 60) -> Any:
    """WaitForCustomStatusAsync (TestDurableClient.cs)."""
    return wait_until(
        lambda: status(host, iid)["customStatus"] == expected or None,
        timeout=timeout,
        message=lambda: f"{iid}: custom status {status(host, iid)['customStatus']!r}",
    )


def raise_event(host: Host, iid: str, name: str, data: Any = None) -> None:
    """RaiseEventAsync with a value: the raw API raises the JSON body as it is (the SDK's
    raise_event would deliver JSON text instead: test_operations.py pins that quirk)."""
    reply = host.post_json(f"/durabletask/instances/{iid}/raiseEvent/{name}", data)
    assert reply.status == 202, reply.body


def history(host: Host, iid: str, query: str = "?showHistory=true") -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = status(host, iid, query)["historyEvents"]
    return events


def history_has(host: Host, iid: str, kind: str, count: int = 1) -> bool:
    return sum(e["EventType"] == kind for e in history(host, iid)) >= count
