"""Re-run failed orchestrations once the cause is fixed (e.g. the database is back).

`python -m devhost restart-failed` lists Failed instances through the Durable HTTP API and
starts each again under the same instance id with its original input — what the SDK's
`client.restart(id, restart_with_new_instance_id=False)` does. Starting an id whose instance
is Failed overwrites it (as in the real extension), and the store's idempotent insert keeps
this at one row per blob version even if a failed attempt had already written its row.
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from typing import Any

from devhost.durable_api_client import API_PATH, iter_instances, request_json


@dataclass(frozen=True)
class Restarted:
    instance_id: str
    name: str


def failed_instances(base_url: str) -> list[dict[str, Any]]:
    found = iter_instances(base_url, runtimeStatus="Failed", showInput=True, top=500)
    return [i for i in found if i.get("runtimeStatus") == "Failed"]


def restart_failed(base_url: str, function_name: str | None = None) -> list[Restarted]:
    restarted: list[Restarted] = []
    for inst in failed_instances(base_url):
        name = inst["name"]
        if function_name and name != function_name:
            continue
        iid = inst["instanceId"]
        body = json.dumps(inst.get("input"))  # the SDK double-encodes
        url = (
            f"{base_url}{API_PATH}/orchestrators/{urllib.parse.quote(name)}/"
            f"{urllib.parse.quote(iid, safe='')}"
        )
        request_json(url, "POST", body)
        restarted.append(Restarted(instance_id=iid, name=name))
    return restarted
