"""Re-run failed orchestrations once the cause is fixed (e.g. the database is back).

`python -m devhost restart-failed` lists Failed instances through the Durable HTTP API and
restarts each under the same instance id with its original input through the API's own
restart operation (`POST instances/{id}/restart?restartWithNewInstanceId=false`, what the SDK's
`client.restart(id, restart_with_new_instance_id=False)` calls), so it works unchanged against
a deployed app. Restarting a Failed instance overwrites it (DurableClient.RestartAsync), and the
store's idempotent insert keeps this at one row per blob version even if a failed attempt had
already written its row.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any

from devhost.durable_api_client import API_PATH, iter_instances, request_json


@dataclass(frozen=True)
class Restarted:
    instance_id: str
    name: str
    blob: str | None = None  # the image the instance is about (from its input)
    reason: str | None = None  # why it failed


def failed_instances(base_url: str) -> list[dict[str, Any]]:
    found = iter_instances(base_url, runtimeStatus="Failed", showInput=True, top=500)
    return [i for i in found if i.get("runtimeStatus") == "Failed"]


def restart_failed(
    base_url: str, function_name: str | None = None, *, dry_run: bool = False
) -> list[Restarted]:
    """Restart every Failed instance (or, with dry_run, only list what would be restarted)."""
    failed = failed_instances(base_url)  # first: devhost down is reported before more imports
    from devhost.monitor.outcome import blob_name, outcome_of  # noqa: PLC0415

    restarted: list[Restarted] = []
    for inst in failed:
        name = inst["name"]
        if function_name and name != function_name:
            continue
        iid = inst["instanceId"]
        blob = blob_name(inst.get("input"), inst.get("output"))
        reason = outcome_of("Failed", inst.get("output"))[1]
        if dry_run:
            restarted.append(Restarted(iid, name, blob, reason))
            continue
        url = (
            f"{base_url}{API_PATH}/instances/{urllib.parse.quote(iid, safe='')}/restart"
            "?restartWithNewInstanceId=false"
        )
        request_json(url, "POST")
        restarted.append(Restarted(iid, name, blob, reason))
    return restarted
