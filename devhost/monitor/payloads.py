"""Reading any Durable app's payloads: JSON text, failure output, its first line.

Pure functions over what the Durable HTTP API (or the Instances table) holds. Inputs of
SDK-started instances are JSON *text* in Azure (a string holding JSON): `parse_payload` unwraps
both forms. What an instance *means* (its subject, its outcome) is the app's: see appview.
"""

from __future__ import annotations

import json
from typing import Any

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
