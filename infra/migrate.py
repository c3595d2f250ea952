"""Deploy-time migration runner, run by infra/deploy.sh from its own minimal environment.

    python infra/migrate.py --server FQDN --database NAME --app-auth password|managedIdentity
                            --app-user NAME [--driver NAME_OR_PATH] [--wait SECONDS]

Applies imagemeta/schema/tsql through `imagemeta.db` (the same code the app's tests run), then
gives the app's database user SELECT, INSERT on ImageMetadata. Needs only pyodbc and an ODBC
driver for SQL Server; runs on Python 3.9 to 3.13.

Secrets come from the environment, never from the command line:
  SQL_ADMIN_LOGIN, SQL_ADMIN_PASSWORD  the server admin (password mode connects as it)
  SQL_APP_PASSWORD                     the app's contained user's password (password mode)
In managedIdentity mode the runner connects with the deployer's Entra token
(`az account get-access-token`, read from its stdout) and creates the Function App's identity
as a user FROM EXTERNAL PROVIDER.

A new firewall rule can take minutes to apply: connection errors that mean "not yet" (40615
client IP not allowed, 40613 database unavailable, 08001/HYT00 unreachable) are retried with a
message until --wait seconds have passed.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DRIVER_NAME = "ODBC Driver 18 for SQL Server"
SQL_COPT_SS_ACCESS_TOKEN = 1256
TOKEN_RESOURCE = "https://database.windows.net/"  # noqa: S105 - a resource URL, not a secret
# 40615: client IP not allowed (firewall rule not applied yet); 40613: database not available
# yet; 08001 / HYT00 / HYT01 / 08S01: server not reachable / login timeout / link failure.
RETRYABLE = ("40615", "40613", "08001", "HYT00", "HYT01", "08S01")
ODBC_HELP = (
    "pyodbc needs the unixODBC driver manager (libodbc.so.2): "
    "Debian/Ubuntu `sudo apt-get install unixodbc`, Fedora/RHEL `sudo dnf install unixODBC`, "
    "SUSE `sudo zypper install unixODBC`, macOS `brew install unixodbc`"
)


def fail(message: str) -> SystemExit:
    return SystemExit(f"migrate: error: {message}")


def import_pyodbc() -> Any:
    try:
        import pyodbc  # noqa: PLC0415 - the import error is the message
    except ImportError as e:
        raise fail(f"{e}\n  {ODBC_HELP}") from e
    return pyodbc


# --- ODBC driver -------------------------------------------------------------------------------
RHEL_LIKE = {
    "rhel",
    "fedora",
    "centos",
    "rocky",
    "almalinux",
    "ol",
    "amzn",
    "mariner",
    "azurelinux",
}


def linux_family(os_release: str) -> str | None:
    """The mssql-python-odbc library folder for this distribution (/etc/os-release text)."""
    pairs = (line.partition("=") for line in os_release.splitlines())
    fields = {k: v.strip().strip('"') for k, _, v in pairs if k}
    ids = {fields.get("ID", "")} | set(fields.get("ID_LIKE", "").split())
    ids = {i.lower() for i in ids if i}
    if ids & {"debian", "ubuntu"}:
        return "debian_ubuntu"
    if any(i.startswith(("suse", "sles", "opensuse")) for i in ids):
        return "suse"
    if ids & RHEL_LIKE:
        return "rhel"
    return None


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path.name))


def wheel_driver(package_dir: Path, family: str | None, machine: str) -> str | None:
    """The msodbcsql 18 library inside the mssql-python-odbc wheel for this OS and CPU.

    Picks the distribution's own build (the wheel also holds the RHEL and SUSE builds; a plain
    sorted glob picked SUSE's on Debian), newest version first.
    """
    libs = package_dir / "libs"
    machine = machine.lower()
    if machine in {"x86_64", "amd64"}:
        arches = ["x86_64", "amd64"]
    elif machine in {"aarch64", "arm64"}:
        arches = ["arm64", "aarch64"]
    else:
        arches = []
    candidates: list[Path] = []
    if family:
        for arch in arches:
            candidates += (libs / "linux" / family / arch / "lib").glob("libmsodbcsql-18*.so*")
    if not candidates:  # macOS wheels ship a dylib
        candidates = list(libs.glob("macos/*/lib/libmsodbcsql.18*.dylib"))
    return str(max(candidates, key=_version_key)) if candidates else None


def find_driver(pyodbc: Any, explicit: str | None) -> str:
    if explicit:
        return explicit
    if DRIVER_NAME in pyodbc.drivers():
        return DRIVER_NAME
    try:
        import mssql_python_odbc  # noqa: PLC0415 - optional: an installed driver wins
    except ImportError:
        mssql_python_odbc = None
    if mssql_python_odbc is not None:
        os_release = Path("/etc/os-release")
        family = linux_family(os_release.read_text()) if os_release.exists() else None
        found = wheel_driver(Path(mssql_python_odbc.__file__).parent, family, platform.machine())
        if found:
            return found
    raise fail(
        f"no SQL Server ODBC driver: install '{DRIVER_NAME}' "
        "(https://learn.microsoft.com/sql/connect/odbc/download-odbc-driver-for-sql-server) "
        f"or pass --driver; drivers registered: {pyodbc.drivers()}"
    )


# --- Connection string ---------------------------------------------------------------------------
def odbc_value(value: str, always: bool = False) -> str:
    """An ODBC connection-string value: braced with '}' doubled when it needs it (or always).

    Unbraced, a ';' ends the value and a leading '{' starts a braced one: a password like
    `a;b` or `{x` would break the connection string (or inject attributes).
    """
    special = any(c in value for c in ";{}=") or value != value.strip()
    if always or special:
        return "{" + value.replace("}", "}}") + "}"
    return value


def connection_string(
    driver: str, server: str, database: str, uid: str | None = None, pwd: str | None = None
) -> str:
    parts = [
        f"Driver={odbc_value(driver, always=True)}",
        # "host" or "host,port" (a non-default port, e.g. a test server)
        f"Server={odbc_value(f'tcp:{server}' if ',' in server else f'tcp:{server},1433')}",
        f"Database={odbc_value(database)}",
    ]
    if uid is not None:
        parts += [
            f"Uid={odbc_value(uid, always=True)}",
            f"Pwd={odbc_value(pwd or '', always=True)}",
        ]
    parts += ["Encrypt=yes", "TrustServerCertificate=no", "Connection Timeout=30"]
    return ";".join(parts)


def access_token_attrs(token: str) -> dict[int, bytes]:
    """pyodbc attrs_before for an Entra access token (SQL_COPT_SS_ACCESS_TOKEN)."""
    raw = token.encode("utf-16-le")
    return {SQL_COPT_SS_ACCESS_TOKEN: struct.pack(f"<I{len(raw)}s", len(raw), raw)}


def entra_token(az: str = "az") -> str:
    """The signed-in deployer's token for Azure SQL, read from az's stdout (never argv)."""
    proc = subprocess.run(
        [az, "account", "get-access-token", "--resource", TOKEN_RESOURCE,
         "--query", "accessToken", "-o", "tsv"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    token = proc.stdout.strip()
    if proc.returncode != 0 or not token:
        raise fail(f"could not get an Entra token for Azure SQL from az: {proc.stderr.strip()}")
    return token


# --- Connect, waiting for the firewall rule ------------------------------------------------------
def sqlstate_of(error: BaseException) -> str:
    return " ".join(str(a) for a in getattr(error, "args", ()))


def retryable(error: BaseException) -> bool:
    text = sqlstate_of(error)
    return any(code in text for code in RETRYABLE)


def connect_with_retry(
    connect: Callable[[], Any],
    wait_seconds: float,
    *,
    interval: float = 15.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    log: Callable[[str], None] = print,
) -> Any:
    """connect() until it succeeds, retrying errors that mean "not yet" for wait_seconds."""
    start = clock()
    attempt = 0
    while True:
        attempt += 1
        try:
            return connect()
        except Exception as e:
            if not retryable(e):
                raise
            elapsed = clock() - start
            reason = sqlstate_of(e).splitlines()[0][:200]
            if elapsed + interval > wait_seconds:
                raise fail(
                    f"the SQL server still refuses this machine after {elapsed:.0f} s "
                    f"({attempt} attempts; last: {reason}). A new firewall rule can take several "
                    "minutes to apply: run infra/deploy.sh again (every step is idempotent), "
                    "or set DEPLOY_MIGRATE_WAIT (seconds) higher"
                ) from e
            log(
                f"migrate: waiting for the SQL firewall rule to apply (attempt {attempt}, "
                f"{elapsed:.0f}/{wait_seconds:.0f} s): {reason}"
            )
            sleep(interval)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", required=True, help="SQL server host name (FQDN)")
    parser.add_argument("--database", required=True)
    parser.add_argument("--app-auth", choices=["password", "managedIdentity"], required=True)
    parser.add_argument(
        "--app-user", required=True, help="contained user (password) or Function App name (MI)"
    )
    parser.add_argument("--driver", default=os.environ.get("DEPLOY_ODBC_DRIVER") or None)
    parser.add_argument("--wait", type=float, default=300.0, help="firewall wait, seconds")
    parser.add_argument("--interval", type=float, default=15.0)
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # progress, in order

    sys.path.insert(0, str(ROOT))
    pyodbc = import_pyodbc()
    from imagemeta import db  # noqa: PLC0415 - after the pyodbc check, from the repo root

    driver = find_driver(pyodbc, args.driver)
    print(f"migrate: ODBC driver {driver}")
    attrs: dict[int, bytes] = {}
    if args.app_auth == "managedIdentity":
        cs = connection_string(driver, args.server, args.database)
        attrs = access_token_attrs(entra_token(os.environ.get("AZ", "az")))
        app_password = None
    else:
        login, password = os.environ.get("SQL_ADMIN_LOGIN"), os.environ.get("SQL_ADMIN_PASSWORD")
        app_password = os.environ.get("SQL_APP_PASSWORD")
        if not (login and password and app_password):
            raise fail("set SQL_ADMIN_LOGIN, SQL_ADMIN_PASSWORD and SQL_APP_PASSWORD")
        cs = connection_string(driver, args.server, args.database, login, password)

    def connect() -> Any:
        return pyodbc.connect(cs, autocommit=False, attrs_before=attrs or None)

    conn = connect_with_retry(connect, args.wait, interval=args.interval)
    try:
        applied = db.apply_migrations(conn)
        print(f"migrate: applied {', '.join(applied) or 'nothing (schema is up to date)'}")
        for line in db.ensure_app_access(conn, args.app_user, app_password):
            print(f"migrate: {line}")
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
