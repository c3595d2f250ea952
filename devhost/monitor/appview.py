"""What devhost's tools say about an instance, and how an app tells them more.

devhost is a generic Durable host: on its own, the monitor, `devhost status`, `restart-failed`
and the host's finish line describe an instance by its runtime status (outcome `completed`,
`failed`, `terminated` or `running`) and the failure's first line. An app can name a plug-in
module in the app setting `DEVHOST_APP_VIEW` (local.settings.json `Values`; it is never
deployed) or with `--app-view`; the module may define, all optional:

- `describe(runtime_status, input, output, custom_status, *, outcome, reason)` returning
  `(subject, outcome, reason)`: the instance's subject (what it is about) and the app's own
  outcome words, given the generic outcome and reason;
- `OUTCOMES` (display order), `PROBLEMS` (outcomes listed as failures), `SUBJECT_LABEL`;
- `rows(connection_string, limit, name, after=None)` and `ROWS_SETTING` (the app setting
  holding that connection string), `ROWS_SUBJECT_COLUMN` (the column holding an instance's
  subject, which the monitor links to that subject's instances): an extra "Rows" view of the
  app's own data, newest first,
  `{"total", "rows", "next", ...}`. `next` is an opaque continuation (text) for the page after
  this one, None on the last; passed back as `after`. A `rows` without `after` is one page.
- `skipped(function_name, blob_name)` returning why that blob-trigger function starts nothing
  for the blob (e.g. an extension it ignores), or None: the host records the reason after the
  function ran (devhost.blobtrigger.skips) and `status` and the monitor count skips by reason.

The plug-in imports nothing of devhost (the module ships with the app, devhost does not).
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from devhost.config import ConfigError
from devhost.durabletask.model.state import Instance
from devhost.monitor.payloads import ACTIVE_STATUSES, failure_reason, first_line, parse_payload
from devhost.textsafe import escape

SETTING = "DEVHOST_APP_VIEW"
GENERIC_OUTCOMES = ("completed", "failed", "terminated", "running")

Describe = Callable[..., tuple[str | None, str, str | None]]
Rows = Callable[..., dict[str, Any]]
Skipped = Callable[[str, str], str | None]


class AppViewError(ConfigError):
    """The configured plug-in cannot be imported or is malformed (one line, exit 2)."""


@dataclass(frozen=True)
class Described:
    subject: str | None
    outcome: str
    reason: str | None


def generic_outcome(runtime_status: str, output_value: Any) -> tuple[str, str | None]:
    if runtime_status in ACTIVE_STATUSES:
        return "running", None
    if runtime_status == "Failed":
        return "failed", failure_reason(output_value) or None
    if runtime_status == "Terminated":
        reason = parse_payload(output_value)
        return "terminated", (first_line(str(reason)) or None) if reason else None
    return runtime_status.lower() or "unknown", None


@dataclass(frozen=True)
class AppView:
    name: str = "generic"
    app_describe: Describe | None = None
    outcomes: tuple[str, ...] = GENERIC_OUTCOMES
    problems: frozenset[str] = frozenset({"failed"})
    subject_label: str = "Subject"
    rows: Rows | None = None
    rows_setting: str | None = None
    rows_subject_column: str | None = None
    rows_page: bool = False  # its rows() takes `after` (continuation)
    app_skipped: Skipped | None = None

    def skip_reason(self, function_name: str, blob_name: str) -> str | None:
        """Why the app's trigger function started nothing for this blob (None: it did, or
        the app does not say). The app's code: an error in it is a reason, never a crash."""
        if self.app_skipped is None:
            return None
        try:
            reason = self.app_skipped(function_name, blob_name)
        except Exception as exc:
            return f"app view failed: {first_line(str(exc))}"
        return first_line(str(reason)) if reason else None

    def describe(
        self, runtime_status: str, input_value: Any, output_value: Any, custom_status: Any = None
    ) -> Described:
        outcome, reason = generic_outcome(runtime_status, output_value)
        if self.app_describe is None:
            return Described(None, outcome, reason)
        try:
            subject, outcome, reason = self.app_describe(
                runtime_status, input_value, output_value, custom_status,
                outcome=outcome, reason=reason,
            )  # fmt: skip
        except Exception as exc:  # the app's code: never let it break a listing
            return Described(None, outcome, f"{reason or ''} (app view failed: {exc})".strip())
        return Described(subject, outcome, reason)

    def finish_line(
        self, name: str, instance_id: str, status: str, input_value: Any, output_value: Any
    ) -> str:
        """`Orchestration 'X' (id) failed: <subject>: <reason>` — the host's line for an
        instance that reached a terminal status."""
        d = self.describe(status, input_value, output_value)
        details = [f"{self.subject_label.lower()} {d.subject}"] if d.subject else []
        if status == "Completed" and d.outcome != "completed":
            details.append(d.outcome)
        if d.reason:
            details.append(d.reason)
        head = f"Orchestration '{name}' ({instance_id}) {status.lower()}"
        # One line whatever the names hold: subjects and reasons come from outside.
        return escape(head + (": " + ": ".join(details) if details else ""))

    def finish_hook(self, logger: logging.Logger) -> Callable[[Instance], None]:
        """What the host's engine calls when an instance reaches a terminal status."""

        def hook(inst: Instance) -> None:
            line = self.finish_line(
                inst.name, inst.instance_id, inst.status, inst.input, inst.output
            )
            logger.info("%s", line)

        return hook

    def banner_line(self) -> str:
        if self.app_describe is None:
            return "App view: generic (runtime statuses; set DEVHOST_APP_VIEW for the app's words)"
        return f"App view: {self.name} (outcomes: {', '.join(self.outcomes)})"


GENERIC = AppView()


def load_app_view(spec: str | None) -> AppView:
    """The plug-in module `spec` as an AppView; the generic view when `spec` is empty."""
    if not spec:
        return GENERIC
    try:
        module = importlib.import_module(spec)
    except Exception as exc:
        raise AppViewError(f"app view {spec!r} cannot be imported: {exc}") from exc
    outcomes = tuple(getattr(module, "OUTCOMES", GENERIC_OUTCOMES))
    describe = getattr(module, "describe", None)
    rows = getattr(module, "rows", None)
    skipped = getattr(module, "skipped", None)
    for label, fn in (("describe", describe), ("rows", rows), ("skipped", skipped)):
        if fn is not None and not callable(fn):
            raise AppViewError(f"app view {spec!r}: {label} is not a function")
    return AppView(
        name=spec,
        app_describe=describe,
        outcomes=outcomes,
        problems=frozenset(getattr(module, "PROBLEMS", ("failed",))),
        subject_label=str(getattr(module, "SUBJECT_LABEL", "Subject")),
        rows=rows,
        rows_setting=getattr(module, "ROWS_SETTING", None),
        rows_subject_column=getattr(module, "ROWS_SUBJECT_COLUMN", None),
        rows_page=rows is not None and _takes(rows, "after"),
        app_skipped=skipped,
    )


def _takes(fn: Callable[..., Any], name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def app_view_from_settings(settings: Mapping[str, str], override: str | None = None) -> AppView:
    return load_app_view(override or settings.get(SETTING) or None)
