"""host.json logging.logLevel on devhost's console (devhost/loglevels.py), by the rules of
Microsoft.Extensions.Logging's LoggerRuleSelector: the rule whose category is the longest
prefix of the record's category wins (ignoring case); "default" covers every other category."""

from __future__ import annotations

import logging

import pytest

from devhost.hostsettings import log_levels
from devhost.loglevels import CategoryFilter, category_of, install


def record(logger: str, level: int, *args: object) -> logging.LogRecord:
    return logging.LogRecord(logger, level, "", 0, "m %s", args or None, None)


def test_records_carry_the_real_hosts_categories() -> None:
    assert category_of(record("devhost.durable", logging.INFO)) == "Host.Triggers.DurableTask"
    assert category_of(record("devhost.invoker", logging.INFO, "Resize")) == "Function.Resize"
    assert category_of(record("devhost", logging.INFO)) == "Host.General"
    assert category_of(record("imagemeta.extract", logging.INFO)) == "Function.User"
    assert category_of(record("root", logging.INFO)) == "Function.User"


def test_the_most_specific_category_rule_wins() -> None:
    rules = log_levels(
        {
            "logging": {
                "logLevel": {
                    "default": "Warning",
                    "Function": "Error",
                    "function.resize": "Debug",
                    "Host.Triggers.DurableTask": "None",
                }
            }
        }
    )
    found = CategoryFilter(rules, logging.INFO)
    assert found.filter(record("devhost.invoker", logging.DEBUG, "Resize"))  # Function.Resize
    assert not found.filter(record("devhost.invoker", logging.WARNING, "Other"))  # Function
    assert not found.filter(record("app", logging.WARNING))  # Function.User under Function
    assert found.filter(record("app", logging.ERROR))
    assert not found.filter(record("devhost.durable", logging.CRITICAL))  # None: nothing
    assert not found.filter(record("devhost", logging.INFO))  # default Warning
    assert found.filter(record("devhost", logging.WARNING))


def test_without_a_default_the_console_level_stays() -> None:
    found = CategoryFilter(log_levels({"logging": {"logLevel": {"Function": "Error"}}}), 10)
    assert found.filter(record("devhost", logging.DEBUG))
    assert not found.filter(record("app", logging.INFO))


def test_verbose_keeps_every_line(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    handler = logging.StreamHandler()
    monkeypatch.setattr(root, "handlers", [handler])
    monkeypatch.setattr(root, "level", logging.DEBUG)
    assert install({"default": logging.WARNING}) is None and handler.filters == []
    monkeypatch.setattr(root, "level", logging.INFO)
    assert install({"default": logging.WARNING}) is not None and len(handler.filters) == 1
    assert root.level == logging.WARNING
