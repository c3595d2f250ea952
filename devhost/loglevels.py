"""host.json `logging.logLevel`, applied to devhost's console as the host's logger filter rules
apply to its categories (Microsoft.Extensions.Logging LoggerRuleSelector: the rule whose
category is the longest prefix of the record's category wins, ignoring case; "default" covers
the rest).

devhost's records carry the real host's categories: the Durable engine's lines are
`Host.Triggers.DurableTask`, an invocation's Executing/Executed lines are `Function.<Name>`,
the rest of the host is `Host.General`, and the app's own log records are `Function.User`
(the real host names them `Function.<Name>.User`; devhost does not know which function a
record came from, so a rule for one function's user logs is not applied: the catalog says so).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

DURABLE_CATEGORY = "Host.Triggers.DurableTask"
USER_CATEGORY = "Function.User"


def category_of(record: logging.LogRecord) -> str:
    name = record.name
    if name.startswith("devhost.durable"):
        return DURABLE_CATEGORY
    if name == "devhost.invoker" and isinstance(record.args, tuple) and record.args:
        return f"Function.{record.args[0]}"
    if name == "devhost" or name.startswith(("devhost.", "azure", "aiohttp", "urllib3")):
        return "Host.General"
    return USER_CATEGORY


class CategoryFilter(logging.Filter):
    """Drops a record below the level of the most specific rule for its category."""

    def __init__(self, rules: Mapping[str, int], base: int) -> None:
        super().__init__()
        self.rules = {k.lower(): v for k, v in rules.items() if k.lower() != "default"}
        self.base = rules.get("default", base)

    def threshold(self, category: str) -> int:
        lowered = category.lower()
        matches = [k for k in self.rules if lowered.startswith(k)]
        return self.rules[max(matches, key=len)] if matches else self.base

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.threshold(category_of(record))


def install(rules: Mapping[str, int]) -> CategoryFilter | None:
    """Put the filter on the root logger's handlers and lower the root level to the lowest
    rule, so a category set to Debug gets its records made. Without rules, or with --verbose,
    nothing changes."""
    root = logging.getLogger()
    if not rules or root.level <= logging.DEBUG:  # --verbose shows everything, as func's does
        return None
    found = CategoryFilter(rules, root.level)
    root.setLevel(min(found.base, *found.rules.values()) if found.rules else found.base)
    for handler in root.handlers:
        handler.addFilter(found)
    return found
