"""Schema migrations and row listing, for Azure SQL and the local SQLite ODBC default.

    python -m imagemeta.db migrate [--connection-string CS]
    python -m imagemeta.db rows    [--connection-string CS]

The connection string defaults to SqlConnectionString from the environment, then from
local.settings.json. The dialect is detected through pyodbc (SQL_DBMS_NAME), so the same
command applies schema/tsql in Azure and schema/sqlite locally. Applied versions are recorded
in SchemaMigrations, which makes `migrate` idempotent.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyodbc

SCHEMA_DIR = Path(__file__).resolve().parent / "schema"
_GO = re.compile(r"^\s*GO\s*$", re.IGNORECASE | re.MULTILINE)
_BOOKKEEPING = (
    "CREATE TABLE SchemaMigrations ("
    "Version NVARCHAR(128) NOT NULL PRIMARY KEY, AppliedOn NVARCHAR(40) NOT NULL)"
)


@dataclass(frozen=True)
class Migration:
    version: str  # file name without .sql
    statements: list[str]


def split_batches(sql: str) -> list[str]:
    """Statements separated by GO lines (sqlcmd's batch separator), comments dropped."""
    out = []
    for batch in _GO.split(sql):
        lines = [ln for ln in batch.splitlines() if not ln.strip().startswith("--")]
        text = "\n".join(lines).strip()
        if text:
            out.append(text)
    return out


def load_migrations(dialect: str) -> list[Migration]:
    files = sorted((SCHEMA_DIR / dialect).glob("*.sql"))
    return [Migration(f.stem, split_batches(f.read_text(encoding="utf-8"))) for f in files]


def detect_dialect(conn: pyodbc.Connection) -> str:
    dbms = str(conn.getinfo(pyodbc.SQL_DBMS_NAME))
    if "SQL Server" in dbms:
        return "tsql"
    if "sqlite" in dbms.lower():
        return "sqlite"
    raise SystemExit(f"unsupported database {dbms!r}: expected SQL Server/Azure SQL or SQLite")


def _table_exists(conn: pyodbc.Connection, table: str) -> bool:
    return conn.cursor().tables(table=table).fetchone() is not None


def ensure_sqlite_directory(connection_string: str) -> None:
    """SQLite creates the database file on connect, but not its directory."""
    match = re.search(r"(?i)(?:^|;)\s*Database\s*=\s*([^;]+)", connection_string)
    if match and "sqlite" in connection_string.lower():
        Path(match.group(1).strip()).parent.mkdir(parents=True, exist_ok=True)


def migrate(connection_string: str) -> list[str]:
    """Apply pending migrations in order, each in its own transaction; returns what ran."""
    ensure_sqlite_directory(connection_string)
    conn = pyodbc.connect(connection_string, autocommit=False)
    try:
        dialect = detect_dialect(conn)
        if not _table_exists(conn, "SchemaMigrations"):
            conn.execute(_BOOKKEEPING)
            conn.commit()
        done = {r[0] for r in conn.execute("SELECT Version FROM SchemaMigrations").fetchall()}
        applied = []
        for migration in load_migrations(dialect):
            if migration.version in done:
                continue
            try:
                for statement in migration.statements:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO SchemaMigrations (Version, AppliedOn) VALUES (?, ?)",
                    migration.version,
                    datetime.now(UTC).isoformat(timespec="seconds"),
                )
                conn.commit()
            except pyodbc.Error:
                conn.rollback()
                raise
            applied.append(migration.version)
        return applied
    finally:
        conn.close()


def fetch_rows(connection_string: str) -> list[dict[str, Any]]:
    with pyodbc.connect(connection_string, autocommit=True) as conn:
        cur = conn.execute("SELECT * FROM ImageMetadata ORDER BY Id")
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def print_rows(connection_string: str, out: Any = None) -> int:
    """A readable table of the core columns; returns the row count."""
    out = out or sys.stdout
    rows = fetch_rows(connection_string)
    cols = ["Id", "FileName", "FileSizeKB", "Width", "Height", "Format", "ColorMode", "UploadedOn"]
    cells = [[_cell(r.get(c)) for c in cols] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(cols)]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)), file=out)
    print(f"({len(rows)} rows)", file=out)
    return len(rows)


def _cell(value: object, limit: int = 48) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def default_connection_string(app_dir: Path | None = None) -> str:
    value = os.environ.get("SqlConnectionString")
    if value:
        return value
    settings = (app_dir or Path.cwd()) / "local.settings.json"
    if settings.exists():
        value = (
            json.loads(settings.read_text(encoding="utf-8"))
            .get("Values", {})
            .get("SqlConnectionString")
        )
        if value:
            return str(value)
    raise SystemExit("no SqlConnectionString in the environment or local.settings.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m imagemeta.db", description=__doc__.split("\n")[0]
    )
    parser.add_argument("command", choices=["migrate", "rows"])
    parser.add_argument("--connection-string", help="pyodbc connection string")
    args = parser.parse_args(argv)
    cs = args.connection_string or default_connection_string()
    if args.command == "migrate":
        applied = migrate(cs)
        print(f"applied: {', '.join(applied)}" if applied else "schema is up to date")
    else:
        print_rows(cs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
