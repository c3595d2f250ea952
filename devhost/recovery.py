"""Re-run failed orchestrations once the cause is fixed (e.g. the database is back).

`python -m devhost restart-failed` lists Failed instances through the Durable HTTP API and
restarts each under the same instance id with its original input through the API's own
restart operation (`POST instances/{id}/restart?restartWithNewInstanceId=false`, what the SDK's
`client.restart(id, restart_with_new_instance_id=False)` calls), so it works unchanged against
a deployed app. Restarting a Failed instance overwrites it (DurableClient.RestartAsync); an app
whose activities are idempotent (the image pipeline's INSERT is) gets no duplicate effect.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any

from devhost.monitor.appview import GENERIC, AppView
from devhost.remote_api import API_PATH, iter_instances, request_json


@dataclass(frozen=True)
class Restarted:
    instance_id: str
    name: str
    subject: str | None = None  # what the instance is about, in the app view's words
    reason: str | None = None  # why it failed


def failed_instances(base_url: str, key: str | None = None) -> list[dict[str, Any]]:
    found = iter_instances(base_url, key=key, runtimeStatus="Failed", showInput=True, top=500)
    return [i for i in found if i.get("runtimeStatus") == "Failed"]


def restart_failed(
    base_url: str,
    function_name: str | None = None,
    *,
    dry_run: bool = False,
    key: str | None = None,
    view: AppView = GENERIC,
) -> list[Restarted]:
    """Restart every Failed instance (or, with dry_run, only list what would be restarted)."""
    failed = failed_instances(base_url, key)  # first: devhost down is reported at once
    restarted: list[Restarted] = []
    for inst in failed:
        name = inst["name"]
        if function_name and name != function_name:
            continue
        iid = inst["instanceId"]
        d = view.describe("Failed", inst.get("input"), inst.get("output"))
        subject, reason = d.subject, d.reason
        if dry_run:
            restarted.append(Restarted(iid, name, subject, reason))
            continue
        url = (
            f"{base_url}{API_PATH}/instances/{urllib.parse.quote(iid, safe='')}/restart"
            "?restartWithNewInstanceId=false"
        )
        request_json(url, "POST", key=key)
        restarted.append(Restarted(iid, name, subject, reason))
    return restarted
