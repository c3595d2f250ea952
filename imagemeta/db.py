"""Schema migrations and row listing, for Azure SQL and the local SQLite ODBC default.

    python -m imagemeta.db migrate [--connection-string CS]
    python -m imagemeta.db rows    [--connection-string CS]

The connection string defaults to SqlConnectionString from the environment, then from
local.settings.json. The dialect is detected through pyodbc (SQL_DBMS_NAME), so the same
command applies schema/tsql in Azure and schema/sqlite locally. Applied versions are recorded
in SchemaMigrations, which makes `migrate` idempotent. A schema applied by hand (e.g. with
`sqlcmd -i schema/tsql/0001_...sql`) is adopted: when a migration's table already exists with
every column the migration declares, its missing indexes are created and the version recorded.

On Azure SQL the deploy script also calls `ensure_app_access`: the app's database user (a
contained user with a password, or the Function App's managed identity) gets SELECT and INSERT
on ImageMetadata and nothing else. SQLite has no users: that step is skipped there.

This module must import on Python 3.9+ with nothing but pyodbc installed: infra/deploy.sh runs
it from a minimal environment built with whatever Python the workstation has.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyodbc

from imagemeta.textsafe import escape_text

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
        return apply_migrations(conn)
    finally:
        conn.close()


_CREATE_TABLE = re.compile(r"^\s*CREATE\s+TABLE\s+(?:\w+\.)?(\w+)\s*\((.*)\)\s*$", re.I | re.S)
_CREATE_INDEX = re.compile(
    r"^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+(\w+)\s+ON\s+(?:\w+\.)?(\w+)\b", re.I | re.S
)


class SchemaMismatch(SystemExit):
    """A table exists that the migration would create, but not with the migration's columns."""


def declared_columns(create_table: str) -> list[str]:
    """Column names of a CREATE TABLE statement (table constraints skipped)."""
    match = _CREATE_TABLE.match(create_table)
    if not match:
        raise ValueError(f"not a CREATE TABLE statement: {create_table[:60]}")
    items, depth, current = [], 0, ""
    for ch in match.group(2):  # top-level commas only: IDENTITY(1, 1) stays whole
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += ch
    items.append(current)
    names = [item.split()[0].strip('[]"') for item in items if item.strip()]
    keywords = {"CONSTRAINT", "PRIMARY", "UNIQUE", "FOREIGN", "CHECK", "INDEX"}
    return [n for n in names if n.upper() not in keywords]


def _columns(conn: pyodbc.Connection, table: str) -> set[str]:
    return {str(row[3]).lower() for row in conn.cursor().columns(table=table).fetchall()}


def _indexes(conn: pyodbc.Connection, table: str) -> set[str]:
    rows = conn.cursor().statistics(table=table).fetchall()
    return {str(row[5]).lower() for row in rows if row[5]}


def _adopt(conn: pyodbc.Connection, migration: Migration) -> bool:
    """True when the migration's table already exists (applied by hand); creates what is missing.

    Only CREATE TABLE / CREATE INDEX migrations can be adopted. A table that lacks a column the
    migration declares raises SchemaMismatch instead of being altered.
    """
    tables = [_CREATE_TABLE.match(s) for s in migration.statements]
    present = [m.group(1) for m in tables if m and _table_exists(conn, m.group(1))]
    if not present:
        return False
    for statement in migration.statements:
        table = _CREATE_TABLE.match(statement)
        index = _CREATE_INDEX.match(statement)
        if table and _table_exists(conn, table.group(1)):
            want = {c.lower() for c in declared_columns(statement)}
            missing = sorted(want - _columns(conn, table.group(1)))
            if missing:
                raise SchemaMismatch(
                    f"migration {migration.version}: table {table.group(1)} already exists "
                    f"(applied by hand?) but lacks column(s) {', '.join(missing)}; fix or drop "
                    "it, then run migrate again"
                )
        elif index and index.group(1).lower() in _indexes(conn, index.group(2)):
            continue
        elif table or index:
            conn.execute(statement)
        else:
            raise SchemaMismatch(
                f"migration {migration.version}: {', '.join(present)} already exist(s) but the "
                f"migration also runs {statement[:60]!r}, which cannot be checked; record the "
                "version in SchemaMigrations by hand once you have verified it"
            )
    return True


def apply_migrations(conn: pyodbc.Connection) -> list[str]:
    """Pending migrations in order on an open connection (autocommit off); returns what ran.

    A version whose table already exists with the declared columns is adopted (its missing
    indexes created, the version recorded) and reported as "<version> (adopted)".
    """
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
            adopted = _adopt(conn, migration)
            if not adopted:
                for statement in migration.statements:
                    conn.execute(statement)
            conn.execute(
                "INSERT INTO SchemaMigrations (Version, AppliedOn) VALUES (?, ?)",
                migration.version,
                # timezone.utc, not datetime.UTC: this module runs on Python 3.9 (see above).
                datetime.now(timezone.utc).isoformat(timespec="seconds"),  # noqa: UP017
            )
            conn.commit()
        except (pyodbc.Error, SystemExit):
            conn.rollback()
            raise
        applied.append(f"{migration.version} (adopted)" if adopted else migration.version)
    return applied


