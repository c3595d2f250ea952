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
import urllib.request
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Restarted:
    instance_id: str
    name: str
    blob: str | None = None  # the image the instance is about (from its input)
    reason: str | None = None  # why it failed


def _request(url: str, method: str = "GET", body: bytes | None = None) -> tuple[int, Any, Any]:
    req = urllib.request.Request(url, data=body, method=method)  # noqa: S310 - loopback URL
    if body is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
        raw = resp.read()
        return resp.status, (json.loads(raw) if raw else None), resp.headers


def failed_instances(base_url: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    token = ""
    while True:
        url = f"{base_url}/durabletask/instances/?runtimeStatus=Failed&showInput=true&top=500"
        req = urllib.request.Request(url)  # noqa: S310 - loopback URL
        if token:
            req.add_header("x-ms-continuation-token", token)
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
            out.extend(json.loads(resp.read() or b"[]"))
            token = resp.headers.get("x-ms-continuation-token") or ""
        if not token:
            return [i for i in out if i.get("runtimeStatus") == "Failed"]


def restart_failed(
    base_url: str, function_name: str | None = None, *, dry_run: bool = False
) -> list[Restarted]:
    """Restart every Failed instance (or, with dry_run, only list what would be restarted)."""
    from devhost.monitor.outcome import blob_name, outcome_of  # noqa: PLC0415

    restarted: list[Restarted] = []
    for inst in failed_instances(base_url):
        name = inst["name"]
        if function_name and name != function_name:
            continue
        iid = inst["instanceId"]
        blob = blob_name(inst.get("input"), inst.get("output"))
        reason = outcome_of("Failed", inst.get("output"))[1]
        if dry_run:
            restarted.append(Restarted(iid, name, blob, reason))
            continue
        body = json.dumps(json.dumps(inst.get("input"))).encode()  # the SDK double-encodes
        url = (
            f"{base_url}/durabletask/orchestrators/{urllib.parse.quote(name)}/"
            f"{urllib.parse.quote(iid, safe='')}"
        )
        _request(url, "POST", body)
        restarted.append(Restarted(iid, name, blob, reason))
    return restarted
