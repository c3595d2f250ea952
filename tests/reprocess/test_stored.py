"""The table comparison on the real SQLite ODBC driver: exact by name + ETag, across chunks."""

from __future__ import annotations

import pyodbc
import pytest

from imagemeta import db
from imagemeta.blobref import INPUT_CONTAINER, BlobRef
from imagemeta.reprocess.stored import CHUNK, RowIndex, SqlUnavailable
from imagemeta.store import file_name_hash


def ref(name: str, etag: str) -> BlobRef:
    return BlobRef(INPUT_CONTAINER, name, "", 0, etag)


def test_rows_are_found_by_name_and_etag_across_chunks(sqlite_connection_string: str) -> None:
    db.migrate(sqlite_connection_string)
    names = [f"dir/{i:05d} 'q'.png" for i in range(2 * CHUNK + 7)]
    stored = names[::2]
    with pyodbc.connect(sqlite_connection_string, autocommit=True) as conn:
        conn.cursor().executemany(
            "INSERT INTO ImageMetadata (FileName, FileSizeKB, Width, Height, Format, BlobETag, "
            "FileNameHash) VALUES (?, 1, 1, 1, 'PNG', ?, ?)",
            [(n, '"0x1"', file_name_hash(n)) for n in stored],
        )
    refs = [ref(n, '"0x1"') for n in names] + [ref(n, '"0x2"') for n in stored]  # new versions
    index = RowIndex(sqlite_connection_string)
    try:
        found = index.stored(refs)
    finally:
        index.close()
    assert found == {ref(n, '"0x1"').instance_id for n in stored}


def test_unreadable_database_is_reported_not_raised(sqlite_connection_string: str) -> None:
    with pytest.raises(SqlUnavailable, match="ImageMetadata"):
        RowIndex(sqlite_connection_string)  # no migration: the table does not exist
    # unixODBC reports a driver missing from odbcinst.ini as IM002 and a registered one whose
    # library is absent as "Can't open lib": imagemeta/db.py names the driver either way.
    with pytest.raises(
        SqlUnavailable, match=r"ODBC driver 'No Such Driver' .*(not installed|cannot be loaded)"
    ):
        RowIndex("Driver={No Such Driver};Database=x")
