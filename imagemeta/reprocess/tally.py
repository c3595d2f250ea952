"""What a run did, counted as it goes; the summary and the one-line JSON come from here."""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from imagemeta.reprocess.api import Status
from imagemeta.textsafe import escape_text

FIRST = 5  # reasons kept per outcome: enough to act on, bounded at any scale
NAMES = 10  # names kept for --dry-run


def printable(text: str, limit: int = 200) -> str:
    """A blob name or reason safe for a terminal or a log (the app's one escaping function),
    cut to `limit` characters."""
    out = escape_text(text)
    return out if len(out) <= limit else out[: limit - 1] + "…"


def note(text: str) -> None:
    """One line for the operator on stderr (progress and summaries go elsewhere)."""
    print(f"reprocess: {text}", file=sys.stderr)


def first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def outcome_of(status: Status) -> tuple[str, str | None]:
    """(outcome, reason) of a finished instance: stored / duplicate / rejected / failed /
    terminated, from the orchestrator's output (imagemeta.orchestration)."""
    if status.runtime_status == "Completed":
        out = status.output if isinstance(status.output, dict) else {}
        outcome = out.get("status")
        if outcome in ("stored", "duplicate", "rejected"):
            reason = out.get("reason")
            return str(outcome), str(reason) if reason is not None else None
        return "failed", f"unexpected output {str(status.output)[:100]!r}"
    if status.runtime_status == "Failed":
        text = status.output if isinstance(status.output, str) else json.dumps(status.output)
        line = first_line(text)
        return "failed", line.rsplit(" failed: ", 2)[-1] if " failed: " in line else line
    return str(status.runtime_status or "gone").lower(), None


@dataclass
class Tally:
    mode: str
    dry_run: bool = False
    sql: bool = False
    listed: int = 0
    unsupported: int = 0
    outside: int = 0  # not in --modified-since/--until (or --prefix, for --failed)
    selected: int = 0
    already_stored: int = 0
    rejected_earlier: int = 0
    started: int = 0
    would_start: int = 0
    joined: int = 0  # already running in the app (trigger, earlier run): watched, not started
    stale: int = 0  # --failed: the blob was deleted or has a newer version since
    invalid: int = 0  # --failed: the instance's input is not a reference this app made
    errors: int = 0
    finished: Counter[str] = field(default_factory=Counter)
    reasons: dict[str, list[str]] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)  # --dry-run: the first that would start

    def reason(self, outcome: str, name: str, reason: str | None) -> None:
        kept = self.reasons.setdefault(outcome, [])
        if len(kept) < FIRST:
            kept.append(f"{printable(name)}: {printable(reason or '', 300)}")

    def finish(self, name: str, status: Status) -> str:
        outcome, reason = outcome_of(status)
        self.finished[outcome] += 1
        if outcome not in ("stored", "duplicate"):
            self.reason(outcome, name, reason)
        return outcome

    def error(self, name: str, message: str) -> None:
        self.errors += 1
        self.reason("error", name, message)

    @property
    def in_flight(self) -> int:
        return self.started + self.joined - sum(self.finished.values())

    @property
    def failed(self) -> int:
        return self.finished["failed"] + self.finished["terminated"] + self.errors

    def as_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "dryRun": self.dry_run,
            "comparedWith": ("ImageMetadata" if self.sql else "instances")
            if self.mode == "missing"
            else None,
            "listed": self.listed,
            "selected": self.selected,
            "started": self.started,
            "wouldStart": self.would_start,
            "alreadyStored": self.already_stored,
            "rejectedEarlier": self.rejected_earlier,
            "joined": self.joined,
            "stale": self.stale,
            "invalid": self.invalid,
            "stored": self.finished["stored"],
            "duplicate": self.finished["duplicate"],
            "rejected": self.finished["rejected"],
            "failed": self.finished["failed"] + self.finished["terminated"],
            "errors": self.errors,
            "unfinished": self.in_flight,
        }

    def summary(self, *, interrupted: bool = False) -> list[str]:
        compared = "ImageMetadata rows" if self.sql else "instance state"
        head = "dry run: nothing started" if self.dry_run else "reprocess"
        how = f", compared with {compared}" if self.mode == "missing" else ""
        lines = [
            f"{head} (--{self.mode}{how})",
            f"  listed {self.listed} blobs: {self.selected} selected, {self.unsupported} not "
            f"images, {self.outside} outside --prefix/--modified-since/--until",
        ]
        if self.mode == "failed":
            lines.append(f"  skipped: {self.stale} blob gone or replaced, {self.invalid} invalid")
        else:
            lines.append(
                f"  skipped: {self.already_stored} already stored, {self.rejected_earlier} "
                "rejected earlier (--all reads them again)"
            )
        if self.dry_run:
            lines.append(f"  would start {self.would_start}; {self.joined} already running")
            lines += [f"    {n}" for n in self.names]
            if self.would_start > len(self.names):
                lines.append(f"    ... and {self.would_start - len(self.names)} more")
        else:
            f = self.finished
            lines.append(
                f"  started {self.started}, joined {self.joined} already running; finished: "
                f"stored {f['stored']}, duplicate {f['duplicate']}, rejected {f['rejected']}, "
                f"failed {f['failed'] + f['terminated']}, errors {self.errors}"
            )
        for outcome, kept in self.reasons.items():
            lines.append(f"  first {outcome}:")
            lines += [f"    {k}" for k in kept]
        if interrupted or self.in_flight:
            lines.append(
                f"  interrupted: {self.in_flight} orchestrations still run in the app; run the "
                "same command again to continue (nothing is started twice)"
            )
        return lines
