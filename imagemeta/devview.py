"""The image pipeline's words for devhost's tools (monitor, `devhost status`, restart-failed,
the host's finish line): an instance is about a blob and ends stored, duplicate or rejected.

A plug-in named by `DEVHOST_APP_VIEW` in local.settings.json; devhost imports it, it imports
nothing of devhost (devhost.monitor.appview documents the contract). Never used in Azure.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

OUTCOMES = ("stored", "duplicate", "rejected", "failed", "terminated", "running")
PROBLEMS = ("failed", "rejected")
SUBJECT_LABEL = "Blob"
SKIPPED_EXTENSION = "not a .jpg, .jpeg, .png or .gif"  # BlobTriggerClient's log line says so too
ROWS_SETTING = "SqlConnectionString"
ROWS_SUBJECT_COLUMN = "FileName"  # the blob name: the monitor links a row to its instances
COLUMNS = ("Id", "FileName", "FileSizeKB", "Width", "Height", "Format", "UploadedOn", "BlobETag")


def _payload(value: Any) -> Any:
    """JSON text (an SDK-started input is JSON text holding JSON) decoded, the rest kept."""
    for _ in range(2):
        if not isinstance(value, str) or not value.strip():
            return value
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return value


def _first_line(text: str, limit: int = 300) -> str:
    line = next((raw.strip() for raw in text.splitlines() if raw.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def blob_of(input_value: Any, output_value: Any = None, custom_status: Any = None) -> str | None:
    """The blob an instance is about: its input reference, else its output or custom status."""
    for candidate, key in (
        (_payload(input_value), "name"),
        (_payload(output_value), "blob"),
        (_payload(custom_status), "blob"),
    ):
        if isinstance(candidate, dict) and isinstance(candidate.get(key), str):
            return str(candidate[key])
    return None


def describe(
    runtime_status: str,
    input_value: Any,
    output_value: Any,
    custom_status: Any,
    *,
    outcome: str,
    reason: str | None,
) -> tuple[str | None, str, str | None]:
    """(blob, outcome, reason): a Completed instance's output says stored / duplicate /
    rejected (with its reason); other statuses keep devhost's generic outcome."""
    blob = blob_of(input_value, output_value, custom_status)
    if runtime_status != "Completed":
        return blob, outcome, reason
    data = _payload(output_value)
    status = data.get("status") if isinstance(data, dict) else None
    if status in ("stored", "duplicate"):
        return blob, str(status), None
    if status == "rejected":
        return blob, "rejected", _first_line(str(data.get("reason") or "")) or None
    return blob, "stored", None


def skipped(function_name: str, blob_name: str) -> str | None:
    """Why BlobTriggerClient starts no orchestration for this blob (its own rule), or None."""
    from imagemeta.blobref import is_supported_name  # noqa: PLC0415

    if function_name == "BlobTriggerClient" and not is_supported_name(blob_name):
        return SKIPPED_EXTENSION
    return None


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):  # SQL's datetime2 comes back naive; the column is UTC
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, bytes | bytearray):
        return value.hex()
    return value


def _after_id(after: str | None) -> int | None:
    if after is None:
        return None
    if not after.isdigit() or len(after) > 19:
        raise ValueError(f"{after[:40]!r} is not a row id")
    return int(after)


def rows(
    connection_string: str, limit: int, name: str | None = None, after: str | None = None
) -> dict[str, Any]:
    """The latest `ImageMetadata` rows (or one blob name's), newest first, a page at a time:
    `after` is the last Id of the page before (keyset paging, so a page costs the same however
    deep it is and rows inserted meanwhile do not shift it), `next` the continuation or None.
    Dialect-neutral SQL (no TOP/LIMIT/OFFSET: the cursor stops early)."""
    import pyodbc  # noqa: PLC0415  (only when the Rows view is asked for)

    size = max(1, min(limit, 1000))
    last = _after_id(after)
    where: list[tuple[str, str | int]] = [("FileName = ?", name)] if name is not None else []
    where += [("Id < ?", last)] if last is not None else []
    clause = (" WHERE " + " AND ".join(w for w, _ in where)) if where else ""
    sql = f"SELECT {', '.join(COLUMNS)} FROM ImageMetadata{clause} ORDER BY Id DESC"  # noqa: S608
    with pyodbc.connect(connection_string, autocommit=True, timeout=5) as conn:
        cur = conn.execute(sql, *(v for _, v in where))
        fetched = cur.fetchmany(size + 1)  # one more tells whether a next page exists
        cur.close()
        counts = conn.execute(
            "SELECT Format, COUNT(*) FROM ImageMetadata GROUP BY Format"
        ).fetchall()
    found = [{c: _plain(v) for c, v in zip(COLUMNS, r, strict=True)} for r in fetched[:size]]
    nxt = str(found[-1]["Id"]) if len(fetched) > size else None
    by_format = {str(f): int(n) for f, n in counts}
    return {"total": sum(by_format.values()), "byFormat": by_format, "rows": found, "next": nxt}