# --- The app's database user (Azure SQL only) ---------------------------------------------------
# Every statement below is T-SQL checked offline with sqlglot (tests/deploy/test_migration.py).
# User names and passwords travel as parameters and are quoted by the server (QUOTENAME), never
# spliced in here; QUOTENAME returns NULL beyond 128 characters, hence the length checks.
APP_TABLE_GRANTS = "SELECT, INSERT"
PRINCIPAL_ID_SQL = "SELECT DATABASE_PRINCIPAL_ID(?)"
CREATE_PASSWORD_USER_SQL = (
    "DECLARE @sql NVARCHAR(MAX) = N'CREATE USER ' + QUOTENAME(?)"
    " + N' WITH PASSWORD = ' + QUOTENAME(?, N'''')",
    "EXECUTE (@sql)",
)
ALTER_PASSWORD_SQL = (
    "DECLARE @sql NVARCHAR(MAX) = N'ALTER USER ' + QUOTENAME(?)"
    " + N' WITH PASSWORD = ' + QUOTENAME(?, N'''')",
    "EXECUTE (@sql)",
)
CREATE_EXTERNAL_USER_SQL = (
    "DECLARE @sql NVARCHAR(MAX) = N'CREATE USER ' + QUOTENAME(?) + N' FROM EXTERNAL PROVIDER'",
    "EXECUTE (@sql)",
)
GRANT_SQL = (
    "DECLARE @sql NVARCHAR(MAX) = N'GRANT " + APP_TABLE_GRANTS + " ON dbo.ImageMetadata TO '"
    " + QUOTENAME(?)",
    "EXECUTE (@sql)",
)
ROLES_OF_SQL = (
    "SELECT r.name FROM sys.database_role_members AS m"
    " JOIN sys.database_principals AS r ON r.principal_id = m.role_principal_id"
    " WHERE m.member_principal_id = DATABASE_PRINCIPAL_ID(?)"
)
DROP_ROLE_MEMBER_SQL = (
    "DECLARE @sql NVARCHAR(MAX) = N'ALTER ROLE ' + QUOTENAME(?) + N' DROP MEMBER ' + QUOTENAME(?)",
    "EXECUTE (@sql)",
)
_PRINCIPAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$")


def batch(statements: tuple[str, ...]) -> str:
    """One batch of the statements above (the DECLARE'd variable lives for the batch)."""
    return ";\n".join(statements)


def ensure_app_access(conn: pyodbc.Connection, user: str, password: str | None = None) -> list[str]:
    """Give the app's database user SELECT and INSERT on ImageMetadata, nothing more.

    With a password: a contained user with that password (created, or its password reset to
    match the app setting the deployment just wrote). Without: `user` is the Function App's name
    and its managed identity becomes a user FROM EXTERNAL PROVIDER (this connection must then be
    an Entra one). Role memberships (db_datareader/db_datawriter from older instructions) are
    dropped. SQLite has no users: returns [] without touching the database.
    """
    if detect_dialect(conn) != "tsql":
        return []
    if not _PRINCIPAL.match(user):
        raise ValueError(f"invalid database user name {user!r}")
    if password is not None and not 0 < len(password) <= 128:
        raise ValueError("the app user's password must be 1-128 characters")
    done = []
    exists = conn.execute(PRINCIPAL_ID_SQL, user).fetchone()[0] is not None
    if password is None:
        if not exists:
            conn.execute(batch(CREATE_EXTERNAL_USER_SQL), user)
            done.append(f"created user [{user}] FROM EXTERNAL PROVIDER")
    elif exists:
        conn.execute(batch(ALTER_PASSWORD_SQL), user, password)
        done.append(f"reset the password of user [{user}]")
    else:
        conn.execute(batch(CREATE_PASSWORD_USER_SQL), user, password)
        done.append(f"created contained user [{user}]")
    for (role,) in conn.execute(ROLES_OF_SQL, user).fetchall():
        conn.execute(batch(DROP_ROLE_MEMBER_SQL), role, user)
        done.append(f"removed [{user}] from role {role}")
    conn.execute(batch(GRANT_SQL), user)
    done.append(f"granted {APP_TABLE_GRANTS} on dbo.ImageMetadata to [{user}]")
    conn.commit()
    return done


def fetch_rows(connection_string: str) -> list[dict[str, Any]]:
    with pyodbc.connect(connection_string, autocommit=True) as conn:
        cur = conn.execute("SELECT * FROM ImageMetadata ORDER BY Id")
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def print_rows(connection_string: str, out: Any = None) -> int:
    """A readable table of the core columns; returns the row count.

    Stored text comes from outside (blob names, EXIF): every cell is escaped, so a name with
    ESC, CR or U+202E prints as inert text instead of driving the terminal.
    """
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
    text = "" if value is None else escape_text(value)
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
