"""The deploy-time migration: imagemeta.db (adoption of a hand-applied schema, the app's database
user) and infra/migrate.py (driver choice, quoting, firewall wait), on real pyodbc + ODBC drivers.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyodbc
import pytest
import sqlglot
from sqlglot import exp

from imagemeta import db
from infra import migrate
from tests.deploy.conftest import ROOT, SQLITE_DRIVER, build_migration_env

pytestmark = pytest.mark.infra

NEW_TSQL = {
    "PRINCIPAL_ID_SQL": (db.PRINCIPAL_ID_SQL,),
    "CREATE_PASSWORD_USER_SQL": db.CREATE_PASSWORD_USER_SQL,
    "ALTER_PASSWORD_SQL": db.ALTER_PASSWORD_SQL,
    "CREATE_EXTERNAL_USER_SQL": db.CREATE_EXTERNAL_USER_SQL,
    "GRANT_SQL": db.GRANT_SQL,
    "ROLES_OF_SQL": (db.ROLES_OF_SQL,),
    "DROP_ROLE_MEMBER_SQL": db.DROP_ROLE_MEMBER_SQL,
}


@pytest.fixture
def sqlite_cs(tmp_path: Path) -> str:
    if SQLITE_DRIVER is None:
        pytest.skip("libsqliteodbc is not installed")
    return f"Driver={SQLITE_DRIVER};Database={tmp_path / 'm.db'}"


# --- T-SQL lint (DESIGN.md §3: sqlglot read="tsql", no exp.Command fallback) -------------------
@pytest.mark.parametrize("name", sorted(NEW_TSQL))
def test_new_tsql_statements_pass_the_offline_lint(name: str) -> None:
    for statement in NEW_TSQL[name]:
        tree = sqlglot.parse_one(statement, read="tsql")
        assert not list(tree.find_all(exp.Command)), f"{name}: unparsed: {statement}"
        assert "'" not in statement.replace("N'", "").replace("''''", "") or "QUOTENAME" in (
            statement
        )


def test_user_names_and_passwords_are_parameters_never_spliced() -> None:
    for statements in NEW_TSQL.values():
        text = db.batch(statements)
        assert "imagemeta_app" not in text
        assert text.count("?") >= 1
    # A raw CREATE USER would be what sqlglot cannot check: it only runs as dynamic SQL built
    # by the server from QUOTENAME'd parameters.
    assert sqlglot.parse_one("CREATE USER [x] WITH PASSWORD = 'p'", read="tsql").find(exp.Command)


# --- The app's user: SQL Server only (dialect choice) ----------------------------------------
class RecordingConnection:
    """Answers what ensure_app_access asks a SQL Server; records every statement + parameters.

    No SQL Server is reachable from the tests: this checks the sequence and that secrets travel
    as parameters; the statements themselves are linted above."""

    def __init__(self, dbms: str, user_exists: bool, roles: list[str]) -> None:
        self.dbms, self.user_exists, self.roles = dbms, user_exists, roles
        self.executed: list[tuple[str, tuple[Any, ...]]] = []
        self.committed = False

    def getinfo(self, _: int) -> str:
        return self.dbms

    def execute(self, sql: str, *params: Any) -> Any:
        self.executed.append((sql, params))
        rows: list[tuple[Any, ...]] = []
        if sql == db.PRINCIPAL_ID_SQL:
            rows = [(5 if self.user_exists else None,)]
        elif sql == db.ROLES_OF_SQL:
            rows = [(r,) for r in self.roles]
        return type("Cursor", (), {"fetchone": lambda _s: rows[0], "fetchall": lambda _s: rows})()

    def commit(self) -> None:
        self.committed = True


def test_sqlite_gets_no_users_or_grants(sqlite_cs: str) -> None:
    db.migrate(sqlite_cs)
    conn = pyodbc.connect(sqlite_cs)
    try:
        assert db.detect_dialect(conn) == "sqlite"
        assert db.ensure_app_access(conn, "imagemeta_app", "pw") == []
    finally:
        conn.close()


def test_password_mode_creates_a_contained_user_with_select_insert_only() -> None:
    conn = RecordingConnection("Microsoft SQL Server", user_exists=False, roles=["db_datawriter"])
    password = "p;w{d}'x"
    done = db.ensure_app_access(conn, "imagemeta_app", password)  # type: ignore[arg-type]
    sqls = [sql for sql, _ in conn.executed]
    assert sqls == [
        db.PRINCIPAL_ID_SQL,
        db.batch(db.CREATE_PASSWORD_USER_SQL),
        db.ROLES_OF_SQL,
        db.batch(db.DROP_ROLE_MEMBER_SQL),
        db.batch(db.GRANT_SQL),
    ]
    assert conn.executed[1][1] == ("imagemeta_app", password)
    assert all(password not in sql for sql in sqls)
    assert "GRANT SELECT, INSERT ON dbo.ImageMetadata" in db.batch(db.GRANT_SQL)
    assert conn.committed and "removed [imagemeta_app] from role db_datawriter" in done


def test_rerun_resets_the_password_and_managed_identity_uses_external_provider() -> None:
    again = RecordingConnection("Microsoft SQL Server", user_exists=True, roles=[])
    db.ensure_app_access(again, "imagemeta_app", "new")  # type: ignore[arg-type]
    assert again.executed[1] == (db.batch(db.ALTER_PASSWORD_SQL), ("imagemeta_app", "new"))
    mi = RecordingConnection("Microsoft SQL Server", user_exists=False, roles=[])
    db.ensure_app_access(mi, "imagemetadatafuncapp")  # type: ignore[arg-type]
    assert mi.executed[1] == (db.batch(db.CREATE_EXTERNAL_USER_SQL), ("imagemetadatafuncapp",))
    with pytest.raises(ValueError, match="invalid database user"):
        db.ensure_app_access(mi, "x]; DROP USER dbo --", "pw")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="1-128"):
        db.ensure_app_access(mi, "imagemeta_app", "x" * 129)  # type: ignore[arg-type]


# --- Item 9: a schema applied by hand is adopted -------------------------------------------------
def test_hand_applied_schema_is_adopted_not_recreated(sqlite_cs: str) -> None:
    conn = pyodbc.connect(sqlite_cs, autocommit=True)
    (migration,) = db.load_migrations("sqlite")
    for statement in migration.statements[:-1]:  # as `sqlcmd -i` would, minus the last index
        conn.execute(statement)
    conn.close()
    assert db.migrate(sqlite_cs) == ["0001_create_image_metadata (adopted)"]
    conn = pyodbc.connect(sqlite_cs)
    try:
        assert "ix_imagemetadata_uploadedon" in db._indexes(conn, "ImageMetadata")  # created
        versions = [r[0] for r in conn.execute("SELECT Version FROM SchemaMigrations")]
        assert versions == ["0001_create_image_metadata"]
    finally:
        conn.close()
    assert db.migrate(sqlite_cs) == []


def test_a_hand_made_table_with_other_columns_is_refused(sqlite_cs: str) -> None:
    conn = pyodbc.connect(sqlite_cs, autocommit=True)
    conn.execute("CREATE TABLE ImageMetadata (Id INTEGER PRIMARY KEY, FileName NVARCHAR(10))")
    conn.close()
    with pytest.raises(db.SchemaMismatch, match="lacks column"):
        db.migrate(sqlite_cs)


def test_declared_columns_agree_with_sqlglot() -> None:
    for dialect in ("tsql", "sqlite"):
        create = db.load_migrations(dialect)[0].statements[0]
        tree = sqlglot.parse_one(create, read=dialect)
        assert db.declared_columns(create) == [c.name for c in tree.find_all(exp.ColumnDef)]


# --- infra/migrate.py --------------------------------------------------------------------------
def test_firewall_wait_retries_then_connects() -> None:
    """Item 3: 40615 (client IP not allowed yet) is retried with a message, bounded."""
    refused = pyodbc.Error(
        "42000",
        "[42000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Cannot open server "
        "'imagemetadata-sqlsrv' requested by the login. Client with IP address '203.0.113.7' "
        "is not allowed to access the server. (40615) (SQLDriverConnect)",
    )
    attempts: list[int] = []
    now = [0.0]
    logs: list[str] = []

    def connect() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise refused
        return "connection"

    def sleep(s: float) -> None:
        now[0] += s

    conn = migrate.connect_with_retry(
        connect, 300, interval=15, sleep=sleep, clock=lambda: now[0], log=logs.append
    )
    assert conn == "connection" and len(attempts) == 3 and now[0] == 30
    assert all("waiting for the SQL firewall rule" in line for line in logs) and len(logs) == 2

    attempts.clear()
    now[0] = 0.0
    with pytest.raises(SystemExit, match=r"still refuses this machine after \d+ s"):
        migrate.connect_with_retry(
            lambda: (_ for _ in ()).throw(refused), 60, interval=15, sleep=sleep,
            clock=lambda: now[0], log=logs.append,
        )  # fmt: skip
    assert now[0] <= 60

    login_failed = pyodbc.Error("28000", "[28000] Login failed for user 'x'. (18456)")
    with pytest.raises(pyodbc.Error):  # wrong password: no waiting
        migrate.connect_with_retry(
            lambda: (_ for _ in ()).throw(login_failed), 300, sleep=sleep, log=logs.append
        )


OS_RELEASES = {
    'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n': "debian_ubuntu",
    'ID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n': "debian_ubuntu",
    'ID="rhel"\nID_LIKE="fedora"\n': "rhel",
    'ID="amzn"\nID_LIKE="centos rhel fedora"\n': "rhel",
    'ID="sles"\nID_LIKE="suse"\n': "suse",
    'ID="opensuse-leap"\nID_LIKE="suse opensuse"\n': "suse",
    "ID=alpine\n": None,
}


@pytest.mark.parametrize(("text", "family"), OS_RELEASES.items())
def test_linux_family(text: str, family: str | None) -> None:
    assert migrate.linux_family(text) == family


def test_the_driver_for_this_distribution_not_the_last_in_sort_order(tmp_path: Path) -> None:
    """Item 6: the wheel holds debian_ubuntu, rhel and suse builds; sorted()[-1] picked suse."""
    for family in ("debian_ubuntu", "rhel", "suse"):
        lib = tmp_path / "libs" / "linux" / family / "x86_64" / "lib"
        lib.mkdir(parents=True)
        (lib / "libmsodbcsql-18.6.so.2.1").write_text(family)
    old = sorted(str(p) for p in tmp_path.glob("libs/linux/*/*/lib/libmsodbcsql-18*.so*"))[-1]
    assert "/suse/" in old  # what deploy.sh used to load on Debian
    picked = migrate.wheel_driver(tmp_path, "debian_ubuntu", "x86_64")
    assert picked is not None and "/debian_ubuntu/" in picked
    assert "/rhel/" in str(migrate.wheel_driver(tmp_path, "rhel", "x86_64"))
    assert migrate.wheel_driver(tmp_path, None, "x86_64") is None


def odbc_parse(cs: str) -> dict[str, str]:
    """ODBC connection-string grammar: key=value; braced values with '}}' as a literal '}'."""
    out, i = {}, 0
    while i < len(cs):
        eq = cs.index("=", i)
        key, i = cs[i:eq].strip().lower(), eq + 1
        if cs[i : i + 1] == "{":
            value, i = "", i + 1
            while True:
                close = cs.index("}", i)
                value += cs[i:close]
                if cs[close + 1 : close + 2] == "}":
                    value, i = value + "}", close + 2
                    continue
                i = close + 1
                break
        else:
            end = cs.find(";", i)
            end = len(cs) if end < 0 else end
            value, i = cs[i:end], end
        out[key] = value
        i += 1 if cs[i : i + 1] == ";" else 0
    return out


HOSTILE = ["a;b", "{lead", "tr}ail", 'quote\'d "x"', "  spaced  ", "x;Server=tcp:evil,1;", "}}{{"]


@pytest.mark.parametrize("password", HOSTILE)
def test_connection_string_round_trips_hostile_passwords(password: str) -> None:
    """Item 5: every value survives ODBC parsing exactly."""
    cs = migrate.connection_string("/opt/x/libmsodbcsql-18.so", "srv.example", "db", "u;", password)
    parsed = odbc_parse(cs)
    assert parsed["pwd"] == password and parsed["uid"] == "u;"
    assert parsed["server"] == "tcp:srv.example,1433"
    naive = f"Server=tcp:srv.example,1433;Uid=u;Pwd={password};Encrypt=yes"  # the old form
    if ";" in password or password.startswith("{"):  # what unbraced values cannot carry
        try:
            broken = odbc_parse(naive).get("pwd") != password
        except ValueError:
            broken = True
        assert broken


@pytest.fixture(scope="module")
def migration_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_migration_env(tmp_path_factory.mktemp("cache"), sys.executable)


QUOTING_PROBE = """
import json, socket, sys, threading
sys.path.insert(0, sys.argv[1])
from infra import migrate
import pyodbc
hits = [0]
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
def serve():
    while True:
        c, _ = s.accept(); hits[0] += 1; c.close()
