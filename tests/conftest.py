"""Shared fixtures (a real Azurite per test session, a real SQLite ODBC database per test) and
each test's kind marker, given by its folder (tests/README.md, "Markers and folders")."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost.azurite import Azurite

REPO_ROOT = Path(__file__).resolve().parent.parent
TESTS = REPO_ROOT / "tests"

# What a test needs to run, from cheapest to dearest. `-m unit` is the fast suite.
KINDS = ("unit", "storage", "host", "browser")
# The kind of every test under a path (relative to tests/): the longest matching entry wins, so
# a file is listed only where its folder holds more than one kind. A test may also carry a kind
# marker itself. A test under no entry stops the run: say what a new folder needs here.
KIND_BY_PATH = {
    "unit": "unit",
    "devhost": "unit",
    "devhost/azurestorage": "storage",
    "devhost/test_azurite_split.py": "storage",
    "devhost/test_azurite_patches.py": "storage",
    "devhost/blobtrigger/test_listener.py": "storage",
    "devhost/blobtrigger/test_skips.py": "storage",
    "devhost/blobtrigger/test_two_apps.py": "host",
    "devhost/test_bindings.py": "host",
    "devhost/test_cli.py": "host",
    "devhost/test_cli_upload.py": "host",
    "devhost/test_loader.py": "host",
    "devhost/test_sdkshortcuts.py": "storage",
    "devhost/test_activity_bindings.py": "storage",
    "devhost/test_worker_host.py": "host",
    "devhost/test_startup.py": "host",
    "devhost/test_http_routes.py": "host",
    "devhost/test_settings_start.py": "host",
    "conformance": "host",
    "e2e": "host",
    "reliability": "host",
    "readme": "host",
    "monitor": "browser",
    "integration": "storage",
    "integration/test_store_sqlite.py": "unit",
    "integration/test_bench_smoke.py": "host",
    "bench": "unit",
    "security": "unit",
    "security/test_forged_input.py": "host",
    "security/test_hostile_headers.py": "storage",
    "security/test_network_key.py": "host",
    "infra": "host",
    "infra/test_package.py": "unit",
    "deploy": "host",
    "cli": "host",
    "reprocess": "host",
    "integration/test_db_cli.py": "host",
    "security/test_listeners.py": "browser",
    "security/test_secrets_argv.py": "host",
    "security/test_output_escaping.py": "host",
}
# Fixtures that start or need Azurite: a unit test that asks for one is mapped wrongly.
STORAGE_FIXTURES = {"azurite", "azurite_fresh", "storage_connection_string", "pipeline_factory"}


def kind_of(path: Path) -> str | None:
    full = path.resolve()
    rel = full.relative_to(TESTS).as_posix() if full.is_relative_to(TESTS) else ""
    matches = [p for p in KIND_BY_PATH if rel and (rel == p or rel.startswith(p + "/"))]
    return KIND_BY_PATH[max(matches, key=len)] if matches else None


@pytest.fixture(autouse=True)
def _environment_restored() -> Iterator[None]:
    """Every test leaves os.environ as it found it. devhost's load_config puts local.settings.json
    Values (and an explicit storage connection) into os.environ, as `func start` does for its own
    process; in the test process that leaked into every later subprocess: `make demo` then ran its
    devhost against an earlier test's Azurite (AzureWebJobsStorage already set wins) and stored
    no row. Function-scoped, so it snapshots after the session's own fixtures have set theirs."""
    saved = dict(os.environ)
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """`-m unit` does not import the other kinds' modules: collecting them (the storage SDKs'
    fixtures, the host, the browser helpers) was 4-5 s of the fast suite. A file mapped to
    another kind is still collected when it marks a test unit itself (tests/devhost/azurestorage/
    test_queues.py does), so the deselection below stays the one rule."""
    if config.getoption("markexpr") != "unit" or collection_path.suffix != ".py":
        return None
    if not collection_path.name.startswith("test_"):
        return None
    kind = kind_of(collection_path)
    if kind is None or kind == "unit":
        return None  # unmapped files still reach the check below and stop the run
    return "mark.unit" not in collection_path.read_text(encoding="utf-8")


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmapped: set[str] = set()
    misfiled: list[str] = []
    for item in items:
        kinds = {m.name for m in item.iter_markers() if m.name in KINDS}
        if not kinds:
            kind = kind_of(item.path)
            if kind is None:
                unmapped.add(item.nodeid.split("::")[0])
                continue
            item.add_marker(kind)
            kinds = {kind}
        if kinds == {"unit"} and STORAGE_FIXTURES & set(getattr(item, "fixturenames", ())):
            misfiled.append(item.nodeid)
    if unmapped:
        raise pytest.UsageError(
            "no kind for " + ", ".join(sorted(unmapped)) + ": add the folder (or file) to "
            "KIND_BY_PATH in tests/conftest.py as one of " + ", ".join(KINDS)
        )
    if misfiled:
        raise pytest.UsageError(
            "unit tests that need Azurite (map them to storage or host in tests/conftest.py): "
            + ", ".join(misfiled)
        )


@pytest.fixture(autouse=True)
def _unit_tests_start_no_process(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A unit test runs in-process; one that spawns anything (Azurite, devhost, a tool) says so
    here rather than by being slow or needing the machine set up."""
    if request.node.get_closest_marker("unit") is None:
        return

    def refuse(self: subprocess.Popen[bytes], args: object, *rest: object) -> None:
        raise AssertionError(
            f"a unit test started a process ({args!r}): map it to host in tests/conftest.py"
        )

    monkeypatch.setattr(subprocess.Popen, "_execute_child", refuse)


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
