"""infra/deploy.sh end to end, offline: recording az/func stand-ins, a real migration through
pyodbc, real bash. Each test states the issue-15 / issue-12 item it pins."""

from __future__ import annotations

import json
import os
import pty
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from scripts.build_package import package_files
from tests.deploy import standins
from tests.deploy.conftest import (
    ADMIN_PASSWORD,
    CLIENT_IP,
    DECOYS,
    ROOT,
    Deployer,
    Result,
    no_secret_in_argv,
)
from tests.waiting import wait_until

pytestmark = pytest.mark.infra


def assert_clean(result: Result) -> None:
    """Nothing temporary left behind: no firewall rule, no file in TMPDIR."""
    assert result.load("firewall.json", {}) == {}, "temporary firewall rule left behind"
    assert list(result.tmpdir.iterdir()) == [], "temporary files left behind"


def published_files(result: Result) -> list[str]:
    (publish,) = result.load("publishes.json")[-1:]
    return publish["files"]


def tables(database: Path) -> set[str]:
    with sqlite3.connect(database) as db:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


# --- The whole run, twice ------------------------------------------------------------------------
def test_password_mode_first_run_then_idempotent_rerun(deployer: Deployer) -> None:
    """Items 1, 3, 4, 5, 7 + issue 12 item 8: order of calls, secrets, cleanup, package, re-run."""
    first = deployer.run("--yes", "--sql-auth", "password")
    assert first.returncode == 0, first.output
    order = [
        first.index("az", "account", "show"),
        first.index("az", "functionapp", "show"),
        first.index("az", "deployment", "sub", "what-if"),
        first.index("az", "deployment", "sub", "create"),
        first.index("az", "sql", "server", "firewall-rule", "create"),
        first.index("az", "sql", "server", "firewall-rule", "delete"),
        first.index("func", "azure", "functionapp", "publish"),
    ]
    assert -1 not in order and order == sorted(order), first.calls
    assert first.index("curl") == -1  # DEPLOY_CLIENT_IP given: no network look-up

    # The plan is shown before anything is applied.
    assert first.stdout.index("Resource changes:") < first.stdout.index("==> Plan")
    assert "Allow 203.0.113.7" in first.stdout and "[imagemeta_app]" in first.stdout

    # Secrets travel in a parameters file that is gone afterwards, never on a command line.
    (deployment,) = first.load("deployments.json")
    params = deployment["parameters"]
    assert params["sqlAdminPassword"] == ADMIN_PASSWORD  # JSON keeps ; { } ' " intact
    app_password = params["sqlAppPassword"]
    assert len(app_password) >= 30 and app_password != ADMIN_PASSWORD
    assert params["sqlAuthMode"] == "password" and params["sqlAppLogin"] == "imagemeta_app"
    assert not any(Path(f).exists() for f in deployment["files"] if "deploy.parameters" in f)
    assert no_secret_in_argv(first.calls, [ADMIN_PASSWORD, app_password]) == []

    # The migration ran for real (SQLite ODBC here; tsql dialect in Azure) and the rule is gone.
    assert {"ImageMetadata", "SchemaMigrations"} <= tables(deployer.database)
    assert "migrate: applied 0001_create_image_metadata" in first.stdout
    rule = next(
        c for c in first.calls if c["argv"][:4] == ["sql", "server", "firewall-rule", "create"]
    )
    assert CLIENT_IP in rule["argv"]
    assert_clean(first)

    # Publish ran in a staged copy holding exactly the allow-list.
    publish = next(c for c in first.calls if c["tool"] == "func")
    assert not publish["cwd"].startswith(str(deployer.clone))
    files = published_files(first)
    assert files == package_files(ROOT)
    assert not set(files) & set(DECOYS)
    assert not (deployer.clone / ".venv-deploy" / "pyvenv.cfg").exists()  # venv lives elsewhere
    assert list((deployer.cache_home / "image-metadata-deploy").glob("migrate-py3.*"))

    # Second run: same result, nothing re-applied, the published package URL carried over.
    second = deployer.run("--yes", "--sql-auth", "password")
    assert second.returncode == 0, second.output
    assert "migrate: applied nothing (schema is up to date)" in second.stdout
    assert "Building the migration environment" not in second.output
    deployments = second.load("deployments.json")
    assert len(deployments) == 2
    assert deployments[1]["parameters"]["runFromPackageUrl"] == standins.PACKAGE_URL
    assert no_secret_in_argv(second.calls, [standins.PACKAGE_URL, ADMIN_PASSWORD]) == []
    assert_clean(second)


