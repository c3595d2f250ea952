"""Schema migrations and row listing, for Azure SQL and the local SQLite ODBC default.

    python -m imagemeta.db migrate [--connection-string CS]
    python -m imagemeta.db rows    [--connection-string CS] [--name NAME]

`rows` lists one row per blob version, newest first, with the version's ETag and upload time
(`--name` keeps one file's versions; `*` and `?` are wildcards), fitted to the terminal.
Problems a user can fix (no connection string, an ODBC driver that is not installed, a database
that was never migrated) are one line on stderr and exit code 2.

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
import shutil
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


class DatabaseError(Exception):
    """A problem the user fixes in the connection string or by migrating; the message is the
    one line they see."""


class DriverError(DatabaseError):
    """The ODBC driver the connection string names is not installed or cannot be loaded."""


_DRIVER = re.compile(r"(?i)(?:^|;)\s*Driver\s*=\s*(\{[^}]*\}|[^;]*)")


def driver_of(connection_string: str) -> str | None:
    match = _DRIVER.search(connection_string)
    return match.group(1).strip().strip("{}") if match else None


def configuration_problem(connection_string: str, exc: pyodbc.Error) -> DatabaseError | None:
    """The connection string itself is wrong (no such driver or data source), or None.

    Shared with the StoreMetadata activity (imagemeta.store): such an error is configuration,
    which no retry can fix, as against a database that is down or locked.
    """
    state = str(exc.args[0]) if exc.args else ""
    detail = _odbc_text(_first_line(exc.args[1] if len(exc.args) > 1 else exc))
    driver = driver_of(connection_string)
    if driver and (state == "IM002" or "Can't open lib" in detail):
        registered = ", ".join(pyodbc.drivers()) or "none"
        problem = "is not installed" if state == "IM002" else f"cannot be loaded ({detail})"
        return DriverError(
            f"ODBC driver {driver!r} (Driver= in SqlConnectionString) {problem}; "
            f"drivers registered: {registered} (the local default is Driver={{SQLite3}})"
        )
    if state == "IM002":
        return DatabaseError(
            f"SqlConnectionString names no Driver= and no known data source ({detail})"
        )
    return None


def connect(connection_string: str, autocommit: bool = False) -> pyodbc.Connection:
    """pyodbc.connect, with the usual mistakes turned into a DatabaseError that names them.

    IM002 is the driver manager's "data source name not found": with a Driver= keyword it means
    no driver of that name is registered (odbcinst.ini); "Can't open lib" means it is registered
    but its library is missing (Debian registers SQLite 2's driver next to SQLite3's). Either way
    the message names the driver and lists the registered ones.
    """
    try:
        return pyodbc.connect(connection_string, autocommit=autocommit)
    except pyodbc.Error as exc:
        problem = configuration_problem(connection_string, exc)
        if problem is not None:
            raise problem from exc
        detail = _odbc_text(_first_line(exc.args[1] if len(exc.args) > 1 else exc))
        path = _sqlite_path(connection_string)
        where = f" {path}" if path else ""
        raise DatabaseError(f"cannot connect to the database{where}: {detail}") from exc


_ODBC_NOISE = re.compile(r"^(\[[^\]]*\]\s*)+|(\s*\(\w*\))+\s*$")


def _odbc_text(message: str) -> str:
    """The driver manager's message without its [state][manager] prefix and (n) (call) tail."""
    return _ODBC_NOISE.sub("", message) or message


def _first_line(value: object) -> str:
    text = str(value).strip()
    return (text.splitlines()[0] if text else type(value).__name__)[:300]


def migrate(connection_string: str) -> list[str]:
    """Apply pending migrations in order, each in its own transaction; returns what ran."""
    ensure_sqlite_directory(connection_string)
    conn = connect(connection_string, autocommit=False)
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


VERSION_COLUMNS = ("FileName", "FileSizeKB", "Width", "Height", "Format", "ColorMode",
                   "UploadedOn", "BlobETag")  # fmt: skip


def like_pattern(name: str) -> str:
    r"""A `--name` argument as a LIKE pattern with ESCAPE '\': `*` and `?` are wildcards,
    everything else (SQL's own % _ and T-SQL's [) matches itself."""
    out = []
    for ch in name:
        if ch in "\\%_[":
            out.append("\\" + ch)
        else:
            out.append({"*": "%", "?": "_"}.get(ch, ch))
    return "".join(out)


def fetch_versions(connection_string: str, name: str | None = None) -> list[dict[str, Any]]:
    """One row per blob version, newest upload first; `name` filters by file name."""
    with _connect_existing(connection_string) as conn:
        if not _table_exists(conn, "ImageMetadata"):
            raise DatabaseError(
                "no ImageMetadata table in this database: run `python -m imagemeta.db migrate` "
                "(make start does) before listing rows"
            )
        sql = f"SELECT {', '.join(VERSION_COLUMNS)} FROM ImageMetadata"  # noqa: S608 - constants
        params: list[str] = []
        if name is not None:
            sql += " WHERE FileName LIKE ? ESCAPE '\\'"
            params.append(like_pattern(name))
        cur = conn.execute(sql + " ORDER BY UploadedOn DESC, Id DESC", *params)
        return [dict(zip(VERSION_COLUMNS, row, strict=True)) for row in cur.fetchall()]


def _sqlite_path(connection_string: str) -> Path | None:
    match = re.search(r"(?i)(?:^|;)\s*Database\s*=\s*([^;]+)", connection_string)
    if match and "sqlite" in (driver_of(connection_string) or "").lower():
        return Path(match.group(1).strip())
    return None


