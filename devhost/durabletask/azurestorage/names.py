"""Names and keys of the DurableTask.AzureStorage layout (so Storage Explorer shows the same)."""

from __future__ import annotations

PARTITIONS = 4
_ESCAPES = {"^": "^^", "/": "^0", "\\": "^1", "#": "^2", "?": "^3"}
_UNESCAPES = {v[1]: k for k, v in _ESCAPES.items()}


def escape_key(value: str) -> str:
    """Table keys cannot hold / \\ # ?; DurableTask escapes them with ^."""
    return "".join(_ESCAPES.get(c, c) for c in value)


def unescape_key(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        if value[i] == "^" and i + 1 < len(value):
            out.append(_UNESCAPES.get(value[i + 1], value[i + 1]))
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def fnv1a32(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def partition_of(instance_id: str, partitions: int = PARTITIONS) -> int:
    return fnv1a32(instance_id.encode("utf-8")) % partitions


def control_queue(hub: str, partition: int) -> str:
    return f"{hub.lower()}-control-{partition:02d}"


def workitem_queue(hub: str) -> str:
    return f"{hub.lower()}-workitems"


def largemessages_container(hub: str) -> str:
    return f"{hub.lower()}-largemessages"


def instances_table(hub: str) -> str:
    return f"{hub}Instances"


def history_table(hub: str) -> str:
    return f"{hub}History"


def row_key(sequence: int) -> str:
    return f"{sequence:016X}"
