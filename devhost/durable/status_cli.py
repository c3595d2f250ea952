"""`python -m devhost status`: read the task hub tables directly (devhost need not run)."""

from __future__ import annotations

import json

from devhost.durable.events import EventType, public_event
from devhost.durable.instance import Instance
from devhost.durable.names import unescape_key
from devhost.durable.tracking import open_tracking


async def print_status(connection_string: str, hub: str, instance_id: str | None, top: int) -> int:
    async with open_tracking(connection_string, hub) as store:
        if instance_id:
            row = await store.read_instance(instance_id)
            if row is None:
                print(f"no instance {instance_id} in task hub {hub}")
                return 1
            inst = Instance.from_row(instance_id, row)
            print(f"{inst.instance_id}  {inst.name}  {inst.status}")
            print(f"  input:  {inst.input}")
            print(f"  output: {inst.output}")
            print(f"  custom: {inst.custom_status}")
            _, history = await store.read_history(instance_id)
            for ev in history:
                if ev["EventType"] in (
                    EventType.OrchestratorStarted,
                    EventType.OrchestratorCompleted,
                ):
                    continue
                pub = public_event(ev)
                kind, ts = pub.pop("EventType"), pub.pop("Timestamp", "")
                print(f"  {ts}  {kind:<34} {json.dumps(pub)[:160]}")
            return 0
        rows, _ = await store.query_instances(None, top, None)
        counts: dict[str, int] = {}
        for r in rows:
            status = str(r.get("RuntimeStatus"))
            counts[status] = counts.get(status, 0) + 1
            print(
                f"{unescape_key(r['PartitionKey']):<40} {r.get('Name', ''):<24} {status:<10} "
                f"{r.get('LastUpdatedTime')}"
            )
        print(f"task hub {hub}: {len(rows)} instance(s) shown " + json.dumps(counts))
        return 0
