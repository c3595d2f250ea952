"""Every entry point × the ways it commonly fails: one line on stderr, exit code 2, no traceback,
and done within seconds.

Each cell runs the command as a user would (a subprocess from the repository root, on a copy of
the app where the cell breaks something) and reads only what a person reads. "Within seconds" is
not asserted as a wall-clock window (tests must hold under load): every run has a generous
subprocess timeout, and the measured time of each cell is printed (`pytest -s`) for the report.

Cells of the entry points that live in devhost/durable and devhost/monitor (`status --watch`,
`monitor`) are added with those packages' rework.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from devhost.azurite import connection_string, free_port
from devhost.process import REPO_ROOT

TIMEOUT = 30  # far above what any cell needs: only a hang reaches it
FUNCTIONS = ("BlobTriggerClient", "OrchestratorFunction", "ExtractMetadata", "StoreMetadata")


@dataclass(frozen=True)
class Cell:
    id: str
    argv: list[str]  # after `python -m`; {app} and {tmp} are filled in
    expect: str  # a fragment the one line must contain
    breaks: Callable[[Path, Path], None] = lambda app, tmp: None  # (app copy, tmp dir)
    env: dict[str, str] = field(default_factory=dict)  # {app}/{tmp} filled in too


def closed_storage() -> str:
    """A connection string to ports nothing listens on."""
    return connection_string(free_port(), free_port(), free_port())


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def edit_json(path: Path, change: Callable[[dict], None]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    write(path, json.dumps(data, indent=2))


def _hub(data: dict) -> None:
    data["extensions"]["durableTask"]["hubName"] = "Image-Metadata_Hub"


def _typo(data: dict) -> None:
    data["bindings"][0]["type"] = "blobTriger"


def invalid_hub(app: Path, tmp: Path) -> None:
    edit_json(app / "host.json", _hub)


def broken_host_json(app: Path, tmp: Path) -> None:
    write(app / "host.json", '{"version": "2.0",\n  "extensions": {,}\n')


def broken_settings(app: Path, tmp: Path) -> None:
    text = (app / "local.settings.json").read_text(encoding="utf-8")
    write(app / "local.settings.json", text.replace('"python",', '"python"', 1))


def broken_function_json(app: Path, tmp: Path) -> None:
    write(app / "StoreMetadata" / "function.json", '{"bindings": [ {"name": "x" ]}')


def binding_typo(app: Path, tmp: Path) -> None:
    edit_json(app / "BlobTriggerClient" / "function.json", _typo)


def empty_database(app: Path, tmp: Path) -> None:
    sqlite3.connect(tmp / "empty.db").close()  # a database file without the table


SQLITE = "Driver={{SQLite3}};Database={tmp}/"
WRONG_DRIVER = "Driver={{SQLite}};Database={tmp}/wrong.db"
DEMO = ["scripts.demo", "--app-dir", "{app}"]
START = ["devhost", "start", "--app-dir", "{app}", "--port", "0"]
STATUS = ["devhost", "status", "--app-dir", "{app}"]
UPLOAD = ["devhost", "upload", "--app-dir", "{app}", "{app}/samples"]

CELLS = [
    # imagemeta.db: database missing, not migrated, wrong ODBC driver, no/bad configuration
    Cell("db-rows-not-migrated", ["imagemeta.db", "rows", "--connection-string",
         SQLITE + "empty.db"], "no ImageMetadata table", empty_database),
    Cell("db-rows-database-missing", ["imagemeta.db", "rows", "--connection-string",
         SQLITE + "missing.db"], "does not exist: run `python -m imagemeta.db migrate`"),
    Cell("db-migrate-wrong-driver", ["imagemeta.db", "migrate", "--connection-string",
         WRONG_DRIVER], "ODBC driver 'SQLite' (Driver= in SqlConnectionString)"),
    Cell("db-rows-wrong-driver", ["imagemeta.db", "rows", "--connection-string",
         WRONG_DRIVER], "drivers registered: "),
    Cell("db-migrate-no-connection-string", ["imagemeta.db", "migrate"],
         "no SqlConnectionString", lambda app, tmp: (app / "local.settings.json").unlink()),
    Cell("db-migrate-malformed-local-settings", ["imagemeta.db", "migrate"],
         "local.settings.json is not valid JSON", broken_settings),
    # the demo: configuration and database problems, found before anything is started
    Cell("demo-wrong-driver", DEMO, "ODBC driver 'SQLite'",
         env={"SqlConnectionString": WRONG_DRIVER}),
    Cell("demo-malformed-local-settings", DEMO, "local.settings.json is not valid JSON",
         broken_settings),
    Cell("demo-malformed-host-json", DEMO, "host.json is not valid JSON", broken_host_json),
    Cell("demo-invalid-hub-name", DEMO, "Task hub name 'Image-Metadata_Hub'", invalid_hub),
    # devhost start
    Cell("start-storage-unreachable", [*START, "--storage-wait", "1"],
         "storage not reachable at http://127.0.0.1:", env={"AzureWebJobsStorage": "{closed}"}),
    Cell("start-malformed-host-json", START, "host.json is not valid JSON", broken_host_json),
    Cell("start-malformed-local-settings", START, "local.settings.json is not valid JSON",
         broken_settings),
    Cell("start-malformed-function-json", START,
         "function 'StoreMetadata': function.json is not valid JSON", broken_function_json),
    Cell("start-unknown-binding-type", START,
         "function 'BlobTriggerClient': unknown binding type 'blobTriger'", binding_typo),
    Cell("start-invalid-hub-name", START, "Task hub name 'Image-Metadata_Hub' should contain "
         "only alphanumeric characters", invalid_hub),
    Cell("start-bad-retention-option", [*START, "--retain-completed", "7 days"],
         "--retain-completed / DEVHOST_RETAIN_COMPLETED: '7 days' is not a duration"),
    Cell("start-bad-retention-setting", START, "DEVHOST_RETAIN_COMPLETED: '1w' is not a "
         "duration", env={"DEVHOST_RETAIN_COMPLETED": "1w"}),
    # devhost status
    Cell("status-storage-unreachable", STATUS, "storage not reachable at http://127.0.0.1:",
         env={"AzureWebJobsStorage": "{closed}"}),
    Cell("status-malformed-host-json", STATUS, "host.json is not valid JSON", broken_host_json),
    Cell("status-invalid-hub-name", STATUS, "Task hub name 'Image-Metadata_Hub'", invalid_hub),
    # devhost upload
    Cell("upload-storage-unreachable", UPLOAD, "storage not reachable at http://127.0.0.1:",
         env={"AzureWebJobsStorage": "{closed}"}),
    Cell("upload-malformed-local-settings", UPLOAD, "local.settings.json is not valid JSON",
         broken_settings),
    Cell("upload-missing-path", ["devhost", "upload", "--app-dir", "{app}", "{tmp}/nothing"],
         "no such file or folder"),
    # devhost restart-failed
    Cell("restart-failed-devhost-down", ["devhost", "restart-failed", "--url",
         "http://127.0.0.1:{port}"], "no Durable HTTP API at http://127.0.0.1:"),
]  # fmt: skip


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """A copy of the app (function folders, imagemeta, settings, samples)."""
    root = tmp_path / "app"
    root.mkdir()
    ignore = shutil.ignore_patterns("__pycache__")
    for folder in (*FUNCTIONS, "imagemeta", "samples"):
        shutil.copytree(REPO_ROOT / folder, root / folder, ignore=ignore)
    for name in ("host.json", "local.settings.json", "requirements.txt"):
        shutil.copy2(REPO_ROOT / name, root / name)
    return root


def fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text.replace("{{", "{").replace("}}", "}")


@pytest.mark.parametrize("cell", CELLS, ids=[c.id for c in CELLS])
def test_one_line_exit_2_no_traceback(cell: Cell, app: Path, tmp_path: Path) -> None:
    cell.breaks(app, tmp_path)
    values = {"app": str(app), "tmp": str(tmp_path), "closed": closed_storage(),
              "port": str(free_port())}  # fmt: skip
    argv = [sys.executable, "-m", *(fill(a, values) for a in cell.argv)]
    env = {k: v for k, v in os.environ.items()
           if k not in ("SqlConnectionString", "AzureWebJobsStorage")}  # fmt: skip
    env |= {k: fill(v, values) for k, v in cell.env.items()}
    env["PYTHONPATH"] = str(REPO_ROOT)
    # imagemeta.db reads local.settings.json from the working directory, as `make start` runs it.
    cwd = app if cell.argv[0] == "imagemeta.db" else REPO_ROOT
    started = time.monotonic()
    result = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    elapsed = time.monotonic() - started
    print(f"\n[failure matrix] {cell.id}: exit {result.returncode} in {elapsed:.2f} s")
    shown = f"stdout:\n{result.stdout[-2000:]}\nstderr:\n{result.stderr[-3000:]}"
    assert result.returncode == 2, shown
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, shown
    assert "Traceback" not in result.stderr + result.stdout, shown
    assert cell.expect in lines[0], shown
