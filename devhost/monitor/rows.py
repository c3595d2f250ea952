"""The `ImageMetadata` rows through pyodbc (any driver): latest rows, counts by format, and
the rows of one blob name. Dialect-neutral SQL: no TOP/LIMIT, the cursor stops early."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyodbc

COLUMNS = ("Id", "FileName", "FileSizeKB", "Width", "Height", "Format", "UploadedOn", "BlobETag")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return value.hex()
    return value


class SqlRows:
    def __init__(self, connection_string: str) -> None:
        self.connection_string = connection_string

    def read(self, limit: int, name: str | None = None) -> dict[str, Any]:
        cols = ", ".join(COLUMNS)
        with pyodbc.connect(self.connection_string, autocommit=True, timeout=5) as conn:
            if name is not None:
                cur = conn.execute(
                    f"SELECT {cols} FROM ImageMetadata WHERE FileName = ? ORDER BY Id DESC",  # noqa: S608
                    name,
                )
            else:
                cur = conn.execute(f"SELECT {cols} FROM ImageMetadata ORDER BY Id DESC")  # noqa: S608
            rows = [
                {c: _plain(v) for c, v in zip(COLUMNS, r, strict=True)}
                for r in cur.fetchmany(max(1, min(limit, 1000)))
            ]
            cur.close()
            counts = conn.execute(
                "SELECT Format, COUNT(*) FROM ImageMetadata GROUP BY Format"
            ).fetchall()
        by_format = {str(f): int(n) for f, n in counts}
        return {"total": sum(by_format.values()), "byFormat": by_format, "rows": rows}