def _connect_existing(connection_string: str) -> pyodbc.Connection:
    """Connect without creating anything: SQLite creates a missing database file on connect,
    so its driver's NoCreat=1 is added; the driver is still checked first."""
    path = _sqlite_path(connection_string)
    if path is None:
        return connect(connection_string, autocommit=True)
    try:
        return connect(connection_string.rstrip(";") + ";NoCreat=1", autocommit=True)
    except DriverError:
        raise
    except DatabaseError as exc:
        if path.exists():
            raise
        raise DatabaseError(
            f"database file {path} does not exist: run `python -m imagemeta.db migrate` "
            "(make start does) first"
        ) from exc


def print_rows(
    connection_string: str, out: Any = None, name: str | None = None, width: int | None = None
) -> int:
    """The versions as a table that fits `width` columns (the terminal's); returns the count.
    Stored text comes from outside (blob names, EXIF): every cell is escaped (textsafe)."""
    out = out or sys.stdout
    rows = fetch_versions(connection_string, name)
    width = width or shutil.get_terminal_size((80, 24)).columns
    for line in version_table(rows, width):
        print(line, file=out)
    what = f" of {escape_text(name)}" if name is not None else ""
    print(f"({len(rows)} version{'s' if len(rows) != 1 else ''}{what}, newest first)", file=out)
    return len(rows)


HEADER = ("File", "KB", "Size", "Format", "Mode", "Uploaded (UTC)", "ETag")
GAP = "  "


def version_table(rows: list[dict[str, Any]], width: int) -> list[str]:
    """Header, rule and one line per version, at most `width` characters each when possible.

    Columns keep their natural width while the whole fits; otherwise the ETag keeps its end
    (the part that differs between versions: the start is the same "0x8D..." for every blob),
    then the upload time drops its seconds, then the file name gets what is left, shortened in
    the middle.
    """

    def cells(seconds: bool, etag_width: int | None) -> list[list[str]]:
        table = []
        for r in rows:
            etag = str(r.get("BlobETag") or "").strip('"')
            table.append([
                escape_text(str(r.get("FileName") or "")),
                str(r.get("FileSizeKB") if r.get("FileSizeKB") is not None else ""),
                f"{r.get('Width')}x{r.get('Height')}",
                escape_text(str(r.get("Format") or "")),
                escape_text(str(r.get("ColorMode") or "")),
                _timestamp(r.get("UploadedOn"), seconds),
                tail(etag, etag_width) if etag_width else etag,
            ])  # fmt: skip
        return table

    def widths(table: list[list[str]]) -> list[int]:
        return [max([len(h)] + [len(row[i]) for row in table]) for i, h in enumerate(HEADER)]

    def total(w: list[int]) -> int:
        return sum(w) + len(GAP) * (len(w) - 1)

    for seconds, etag_width in ((True, None), (True, 10), (False, 10)):
        table = cells(seconds, etag_width)
        w = widths(table)
        if total(w) <= width:
            break
    else:
        w[0] = max(len(HEADER[0]), min(w[0], width - total(w) + w[0]), 12)
        for row in table:
            row[0] = middle(row[0], w[0])
    right = {1}  # KB

    def line(values: list[str] | tuple[str, ...]) -> str:
        pairs = enumerate(zip(values, w, strict=True))
        return GAP.join(v.rjust(n) if i in right else v.ljust(n) for i, (v, n) in pairs).rstrip()

    return [line(HEADER), GAP.join("-" * n for n in w), *(line(row) for row in table)]


def tail(text: str, limit: int) -> str:
    return text if len(text) <= limit else "…" + text[len(text) - limit + 1 :]


def middle(text: str, limit: int) -> str:
    """`text` cut to `limit` characters by replacing its middle with an ellipsis."""
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2 + (limit - 1) % 2
    return text[:head] + "…" + text[len(text) - (limit - 1 - head) :]


def _timestamp(value: object, seconds: bool) -> str:
    if value is None:
        return ""
    text = value.isoformat(sep=" ") if isinstance(value, datetime) else str(value)
    text = text.replace("T", " ").rstrip("Z")
    text = text.split("+")[0].split(".")[0]
    return text if seconds else text[:16]


def default_connection_string(app_dir: Path | None = None) -> str:
    value = os.environ.get("SqlConnectionString")
    if value:
        return value
    settings = (app_dir or Path.cwd()) / "local.settings.json"
    if settings.exists():
        try:
            values = json.loads(settings.read_text(encoding="utf-8-sig")).get("Values", {})
        except (ValueError, AttributeError) as exc:
            raise DatabaseError(f"{settings.name} is not valid JSON: {exc}") from exc
        value = values.get("SqlConnectionString") if isinstance(values, dict) else None
        if value:
            return str(value)
    raise DatabaseError("no SqlConnectionString in the environment or local.settings.json (Values)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m imagemeta.db", description=__doc__.split("\n")[0]
    )
    parser.add_argument("command", choices=["migrate", "rows"])
    parser.add_argument("--connection-string", help="pyodbc connection string")
    parser.add_argument("--name", help="rows: only this file's versions (* and ? wildcards)")
    args = parser.parse_args(argv)
    try:
        cs = args.connection_string or default_connection_string()
        if args.command == "migrate":
            applied = migrate(cs)
            print(f"applied: {', '.join(applied)}" if applied else "schema is up to date")
        else:
            print_rows(cs, name=args.name)
    except DatabaseError as exc:
        print(f"imagemeta.db: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # SchemaMismatch, an unsupported database: already one line
        if isinstance(exc.code, int) or exc.code is None:
            raise
        print(f"imagemeta.db: {exc.code}", file=sys.stderr)
        return 2
    except pyodbc.Error as exc:  # anything else the database says: its first line, not a trace
        print(f"imagemeta.db: {args.command}: {_first_line(exc)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
