"""StoreMetadata's path through pyodbc on the real SQLite ODBC driver."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyodbc
import pytest

from imagemeta import db
from imagemeta.activities import store_metadata
from imagemeta.contract import InvalidMetadata
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
    row = meta("via-activity.gif", Format="GIF", ColorMode="P", UploadedOn="2026-11-25T10:11:12Z")
    assert store_metadata(row.to_dict()) == "stored"
    assert store_metadata(row.to_dict()) == "duplicate"


VALID = meta("ok.jpg", UploadedOn="2026-11-25T10:11:12Z", CameraMake="Canon").to_dict()


@pytest.mark.parametrize(
    ("forged", "says"),
    [
        (
            {"FileSizeKB": -5, "Width": 99999999, "Format": "X" * 40, "ColorMode": "RGB\x1b[31m"},
            "FileSizeKB is -5",
        ),  # the probe, all at once
        ({"FileSizeKB": -5}, "FileSizeKB is -5; it must be 1-2147483647"),
        ({"Width": 99999999}, "Width is 99999999; it must be 1-65535"),  # JPEG: 16-bit sides
        ({"Format": "X" * 40}, "Format 'XXXX"),
        ({"ColorMode": "RGB\x1b[31m"}, "ColorMode 'RGB\\x1b[31m' is not a Pillow header mode"),
        ({"Width": "640"}, "Width must be an integer, not str"),
        ({"Height": True}, "Height must be an integer, not bool"),
        ({"Format": "PNG", "Width": 20000, "Height": 20000}, "exceeds the 89478485 pixel"),
        ({"FileName": "../private/x.png"}, "FileName: name has a leading slash or a '.'"),
        ({"FileName": "a\rb.jpg"}, "FileName: name contains control characters"),
        ({"BlobETag": 'a"b'}, "BlobETag"),
        ({"UploadedOn": "yesterday"}, "UploadedOn 'yesterday' is not YYYY-MM-DDTHH:MM:SSZ"),
        ({"UploadedOn": "2026-02-30T00:00:00Z"}, "is not a date"),
        ({"Orientation": 99}, "Orientation is 99; it must be 1-8"),
        ({"CameraMake": "Canon\x1b]0;x\x07"}, "CameraMake contains control characters"),
        ({"CameraModel": "\u202eRSOE"}, "CameraModel contains control characters"),
        ({"DateTimeOriginal": "2" * 33}, "DateTimeOriginal is 33 characters; it must be 1-32"),
        ({"BytesRead": 10**9}, "BytesRead is 1000000000"),
        ({"Extra": 1}, "unexpected fields: Extra"),
        ({"FileName": None}, "FileName must be a non-empty string"),
    ],
)
def test_forged_store_input_writes_no_row_and_says_why(
    sql: str, monkeypatch: pytest.MonkeyPatch, forged: dict[str, Any], says: str
) -> None:
    """Guards issue 20 item 3 (StoreMetadata trusted its input): anything ExtractMetadata
    cannot have produced is refused before any SQL, with the field and the bound, and the
    offending text escaped in the message."""
    monkeypatch.setenv("SqlConnectionString", sql)
    with pytest.raises(InvalidMetadata) as err:
        store_metadata({**VALID, **forged})
    assert says in str(err.value)
    assert "\x1b" not in str(err.value) and "\u202e" not in str(err.value)
    assert db.fetch_rows(sql) == []
    assert store_metadata(VALID) == "stored"  # the same store takes the real thing


@pytest.mark.parametrize("data", [None, [1, 2], "x", {"FileName": "a.jpg"}])
def test_store_input_that_is_not_a_metadata_object_is_refused(sql: str, data: object) -> None:
    with pytest.raises(InvalidMetadata, match=r"input must be a JSON object|missing fields"):
        store_metadata(data)
    assert db.fetch_rows(sql) == []


def test_rows_command_escapes_what_it_prints(sql: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Guards issue 20 item 7: `python -m imagemeta.db rows` printed stored text raw, so a
    name with ESC sequences, CR, NUL or U+202E drove the operator's terminal."""
    store = MetadataStore(sql)
    # (NUL is covered by tests/unit/test_textsafe.py: the SQLite ODBC driver cuts text at NUL.)
    names = ["a\x1b[2J\x1b]0;pwned\x07.png", "b.png\rFAKE ROW", "c\x9b2J.gif", "\u202egpj.exe.jpg"]
    for i, name in enumerate(names):
        store.insert(meta(name, etag=f'"0x{i}"', ColorMode="RGB\x1b[5m"))
    assert db.main(["rows", "--connection-string", sql]) == 0
    out = capsys.readouterr().out
    for raw in ("\x1b", "\r", "\x9b", "\x07", "\u202e"):
        assert raw not in out
    assert "RGB\\x1b[5m" in out
    assert "(4 versions, newest first)" in out
    # a wide terminal shows the escaped names whole (80 columns shorten them in the middle)
    assert db.print_rows(sql, width=200) == 4
    wide = capsys.readouterr().out
    assert "a\\x1b[2J\\x1b]0;pwned\\x07.png" in wide
    assert "b.png\\x0dFAKE ROW" in wide and "c\\x9b2J.gif" in wide
    assert "\\u202egpj.exe.jpg" in wide


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
    with pytest.raises(StoreConfigError, match=r"drivers registered: .*SQLite3"):
        MetadataStore("Driver={ODBC Driver 18 for SQL Server};Server=nowhere").insert(meta())


# Issue 23: a wrong SqlConnectionString is configuration, not a transient fault. The activity
# answers with the reason instead of raising, so the orchestrator's five retries (25 s) do not
# run; pyodbc's IM002 "Data source name not found and no default driver specified" for a
# driver, a data source or no driver at all, and an unset setting.
@pytest.mark.parametrize(
    ("setting", "reason"),
    [
        ("Driver={No Such Driver};Database=x.db", "ODBC driver 'No Such Driver' (Driver= in "
         "SqlConnectionString) cannot be loaded"),
        ("DSN=nosuchdsn", "SqlConnectionString names no Driver= and no known data source"),
        (None, "app setting SqlConnectionString is not set"),
    ],
)  # fmt: skip
def test_wrong_connection_string_is_a_configuration_error_not_raised(
    monkeypatch: pytest.MonkeyPatch, setting: str | None, reason: str
) -> None:
    if setting is None:
        monkeypatch.delenv("SqlConnectionString", raising=False)
    else:
        monkeypatch.setenv("SqlConnectionString", setting)
    answer = store_metadata(VALID)
    assert isinstance(answer, dict)
    assert answer["configurationError"].startswith(reason), answer
    assert "\n" not in answer["configurationError"]


def test_a_locked_database_still_raises_for_the_retry_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The other side of the line: what a retry can fix is still raised (and retried).
    import sqlite3  # noqa: PLC0415

    path = tmp_path / "locked.db"
    cs = f"Driver={{SQLite3}};Database={path};Timeout=100"
    db.migrate(cs)
    monkeypatch.setenv("SqlConnectionString", cs)
    lock = sqlite3.connect(path, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(TransientStoreError):
            store_metadata(VALID)
    finally:
        lock.execute("ROLLBACK")
        lock.close()


def test_transient_classification() -> None:
    assert is_transient(pyodbc.Error("08S01", "[08S01] communication link failure"))
    assert is_transient(pyodbc.Error("42000", "Database 'x' is not currently available (40613)"))
    assert not is_transient(pyodbc.Error("42S02", "Invalid object name 'ImageMetadata' (208)"))
