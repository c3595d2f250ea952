"""Query-string parsing as the extension does it (HttpRequestMessageExtensions's
GetQueryNameValuePairs and HttpApiHandler's TryGet*QueryParameterValue): names match
case-insensitively, a repeated name reads as its values joined with commas (NameValueCollection),
and a value that does not parse is *ignored* (the default is used) rather than rejected."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from multidict import MultiMapping

from devhost.durabletask.model.status import RuntimeStatus

# DurableTask.Core OrchestrationStatus / the extension's OrchestrationRuntimeStatus numbers.
STATUS_NUMBERS: dict[int, str] = {
    -1: "Unknown",
    0: "Running",
    1: "Completed",
    2: "ContinuedAsNew",
    3: "Failed",
    4: "Canceled",
    5: "Terminated",
    6: "Pending",
    7: "Suspended",
}
_INT = re.compile(r"^\s*[+-]?\d+\s*$")


class Query:
    """GetQueryNameValuePairs: case-insensitive names, `[name]` joins repeats with ','."""

    def __init__(self, query: MultiMapping[str]) -> None:
        self._values: dict[str, list[str]] = {}
        for key, value in query.items():
            self._values.setdefault(key.strip().lower(), []).append(value.strip())

    def get(self, name: str) -> str | None:
        values = self._values.get(name.lower())
        return ",".join(values) if values else None

    def values(self, name: str) -> list[str]:
        return list(self._values.get(name.lower(), []))


def parse_bool(value: str | None) -> bool | None:
    """bool.TryParse: 'true'/'false' in any case, surrounding whitespace allowed."""
    text = (value or "").strip().lower()
    return {"true": True, "false": False}.get(text)


def parse_int(value: str | None) -> int | None:
    """int.TryParse (Int32, optional sign and whitespace)."""
    if value is None or not _INT.match(value):
        return None
    number = int(value)
    return number if -(2**31) <= number < 2**31 else None


def parse_seconds(value: str | None) -> float | None:
    """double.TryParse, as TryGetTimeSpanQueryParameterValue reads `timeout`/`pollingInterval`
    (.NET Core parses an out-of-range number as infinity, and NaN; TimeSpan then refuses them)."""
    try:
        return float((value or "").strip())
    except ValueError:
        return None


_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y")


def parse_datetime(value: str | None) -> datetime | None:
    """DateTime.TryParse for the forms clients send (ISO 8601, with or without offset); a time
    without offset is UTC (the Functions host runs in UTC)."""
    text = (value or "").strip()
    if not text:
        return None
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        for fmt in _DATE_FORMATS:
            try:
                parsed = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_statuses(query: Query, name: str = "runtimeStatus") -> list[str]:
    """TryGetIEnumerableQueryParameterValue<OrchestrationRuntimeStatus>: every comma-separated
    value Enum.TryParse accepts (names case-sensitively, or numbers); others are skipped."""
    names = {s.value for s in RuntimeStatus} | {"Canceled", "Unknown"}
    out: list[str] = []
    for raw in query.values(name):
        for part in raw.split(","):
            token = part.strip()
            if token in names:
                out.append(token)
            elif _INT.match(token):
                out.append(STATUS_NUMBERS.get(int(token), str(int(token))))
    return out
