"""Every command the README shows, run as a user would run it: in a fresh copy of the checkout,
from a subprocess, reading only what a person would read (exit codes and output).

The copy shares the repository's installed `.venv` and `node_modules` (what `make install`
leaves behind), so `make` finds everything installed and goes straight to the command.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost.azurite import free_port, port_open
from devhost.process import REPO_ROOT

pytestmark = pytest.mark.e2e

# Every command in the README's ```bash blocks, and where it is exercised.
COVERED = {
    "make demo": "test_make_demo_prints_the_rows",
    "make test": ".ci/run (CI runs exactly this command)",
    "make start": "test_local_session_from_the_readme",
    ".venv/bin/python -m devhost upload samples/": "test_local_session_from_the_readme",
    ".venv/bin/python -m devhost status": "test_local_session_from_the_readme",
    ".venv/bin/python -m imagemeta.db rows": "test_local_session_from_the_readme",
    ".venv/bin/python -m imagemeta.db migrate": "test_local_session_from_the_readme",
    # Core Tools: `func` cannot be installed on these machines (its CDN is unreachable).
    "sudo apt-get install unixodbc libsqliteodbc": "scripts/bootstrap.sh (same packages)",
    "npx azurite --skipApiVersionCheck --location data/azurite &": "devhost.azurite (same flags)",
    "python3.11 -m venv .venv && .venv/bin/pip install -r requirements.txt": "scripts/bootstrap.sh",
    "func start": "not runnable here: Core Tools cannot be installed (README says so)",
    "export SQL_ADMIN_LOGIN=imagemetaadmin SQL_ADMIN_PASSWORD='<a strong password>'": (
        "tests/deploy"
    ),
    "infra/deploy.sh": "tests/deploy/test_deploy_script.py",
    "infra/deploy.sh --yes": "tests/deploy/test_deploy_script.py",
    # README "When the table and the container disagree" and docs/reprocess.md: the same module
    # and options, run as a subprocess against its own devhost, Azurite and SQLite database.
    ".venv/bin/python -m imagemeta.reprocess --dry-run": (
        "tests/reprocess/test_reprocess.py::test_dry_run_changes_nothing"
    ),
    ".venv/bin/python -m imagemeta.reprocess": (
        "tests/reprocess/test_reprocess.py::test_empty_database_reprocessed_to_exact_rows_then_"
        "nothing_new"
    ),
    ".venv/bin/python -m imagemeta.reprocess --all --prefix cats/": (
        "tests/reprocess/test_reprocess.py::test_prefix_and_modified_since_select_exactly"
    ),
    ".venv/bin/python -m imagemeta.reprocess --modified-since 2026-11-20T00:00:00Z --until "
    "2026-11-21": (
        "tests/reprocess/test_reprocess.py::test_prefix_and_modified_since_select_exactly"
    ),
    ".venv/bin/python -m imagemeta.reprocess --failed": (
        "tests/reprocess/test_reprocess.py::test_failed_heals_a_locked_database_failure"
    ),
    # Azure itself cannot be reached from these machines: the deployed mode runs against a
    # devhost started with a key (tests/reprocess, test_deployed_mode_against_a_keyed_host).
    "az login": "not runnable here: no Azure account is reachable from the test machines",
    'az role assignment create --assignee "$(az ad signed-in-user show --query id -o tsv)" '
    '--role "Storage Blob Data Reader" --scope "$(az storage account show -g '
    'image-metadata-rg -n imagemetadatastorage --query id -o tsv)"': (
        "not runnable here: no Azure account is reachable from the test machines"
    ),
}


def readme_commands(path: Path = REPO_ROOT / "README.md") -> list[str]:
    text = path.read_text()
    commands = []
    for raw in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        block = raw.replace("\\\n", " ")  # join continuation lines
        for line in block.splitlines():
            command = line.split("  #")[0].split(" # ")[0].strip()
            if command and not command.startswith("#"):
                commands.append(command)
    return commands


# Commands that name a deployed app: run against a local devhost by the suite named here.
COVERED_PREFIXES = {
    "python -m devhost monitor --url https://": "tests/monitor (the standalone monitor, "
    "pointed at devhost's Durable HTTP API with a key, as at a deployed app)",
    'export DURABLETASK_KEY="$(az functionapp keys list ': "tests/reprocess "
    "(test_deployed_mode_against_a_keyed_host: the key in DURABLETASK_KEY and in a key file)",
    "python -m imagemeta.reprocess --url https://": "tests/reprocess "
    "(test_deployed_mode_against_a_keyed_host: --url and --account-url of a keyed devhost)",
}


def uncovered(commands: list[str]) -> list[str]:
    return [
        c
        for c in commands
        if c not in COVERED and not any(c.startswith(p) for p in COVERED_PREFIXES)
    ]


def test_every_readme_command_is_covered() -> None:
    assert uncovered(readme_commands()) == [], "README commands no test runs"


def test_every_docs_command_is_covered() -> None:
    """The operator documentation in docs/ is held to the same rule as the README."""
    docs = sorted((REPO_ROOT / "docs").glob("*.md"))
    commands = [c for path in docs for c in readme_commands(path)]
    assert ".venv/bin/python -m imagemeta.reprocess --failed" in commands  # the parser reads them
    assert uncovered(commands) == [], "docs/ commands no test runs"


@pytest.fixture
def checkout(tmp_path: Path) -> Iterator[Path]:
    """A fresh copy of the tracked files, with the installed .venv and node_modules."""
    root = tmp_path / "checkout"
    files = (
        subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    for rel in filter(None, files):
        src = REPO_ROOT / rel
        if src.is_file():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, root / rel)
    for shared in (".venv", "node_modules"):
        (root / shared).symlink_to(REPO_ROOT / shared)
    yield root


def run(
    cwd: Path, *argv: str, timeout: float = 300, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False,
        env={**os.environ, **env},
    )  # fmt: skip


def azurite_ports_free() -> bool:
    return not any(port_open(p) for p in (10000, 10001, 10002))


def test_make_demo_prints_the_rows(checkout: Path) -> None:
    assert azurite_ports_free(), "another Azurite holds 10000-10002"
    result = run(checkout, "make", "demo", timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "ImageMetadata rows:" in result.stdout
    images = [p for p in (checkout / "samples").rglob("*") if p.is_file()]
    assert images
    assert "Rejected files" in result.stdout


def test_local_session_from_the_readme(checkout: Path) -> None:
    assert azurite_ports_free(), "another Azurite holds 10000-10002"
    port = free_port()
    log = (checkout / "start.log").open("w")
    start = subprocess.Popen(
        ["make", "start"], cwd=checkout, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "DEVHOST_PORT": str(port)}, start_new_session=True,
    )  # fmt: skip
    py = str(checkout / ".venv" / "bin" / "python")
    try:
        deadline = time.monotonic() + 120
        while "Host started" not in (checkout / "start.log").read_text():
            assert start.poll() is None, (checkout / "start.log").read_text()
            assert time.monotonic() < deadline
            time.sleep(0.5)
        text = (checkout / "start.log").read_text()
        assert "applied: 0001_create_image_metadata" in text  # make start migrates first

        upload = run(checkout, py, "-m", "devhost", "upload", "samples/")
        assert upload.returncode == 0, upload.stderr
        uploaded = re.findall(r"uploaded images-input/(\S+)", upload.stdout)
        assert uploaded

        images = [
            n for n in uploaded if Path(n).suffix.lower() in (".jpg", ".jpeg", ".png", ".gif")
        ]
        deadline = time.monotonic() + 120
        while True:
            status = run(checkout, py, "-m", "devhost", "status")
            assert status.returncode == 0, status.stderr
            done = status.stdout.count("Completed")
            if (
                done >= len(images)
                and "Running" not in status.stdout
                and "Pending" not in status.stdout
            ):
                break
            assert time.monotonic() < deadline, status.stdout
            time.sleep(1)

        rows = run(checkout, py, "-m", "imagemeta.db", "rows")
        assert rows.returncode == 0, rows.stderr
        stored = [n for n in images if n in rows.stdout]
        assert stored, rows.stdout

        instance = re.search(r"\b(img-[0-9a-f]{32})\b", status.stdout)
        assert instance, status.stdout
        one = run(checkout, py, "-m", "devhost", "status", instance.group(1))
        assert one.returncode == 0, one.stderr
        assert "ExtractMetadata" in one.stdout

        again = run(
            checkout, py, "-m", "devhost", "restart-failed", "--url", f"http://127.0.0.1:{port}"
        )
        assert again.returncode == 0, again.stderr
        assert '"restarted": 0' in again.stdout or "restarted 0" in again.stdout.lower()
    finally:
        os.killpg(start.pid, signal.SIGINT)
        try:
            start.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(start.pid, signal.SIGKILL)
        log.close()
    assert azurite_ports_free() or sys.platform != "linux"
