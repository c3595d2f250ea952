"""Idempotent INSERT of one metadata row through pyodbc (Azure SQL in Azure, SQLite locally).

Activities run at least once, so the insert is keyed on the blob version (FileName + ETag):
`INSERT ... SELECT ... WHERE NOT EXISTS` skips a row that is already there, and the UNIQUE
index turns a race between two attempts into a duplicate, never a second row.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from datetime import UTC, datetime
from typing import Literal

import pyodbc

from imagemeta.contract import ImageMetadata
from imagemeta.db import configuration_problem

StoreOutcome = Literal["stored", "duplicate"]

INSERT_SQL = (
    "INSERT INTO ImageMetadata (FileName, FileSizeKB, Width, Height, Format, UploadedOn, "
    "BlobETag, FileNameHash, ColorMode, Orientation, DateTimeOriginal, CameraMake, CameraModel) "
    "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? "
    "WHERE NOT EXISTS (SELECT 1 FROM ImageMetadata WHERE FileNameHash = ? AND BlobETag = ?)"
)

# Azure SQL error numbers Microsoft documents as transient (retry after a delay).
_TRANSIENT_NUMBERS = (
    "40613",
    "40197",
    "40501",
    "40540",
    "49918",
    "49919",
    "49920",
    "4060",
    "4221",
    "10928",
    "10929",
    "10053",
    "10054",
    "10060",
    "233",
    "1205",
)
_TRANSIENT_TEXT = ("database is locked", "database table is locked", "busy", "timeout")


class StoreError(Exception):
    """The row could not be written and retrying will not help (schema, permissions, data)."""


class TransientStoreError(StoreError):
    """Connection loss, timeout, throttling or a lock: the orchestrator's retry handles it."""


class StoreConfigError(StoreError):
    """SqlConnectionString is wrong (an ODBC driver or data source this machine does not
    have): configuration, which no retry fixes, so the orchestration fails at once."""


def file_name_hash(file_name: str) -> str:
    return hashlib.sha256(file_name.encode("utf-8")).hexdigest()


def is_transient(exc: pyodbc.Error) -> bool:
    if isinstance(exc, pyodbc.OperationalError):
        return True
    state = str(exc.args[0]) if exc.args else ""
    text = " ".join(str(a) for a in exc.args).lower()
    if state.startswith(("08", "HYT", "40001")):
        return True
    return any(f"({n})" in text for n in _TRANSIENT_NUMBERS) or any(
        t in text for t in _TRANSIENT_TEXT
    )


def _is_unique_violation(exc: pyodbc.Error) -> bool:
    state = str(exc.args[0]) if exc.args else ""
    text = " ".join(str(a) for a in exc.args).lower()
    return (
        isinstance(exc, pyodbc.IntegrityError)
        or state == "23000"
        or "unique constraint" in text
        or "(2601)" in text
        or "(2627)" in text
    )


def _parse_timestamp(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed.replace(microsecond=(parsed.microsecond // 1000) * 1000)


def connect(connection_string: str) -> pyodbc.Connection:
    """Open a connection; a missing driver gets an error that lists what is installed."""
    try:
        return pyodbc.connect(connection_string, autocommit=False, timeout=15)
    except pyodbc.Error as exc:
        problem = configuration_problem(connection_string, exc)
        if problem is not None:
            raise StoreConfigError(str(problem)) from exc
        if is_transient(exc):
            raise TransientStoreError(f"cannot connect to the database: {exc}") from exc
        raise


class MetadataStore:
    """Writes rows over one connection per worker thread, reused across invocations.

    pyodbc connections must not be shared between threads; a thread-local cache keeps one per
    activity thread (bounded by the host's concurrency) and drops it after any error.
    """

    def __init__(self, connection_string: str):
        self.connection_string = connection_string
        self._local = threading.local()

    def _connection(self) -> pyodbc.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.connection_string)
            self._local.conn = conn
        return conn

    def _discard(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with contextlib.suppress(pyodbc.Error):
                conn.close()

    def close(self) -> None:
        self._discard()

    def insert(self, meta: ImageMetadata) -> StoreOutcome:
        name_hash = file_name_hash(meta.FileName)
        params = (
            meta.FileName,
            meta.FileSizeKB,
            meta.Width,
            meta.Height,
            meta.Format,
            _parse_timestamp(meta.UploadedOn),
            meta.BlobETag,
            name_hash,
            meta.ColorMode,
            meta.Orientation,
            meta.DateTimeOriginal,
            meta.CameraMake,
            meta.CameraModel,
            name_hash,
            meta.BlobETag,
        )
        conn = self._connection()
        try:
            cursor = conn.cursor()
            cursor.execute(INSERT_SQL, params)
            inserted = cursor.rowcount
            conn.commit()
        except pyodbc.Error as exc:
            self._rollback_quietly(conn)
            if _is_unique_violation(exc):
                return "duplicate"  # a concurrent attempt won the race for this blob version
            self._discard()
            if is_transient(exc):
                raise TransientStoreError(f"transient database error: {exc}") from exc
            raise StoreError(f"database rejected the row: {exc}") from exc
        return "stored" if inserted == 1 else "duplicate"

    @staticmethod
    def _rollback_quietly(conn: pyodbc.Connection) -> None:
        with contextlib.suppress(pyodbc.Error):
            conn.rollback()


_stores: dict[str, MetadataStore] = {}
_stores_lock = threading.Lock()


def store_for(connection_string: str) -> MetadataStore:
    """The process-wide store for a connection string (connections reused across invocations)."""
    with _stores_lock:
        store = _stores.get(connection_string)
        if store is None:
            store = _stores[connection_string] = MetadataStore(connection_string)
        return store
