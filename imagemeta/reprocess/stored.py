"""Which blob versions already have their ImageMetadata row: one query per chunk of a page.

Rows are found by (FileNameHash, BlobETag), the key of the store's UNIQUE index, so each
lookup is an index seek on Azure SQL and SQLite alike. Reads run with autocommit: an open read
transaction would hold SQLite's shared lock and stall the app's INSERTs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import pyodbc

from imagemeta.blobref import BlobRef, quoted_etag
from imagemeta.store import StoreError, connect, file_name_hash

CHUNK = 500  # parameters per query: under SQL Server's 2,100 and SQLite's 999
SELECT_SQL = "SELECT FileNameHash, BlobETag FROM ImageMetadata WHERE FileNameHash IN"
PROBE_SQL = "SELECT COUNT(*) FROM ImageMetadata WHERE 1 = 0"


class SqlUnavailable(Exception):
    """The database cannot be read: the caller falls back to instance state and says why."""


class RowIndex:
    def __init__(self, connection_string: str):
        try:
            self._conn = connect(connection_string)
            self._conn.autocommit = True
            self._conn.execute(PROBE_SQL).fetchall()
        except (pyodbc.Error, StoreError) as exc:
            raise SqlUnavailable(" ".join(str(exc).split())[:300]) from exc

    def close(self) -> None:
        with contextlib.suppress(pyodbc.Error):
            self._conn.close()

    def stored(self, refs: Iterable[BlobRef]) -> set[str]:
        """Instance ids (one per blob version) of the refs whose row exists."""
        by_key = {(file_name_hash(r.name), quoted_etag(r.etag)): r.instance_id for r in refs}
        hashes = sorted({h for h, _ in by_key})
        found: set[str] = set()
        for start in range(0, len(hashes), CHUNK):
            chunk = hashes[start : start + CHUNK]
            # CHAR(64) like the column: an NVARCHAR parameter (pyodbc's default for str) would
            # make SQL Server convert the column and scan instead of seeking the index.
            marks = ", ".join(["CAST(? AS CHAR(64))"] * len(chunk))
            sql = f"{SELECT_SQL} ({marks})"
            for name_hash, etag in self._conn.execute(sql, *chunk).fetchall():
                iid = by_key.get((str(name_hash).strip(), quoted_etag(str(etag))))
                if iid is not None:
                    found.add(iid)
        return found
