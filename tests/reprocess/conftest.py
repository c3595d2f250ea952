"""The real pipeline (Azurite + devhost subprocess + SQLite ODBC) with images already processed,
and `python -m imagemeta.reprocess` run as an operator runs it: a subprocess, exit code and
output only."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from devhost.process import REPO_ROOT
from tests.harness import (
    Pipeline,
    image_bytes,
    migrate,
    pipeline_factory,  # noqa: F401 - shared fixture
)
from tests.waiting import wait_until

PREFIXES = ("a/", "b/", "c/")
PER_PREFIX = 100
REJECTED = {"bad/notes.jpg": b"text, not an image", "bad/empty.png": b""}
# Variables a developer's shell may hold that would point the tool elsewhere.
SCRUBBED = ("AzureWebJobsStorage", "SqlConnectionString", "DEVHOST_PORT", "DURABLETASK_KEY",
            "AZURE_STORAGE_KEY", "AZURE_STORAGE_CONNECTION_STRING")  # fmt: skip


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def summary(self) -> dict[str, Any]:
        lines = [ln for ln in self.stdout.splitlines() if ln.startswith("{")]
        assert lines, f"no JSON summary (exit {self.code}):\n{self.stdout}\n{self.stderr}"
        return dict(json.loads(lines[-1]))


@dataclass
class App:
    pipeline: Pipeline
    etags: dict[str, str] = field(default_factory=dict)  # name -> current version
    old_rows: set[tuple[str, str]] = field(default_factory=set)  # rows of replaced versions

    @property
    def images(self) -> set[str]:
        return {n for n in self.etags if n not in REJECTED}

    def sqlite_path(self) -> Path:
        return Path(self.pipeline.sql.split("Database=", 1)[1].split(";", 1)[0])

    def local_env(self) -> dict[str, str]:
        return {
            "AzureWebJobsStorage": self.pipeline.azurite.connection_string,
            "SqlConnectionString": self.pipeline.sql,
            "DEVHOST_PORT": str(self.pipeline.devhost.port),
        }

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "imagemeta.reprocess", *args]

    def environ(self, env: dict[str, str] | None) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
        return {**base, **(self.local_env() if env is None else env)}

    def reprocess(
        self, *args: str, env: dict[str, str] | None = None, cwd: Path = REPO_ROOT
    ) -> Result:
        """Run the tool to the end; env=None means the local target with this pipeline."""
        done = subprocess.run(
            self.command(*args), cwd=cwd, env=self.environ(env), capture_output=True, text=True,
            timeout=300, check=False,
        )  # fmt: skip
        return Result(done.returncode, done.stdout, done.stderr)

    def popen(self, *args: str, log: Path) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.command(*args), cwd=REPO_ROOT, env=self.environ(None),
            stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def rows(self) -> list[tuple[str, str]]:
        return [(r["FileName"], r["BlobETag"]) for r in self.pipeline.rows()]

    def row_count(self) -> int:
        uri = f"file:{self.sqlite_path()}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as c:
            c.execute("PRAGMA busy_timeout = 5000")
            return int(c.execute("SELECT COUNT(*) FROM ImageMetadata").fetchone()[0])

    def empty_database(self, tmp: Path) -> None:
        """Replace the live database by a freshly migrated, empty one, in place (SQLite's
        online backup: what a restore does; the app's open connections see the new content)."""
        fresh = tmp / "fresh.db"
        fresh.unlink(missing_ok=True)
        migrate(f"Driver={{SQLite3}};Database={fresh}")
        with (
            contextlib.closing(sqlite3.connect(fresh)) as src,
            contextlib.closing(sqlite3.connect(self.sqlite_path(), timeout=30)) as dst,
        ):
            src.backup(dst)
        assert self.row_count() == 0

    def delete_rows(self, names: list[str]) -> None:
        with contextlib.closing(sqlite3.connect(self.sqlite_path(), timeout=30)) as db:
            db.executemany("DELETE FROM ImageMetadata WHERE FileName = ?", [(n,) for n in names])
            db.commit()

    def instances(self) -> dict[str, dict[str, Any]]:
        """Instance id -> status of this app's instances (raw API form)."""
        return {i["instanceId"]: i for i in self.pipeline.devhost.list_instances()}

    def wait_rows(self, n: int, timeout: float = 120) -> None:
        wait_until(lambda: self.row_count() >= n, timeout=timeout,
                   message=lambda: f"{self.row_count()} rows, want {n}")  # fmt: skip


def assert_exact_rows(app: App) -> None:
    """One row per stored image version, none for rejected files, no duplicates."""
    rows = [(n, e.strip('"')) for n, e in app.rows()]
    assert len(rows) == len(set(rows)), "duplicate rows"
    expected = {(n, app.etags[n].strip('"')) for n in app.images}
    assert set(rows) == expected | {(n, e.strip('"')) for n, e in app.old_rows}


@pytest.fixture(scope="module")
def app(pipeline_factory: Callable[..., Pipeline]) -> Iterator[App]:  # noqa: F811
    """300 images (a/, b/, c/) and 2 unreadable files, processed by the blob trigger."""
    pipeline = pipeline_factory()
    items = {f"{p}{i:03d}.png": image_bytes("PNG", (8 + i, 8 + len(p))) for p in PREFIXES
             for i in range(PER_PREFIX)}  # fmt: skip
    items |= REJECTED
    items["bad/readme.txt"] = b"not watched"
    etags = pipeline.upload_many(items)
    del etags["bad/readme.txt"]
    app = App(pipeline, etags)
    app.wait_rows(len(app.images), timeout=240)  # cheap to poll; then the instances once
    pipeline.wait_terminal(set(etags.items()), timeout=120)
    assert_exact_rows(app)
    yield app