threading.Thread(target=serve, daemon=True).start()
server = "127.0.0.1,%d" % s.getsockname()[1]
driver = migrate.find_driver(pyodbc, None)
out = []
for password in json.loads(sys.argv[2]):
    for label, cs in [
        ("quoted", migrate.connection_string(driver, server, "db", "u", password)),
        ("naive", "Driver={%s};Server=tcp:%s;Database=db;Uid=u;Pwd=%s;Encrypt=yes"
                  % (driver, server, password)),
    ]:
        before = hits[0]
        try:
            pyodbc.connect(cs, timeout=5).close()
            state = "connected"
        except pyodbc.Error as e:
            state = e.args[0]
        out.append([password, label, state, hits[0] - before])
print(json.dumps(out))
"""
INJECTION = "p;Driver={nope}"  # unquoted, unixODBC's driver manager takes the last Driver=


def test_the_real_driver_receives_hostile_passwords_as_one_value(migration_python: Path) -> None:
    """Item 5 with unixODBC + Microsoft's ODBC Driver 18: every hostile password, quoted, reaches
    the server as a password (the login handshake is attempted); the old unquoted `Pwd=...`
    lets a password rewrite the connection string (negative control)."""
    passwords = [*HOSTILE, INJECTION]
    proc = subprocess.run(
        [str(migration_python), "-c", QUOTING_PROBE, str(ROOT), json.dumps(passwords)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = {(pw, label): (state, reached) for pw, label, state, reached in json.loads(proc.stdout)}
    for password in passwords:
        state, reached = rows[(password, "quoted")]
        assert (state, reached >= 1) == ("08001", True), (password, state, reached)
    state, reached = rows[(INJECTION, "naive")]
    assert reached == 0 and state == "01000", (state, reached)  # "Can't open lib 'nope'"


PYENV = Path.home() / ".pyenv" / "versions"


def pyenv_python(minor: str) -> str | None:
    found = sorted(PYENV.glob(f"{minor}.*/bin/python{minor}")) or [
        Path(p) for p in [shutil.which(f"python{minor}")] if p
    ]
    return str(found[-1]) if found else None


@pytest.mark.parametrize("minor", ["3.9", "3.13"])
def test_migration_runs_on_python_39_to_313(tmp_path: Path, sqlite_cs: str, minor: str) -> None:
    """Item 1: the migration needs only pyodbc + a driver, on the oldest and newest Python."""
    python = pyenv_python(minor)
    if python is None:
        pytest.skip(f"python{minor} is not installed")
    venv_python = build_migration_env(tmp_path / "cache", python)
    env = {"PATH": "/usr/bin:/bin", "SQL_ADMIN_LOGIN": "a", "SQL_ADMIN_PASSWORD": "b;{c",
           "SQL_APP_PASSWORD": "d", "DEPLOY_ODBC_DRIVER": str(SQLITE_DRIVER)}  # fmt: skip
    database = tmp_path / "py.db"
    proc = subprocess.run(
        [str(venv_python), str(ROOT / "infra" / "migrate.py"), "--server", "unused",
         "--database", str(database), "--app-auth", "password", "--app-user", "imagemeta_app"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "applied 0001_create_image_metadata" in proc.stdout
    # The wheel driver is found for this distribution on that Python too (item 6).
    probe = subprocess.run(
        [str(venv_python), "-c",
         "import sys; sys.path.insert(0, sys.argv[1]); import pyodbc; from infra import migrate; "
         "print(migrate.find_driver(pyodbc, None))", str(ROOT)],
        capture_output=True, text=True, check=False, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    if Path("/etc/debian_version").exists():
        assert "/debian_ubuntu/" in probe.stdout
    # The app's full requirements do not install there on 3.13 (azure-functions 1.26.0), which
    # is why the migration has its own list.
    assert "azure-functions" not in (ROOT / "infra" / "requirements-migrate.txt").read_text()
