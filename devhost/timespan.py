""".NET TimeSpan text as the host reads and prints it, for every host.json time span.

One parser below both readers (host.json's Durable and queue settings in hostsettings.py,
`functionTimeout` in timeouts.py): the host binds all of them with TimeSpan.Parse under the
invariant culture (dotnet/runtime `TimeSpanParse.cs`), so they accept and refuse the same text.
"""

from __future__ import annotations

import re

# TimeSpan.Parse's invariant forms: "d" or "[d.]hh:mm[:ss[.fffffff]]", an optional sign.
_TIMESPAN = re.compile(
    r"\s*(-)?(?:(\d+)|(?:(\d+)\.)?(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,7}))?)?)\s*"
)


class TimeSpanError(ValueError):
    """Text TimeSpan.Parse refuses; `out_of_range` when its form is right but a field is not
    (hours over 23, minutes or seconds over 59), which .NET reports as an overflow."""

    def __init__(self, text: str, out_of_range: bool = False) -> None:
        super().__init__(text)
        self.out_of_range = out_of_range


def parse_timespan(text: str) -> float:
    """Seconds in a TimeSpan string ("2" is two days, as TimeSpan.Parse reads it)."""
    m = _TIMESPAN.fullmatch(text)
    if m is None:
        raise TimeSpanError(text)
    sign, days_only, days, hours, minutes, seconds, fraction = m.groups()
    if days_only is not None:
        total = int(days_only) * 86400.0
    else:
        h, mi, s = int(hours), int(minutes), int(seconds or 0)
        if h > 23 or mi > 59 or s > 59:
            raise TimeSpanError(text, out_of_range=True)
        frac = float(f"0.{fraction}") if fraction else 0.0
        total = int(days or 0) * 86400.0 + h * 3600 + mi * 60 + s + frac
    return -total if sign else total


def format_timespan(seconds: float) -> str:
    """TimeSpan.ToString(): `[-][d.]hh:mm:ss[.fffffff]`."""
    ticks = round(abs(seconds) * 10_000_000)
    whole, frac = divmod(ticks, 10_000_000)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    if days:
        text = f"{days}.{text}"
    if frac:
        text += f".{frac:07d}"
    return ("-" if seconds < 0 else "") + text
