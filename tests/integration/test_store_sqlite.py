"""StoreMetadata's path through pyodbc on the real SQLite ODBC driver."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pyodbc
import pytest

from imagemeta import db
from imagemeta.activities import store_metadata
from imagemeta.extract import ImageMetadata
from imagemeta.store import MetadataStore, StoreConfigError, TransientStoreError, is_transient


def meta(name: str = "photo.jpg", etag: str = '"0x8D1"', **kw: object) -> ImageMetadata:
    base = {
        "FileName": name,
        "FileSizeKB": 12,
        "Width": 640,
        "Height": 480,
        "Format": "JPEG",
        "ColorMode": "RGB",
        "BlobETag": etag,
        "UploadedOn": "2026-11-25T10:11:12.345678Z",
    }
    base.update(kw)
    return ImageMetadata(**base)  # type: ignore[arg-type]


@pytest.fixture
def sql(sqlite_connection_string: str) -> str:
    assert db.migrate(sqlite_connection_string) == ["0001_create_image_metadata"]
    return sqlite_connection_string


def test_migrate_is_idempotent_and_detects_sqlite(sql: str) -> None:
    assert db.migrate(sql) == []
    with pyodbc.connect(sql) as conn:
        assert db.detect_dialect(conn) == "sqlite"


def test_insert_then_duplicate_is_a_no_op(sql: str) -> None:
    store = MetadataStore(sql)
    assert store.insert(meta()) == "stored"
    assert store.insert(meta()) == "duplicate"
    assert store.insert(meta(etag='"0x8D2"', Width=10)) == "stored"  # new version, new row
    rows = db.fetch_rows(sql)
    assert [(r["FileName"], r["BlobETag"], r["Width"]) for r in rows] == [
        ("photo.jpg", '"0x8D1"', 640),
        ("photo.jpg", '"0x8D2"', 10),
    ]
    assert str(rows[0]["UploadedOn"]).startswith("2026-11-25 10:11:12.345")


def test_concurrent_duplicates_from_threads_leave_one_row(sql: str) -> None:
    store = MetadataStore(sql)
    barrier = threading.Barrier(8)

    def attempt(_: int) -> str:
        barrier.wait()
        for _ in range(20):
            try:
                return store.insert(meta("race.png", Format="PNG"))
            except TransientStoreError:
                continue  # SQLite busy under contention: the orchestrator would retry too
        raise AssertionError("never got through")

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(attempt, range(8)))
    assert sorted(outcomes) == ["duplicate"] * 7 + ["stored"]
    assert [r["FileName"] for r in db.fetch_rows(sql)] == ["race.png"]


@pytest.mark.parametrize(
    "name",
    [
        "'; DROP TABLE ImageMetadata;--.png",
        'it\'s "quoted".jpg',
        "ünïcødé 写真.gif",
        "100% real_[x].jpg",
        "a" * 1000 + ".png",
    ],
)
def test_injection_looking_and_unicode_names_are_stored_verbatim(sql: str, name: str) -> None:
    assert MetadataStore(sql).insert(meta(name)) == "stored"
    assert [r["FileName"] for r in db.fetch_rows(sql)] == [name]


def test_activity_reads_the_connection_string_setting(
    sql: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SqlConnectionString", sql)
    assert store_metadata(meta("via-activity.gif").to_dict()) == "stored"
    assert store_metadata(meta("via-activity.gif").to_dict()) == "duplicate"


def test_locked_database_is_a_transient_error(tmp_path) -> None:
    import sqlite3  # noqa: PLC0415

    path = tmp_path / "locked.db"
    cs = f"Driver={{SQLite3}};Database={path};Timeout=200"
    db.migrate(cs)
    lock = sqlite3.connect(path, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(TransientStoreError):
            MetadataStore(cs).insert(meta())
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert MetadataStore(cs).insert(meta()) == "stored"  # the connection was replaced


def test_missing_driver_names_the_installed_ones() -> None:
    with pytest.raises(StoreConfigError, match="installed drivers"):
        MetadataStore("Driver={ODBC Driver 18 for SQL Server};Server=nowhere").insert(meta())


def test_transient_classification() -> None:
    assert is_transient(pyodbc.Error("08S01", "[08S01] communication link failure"))
    assert is_transient(pyodbc.Error("42000", "Database 'x' is not currently available (40613)"))
    assert not is_transient(pyodbc.Error("42S02", "Invalid object name 'ImageMetadata' (208)"))