@pytest.mark.parametrize(
    "password",
    ["semi;colon=Pwd", "{starts-with-brace", 'quote\'s "double"', "  spaces  ", "close}}brace}"],
)
def test_hostile_passwords_reach_azure_intact_and_never_on_argv(
    deployer: Deployer, password: str
) -> None:
    """Item 5: admin and app passwords with ; { } ' " and spaces go through the parameters file."""
    result = deployer.run(
        "--yes", "--sql-auth", "password", "--skip-publish",
        SQL_ADMIN_PASSWORD=password, SQL_APP_PASSWORD=password + "-app",
    )  # fmt: skip
    assert result.returncode == 0, result.output
    (deployment,) = result.load("deployments.json")
    assert deployment["parameters"]["sqlAdminPassword"] == password
    assert deployment["parameters"]["sqlAppPassword"] == password + "-app"
    assert no_secret_in_argv(result.calls, [password, password + "-app"]) == []
    assert_clean(result)


# --- Managed identity (the documented default) ---------------------------------------------------
def test_managed_identity_is_the_default(deployer: Deployer) -> None:
    """Issue 12 item 8: no SQL password for the app; the deployer becomes the Entra admin."""
    result = deployer.run("--yes")
    assert result.returncode == 0, result.output
    params = result.load("deployments.json")[0]["parameters"]
    assert params["sqlAuthMode"] == "managedIdentity"
    assert params["sqlAppPassword"] == ""
    assert params["sqlEntraAdminLogin"] == "dev@contoso.com"
    assert params["sqlEntraAdminObjectId"] == "11111111-2222-3333-4444-555555555555"
    # The migration connected with the deployer's Entra token (read from az's stdout).
    assert result.index("az", "account", "get-access-token") > result.index(
        "az", "sql", "server", "firewall-rule", "create"
    )
    assert "as Entra admin dev@contoso.com" in result.stdout
    assert_clean(result)


# --- Failures half-way: everything temporary is removed, later steps never run -----------------
STEPS = [
    ("az", "deployment sub what-if", []),
    ("az", "deployment sub create", ["sql", "func"]),
    ("az", "sql server firewall-rule create", ["func"]),
    ("migrate", "", ["func"]),
    ("func", "azure functionapp publish", []),
]


@pytest.mark.parametrize(("tool", "step", "never"), STEPS, ids=[s[0] + ":" + s[1] for s in STEPS])
def test_a_failing_step_stops_the_run_and_cleans_up(
    deployer: Deployer, tool: str, step: str, never: list[str]
) -> None:
    """Cleanup at each step (trap on EXIT): firewall rule and temporary files removed."""
    env = {"FAKE_FAIL": step} if step else {"DEPLOY_ODBC_DRIVER": "/nonexistent/libdriver.so"}
    result = deployer.run("--yes", "--sql-auth", "password", **env)
    assert result.returncode != 0
    assert "Every step is idempotent" in result.stderr
    for later in never:
        assert not any(c["argv"][0] == later or c["tool"] == later for c in result.calls), (
            f"{later} ran after {step or 'migrate'} failed"
        )
    if tool == "migrate":
        assert "the migration failed" in result.stderr
        assert result.index("az", "sql", "server", "firewall-rule", "delete") > 0
    assert_clean(result)


def test_firewall_wait_loop_with_the_real_driver(
    deployer: Deployer, refusing_server: tuple[str, list[int]]
) -> None:
    """Item 3: a server that refuses (firewall not applied yet) is retried, bounded, clearly."""
    server, accepted = refusing_server
    env = {k: v for k, v in deployer.env.items() if k != "DEPLOY_ODBC_DRIVER"}
    deployer.env = env  # the Microsoft ODBC driver from the mssql-python-odbc wheel
    result = deployer.run(
        "--yes", "--sql-auth", "password",
        FAKE_SQL_FQDN=server, DEPLOY_MIGRATE_WAIT="3", DEPLOY_MIGRATE_INTERVAL="1",
    )  # fmt: skip
    assert result.returncode != 0
    assert "libmsodbcsql-18" in result.stdout and "debian_ubuntu" in result.stdout  # item 6
    # How many attempts fit in 3 s depends on the machine's load; that every refusal but the
    # last was announced as a wait, and every attempt reached the server, does not.
    waits = result.stdout.count("waiting for the SQL firewall rule to apply")
    assert waits >= 1, result.output
    assert f"({waits + 1} attempts;" in result.stderr, result.output
    assert accepted[0] >= waits + 1  # every attempt really reached the (refusing) server
    assert "still refuses this machine after" in result.stderr
    assert "DEPLOY_MIGRATE_WAIT" in result.stderr
    assert result.index("func") == -1
    assert_clean(result)


