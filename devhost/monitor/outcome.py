"""What an instance means for the image pipeline: its blob, its outcome and the reason.

Pure functions over what the Durable HTTP API (or the Instances table) holds, so the monitor,
the `status` CLI and the host's log line all say the same thing. Inputs of SDK-started
instances are JSON *text* in Azure (a string holding JSON): `parse_payload` unwraps both forms.
"""

from __future__ import annotations

import json
from typing import Any

from devhost.textsafe import escape

OUTCOMES = ("stored", "duplicate", "rejected", "failed", "terminated", "running")
ACTIVE_STATUSES = frozenset({"Pending", "Running", "Suspended", "ContinuedAsNew"})


def parse_payload(value: Any) -> Any:
    """A payload as JSON data: JSON text (possibly double-encoded) is decoded, the rest kept."""
    for _ in range(2):
        if not isinstance(value, str) or not value:
            return value
        stripped = value.lstrip()
        if not stripped or stripped[0] not in '{["0123456789-tfn':
            return value
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return value


def blob_name(input_value: Any, output_value: Any = None, custom_status: Any = None) -> str | None:
    """The blob an instance is about: its input reference, else its output or custom status."""
    for candidate, key in (
        (parse_payload(input_value), "name"),
        (parse_payload(output_value), "blob"),
        (parse_payload(custom_status), "blob"),
    ):
        if isinstance(candidate, dict) and isinstance(candidate.get(key), str):
            return str(candidate[key])
    return None


def first_line(text: str, limit: int = 300) -> str:
    for raw in text.splitlines():
        line = raw.strip()
        if line:
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return ""


def failure_text(output_value: Any) -> str:
    """The failure a Failed instance reports (its output), as readable text."""
    data = parse_payload(output_value)
    if isinstance(data, dict):
        for key in ("message", "Message", "ErrorMessage", "reason", "details"):
            if isinstance(data.get(key), str):
                return str(data[key])
        return json.dumps(data)
    return "" if data is None else str(data)


def failure_reason(output_value: Any) -> str:
    """One line: the innermost cause of a failure, prefixed by the failing activity."""
    text = failure_text(output_value)
    line = first_line(text, 10_000)
    # "Orchestrator function 'X' failed: Activity function 'Y' failed: Z: msg" -> "Y: Z: msg"
    activity = ""
    marker = "Activity function '"
    if marker in line:
        start = line.index(marker) + len(marker)
        activity = line[start : line.find("'", start)]
    core = line.rsplit(" failed: ", 1)[-1] if " failed: " in line else line
    reason = f"{activity}: {core}" if activity and not core.startswith(activity) else core
    return first_line(reason)


def outcome_of(runtime_status: str, output_value: Any) -> tuple[str, str | None]:
    """(outcome, reason): stored / duplicate / rejected (with reason) / failed (with reason) /
    terminated / running."""
    if runtime_status in ACTIVE_STATUSES:
        return "running", None
    if runtime_status == "Failed":
        return "failed", failure_reason(output_value) or None
    if runtime_status == "Terminated":
        reason = parse_payload(output_value)
        return "terminated", (first_line(str(reason)) or None) if reason else None
    data = parse_payload(output_value)
    if isinstance(data, dict):
        status = data.get("status")
        if status in ("stored", "duplicate"):
            return str(status), None
        if status == "rejected":
            return "rejected", first_line(str(data.get("reason") or "")) or None
    return "stored" if runtime_status == "Completed" else runtime_status.lower(), None


def finish_log_line(
    name: str, instance_id: str, status: str, input_text: Any, output_text: Any
) -> str:
    """The host's line for a finished orchestration, naming the blob, instance and reason:
    `Orchestration 'OrchestratorFunction' (abc123) failed: blob images/x.png: StoreMetadata:
    TransientStoreError: database is locked`."""
    blob = blob_name(input_text, output_text)
    outcome, reason = outcome_of(status, output_text)
    parts = [f"Orchestration '{name}' ({instance_id}) {status.lower()}"]
    details = []
    if blob:
        details.append(f"blob {blob}")
    if status == "Completed" and outcome in ("rejected", "duplicate"):
        details.append(outcome)
    if reason:
        details.append(reason)
    # One line whatever the names hold: blob names and reasons come from outside.
    return escape(parts[0] + (": " + ": ".join(details) if details else ""))
