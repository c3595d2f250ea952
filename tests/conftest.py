"""Shared fixtures: a real Azurite per test session and a real SQLite ODBC database per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost.azurite import Azurite

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """One Azurite for the session on random free ports with a temp --location."""
    root = tmp_path_factory.mktemp("azurite")
    server = Azurite(location=root / "data", log_path=root / "azurite.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def storage_connection_string(azurite: Azurite) -> str:
    return azurite.connection_string


@pytest.fixture
def unique_name() -> str:
    """A fresh lowercase name usable as a container, queue or hub suffix."""
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture
def sqlite_connection_string(tmp_path: Path) -> str:
    """pyodbc connection string for a fresh SQLite database through the SQLite3 ODBC driver."""
    return f"Driver={{SQLite3}};Database={tmp_path / 'imagemetadata.db'}"


@pytest.fixture(autouse=True)
def _no_proxy_for_loopback() -> Iterator[None]:
    # Some CI machines set HTTP(S)_PROXY; Azurite and devhost live on loopback.
    old = os.environ.get("NO_PROXY")
    os.environ["NO_PROXY"] = "127.0.0.1,localhost" + ("," + old if old else "")
    yield
    if old is None:
        os.environ.pop("NO_PROXY", None)
    else:
        os.environ["NO_PROXY"] = old