def test_ctrl_c_during_the_migration_removes_the_rule(
    deployer: Deployer, refusing_server: tuple[str, list[int]]
) -> None:
    """Ctrl-C (SIGINT to the process group, as a terminal sends it) still runs the cleanup."""
    server, accepted = refusing_server
    env = {k: v for k, v in deployer.env.items() if k != "DEPLOY_ODBC_DRIVER"}
    env.update(FAKE_SQL_FQDN=server, DEPLOY_MIGRATE_WAIT="120", DEPLOY_MIGRATE_INTERVAL="1")
    proc = subprocess.Popen(
        ["bash", str(deployer.clone / "infra" / "deploy.sh"), "--yes", "--sql-auth", "password"],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip
    rule = deployer.state / "firewall.json"
    wait_until(lambda: rule.exists() and json.loads(rule.read_text()), timeout=120,
               message="the firewall rule was never added")  # fmt: skip
    # Inside the migration's wait loop: it has reached the (refusing) server at least once.
    wait_until(lambda: accepted[0] >= 1, timeout=120, message="the migration never connected")
    os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stdout + stderr
    assert "Removing the temporary firewall rule" in stdout
    result = Result(proc.returncode, stdout, stderr, deployer.state, deployer.tmpdir)
    assert result.index("func") == -1
    assert_clean(result)


# --- Confirmation ------------------------------------------------------------------------------
def test_without_a_terminal_and_without_yes_it_refuses_clearly(deployer: Deployer) -> None:
    """Item 7: no silent exit 1 at `read`; refused before any Azure call."""
    result = deployer.run()  # stdin is /dev/null
    assert result.returncode == 1
    assert "no terminal to confirm the plan on" in result.stderr and "--yes" in result.stderr
    assert result.calls == []
    assert_clean(result)


def test_on_a_terminal_the_plan_waits_for_an_answer(deployer: Deployer) -> None:
    """Item 7: with a TTY the what-if and the plan are shown; 'n' cancels before any change."""
    primary, secondary = pty.openpty()
    try:
        os.write(primary, b"n\n")
        result = deployer.run("--sql-auth", "password", stdin=secondary)
    finally:
        os.close(secondary)
        os.close(primary)
    assert result.returncode == 1
    assert "Apply this plan? [y/N]" in result.stdout
    assert "cancelled: nothing was changed" in result.stderr
    assert result.index("az", "deployment", "sub", "what-if") >= 0
    assert result.index("az", "deployment", "sub", "create") == -1
    assert_clean(result)


def test_no_secret_on_any_command_line_strace(deployer: Deployer, tmp_path: Path) -> None:
    """Issue 12 item 8: every exec of the whole run (bash, python, az, func...) seen by strace."""
    strace = "/usr/bin/strace"
    if not Path(strace).exists():
        pytest.skip("strace is not installed")
    log = tmp_path / "exec.log"
    probe = subprocess.run(
        [strace, "-f", "-o", os.devnull, "true"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        pytest.skip("ptrace is not permitted here")
    app_password = "App;pa{ss}w0rd 'x'"
    env = {**deployer.env, "SQL_APP_PASSWORD": app_password}
    proc = subprocess.run(
        [strace, "-f", "-qq", "-s", "65535", "-e", "trace=execve", "-o", str(log),
         "bash", str(deployer.clone / "infra" / "deploy.sh"), "--yes", "--sql-auth", "password"],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    execs = [line for line in log.read_text().splitlines() if "execve(" in line]
    assert len(execs) > 20  # bash, python helpers, az, func, migrate...
    assert any("migrate.py" in line for line in execs)
    for secret in (ADMIN_PASSWORD, app_password, json.dumps(ADMIN_PASSWORD)[1:-1]):
        leaked = [line for line in execs if secret in line]
        assert leaked == [], leaked


def test_service_principal_in_ci_becomes_the_entra_admin(deployer: Deployer) -> None:
    result = deployer.run("--yes", "--skip-publish", FAKE_USER_TYPE="servicePrincipal")
    assert result.returncode == 0, result.output
    params = result.load("deployments.json")[0]["parameters"]
    assert params["sqlEntraAdminLogin"] == "deploy-ci"
    assert result.index("az", "ad", "sp", "show") >= 0
    assert result.index("az", "ad", "signed-in-user") == -1
    assert_clean(result)


def test_password_mode_without_migration_keeps_app_setting_and_user_in_step(
    deployer: Deployer,
) -> None:
    """A generated password would reach the app setting but not the database user."""
    refused = deployer.run("--yes", "--sql-auth", "password", "--skip-migrate")
    assert refused.returncode == 1 and "needs SQL_APP_PASSWORD" in refused.stderr
    assert refused.index("az", "deployment", "sub", "create") == -1
    assert_clean(refused)
    given = deployer.run(
        "--yes", "--sql-auth", "password", "--skip-migrate", SQL_APP_PASSWORD="Kept;pw{1}"
    )
    assert given.returncode == 0, given.output
    assert given.load("deployments.json")[0]["parameters"]["sqlAppPassword"] == "Kept;pw{1}"
    assert given.index("az", "sql", "server", "firewall-rule", "create") == -1
    assert_clean(given)
