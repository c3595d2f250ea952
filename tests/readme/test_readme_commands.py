"""Every command the README, docs/*.md and tests/README.md show, run as a user would run it: in
a fresh copy of the checkout, from a subprocess, reading only what a person would read (exit
codes and output).

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
from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost.azurite import free_port, port_open
from devhost.process import REPO_ROOT
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e

# Every command in the documents' ```bash blocks, and where it is exercised.
COVERED = {
    "make demo": "test_make_demo_prints_the_rows",
    "make test": ".ci/run (CI runs exactly this command)",
    "make start": "test_local_session_from_the_readme",
    ".venv/bin/python -m devhost upload samples/": "test_local_session_from_the_readme",
    ".venv/bin/python -m devhost status": "test_local_session_from_the_readme",
    ".venv/bin/python -m imagemeta.db rows": "test_local_session_from_the_readme",
    "rm -rf data": "test_local_session_from_the_readme (after stopping make start)",
    ".venv/bin/python -m imagemeta.db migrate": "test_local_session_from_the_readme",
    "make unit": "test_test_commands_are_wired (make -n: the pytest line it runs)",
    ".venv/bin/python -m pytest tests/cli -q": "test_test_commands_are_wired (collects)",
    ".venv/bin/python -m pytest -m reliability": "test_test_commands_are_wired (collects)",
    # Core Tools: `func` cannot be installed on these machines (its CDN is unreachable).
    "sudo apt-get install unixodbc libsqliteodbc": "scripts/bootstrap.sh (same packages)",
    "npx azurite --skipApiVersionCheck --location data/azurite &": "devhost.azurite (same flags)",
    "python3.11 -m venv .venv && .venv/bin/pip install -r requirements.txt": "scripts/bootstrap.sh",
    "func start": "not runnable here: Core Tools cannot be installed (docs/devhost.md says so)",
    "export SQL_ADMIN_LOGIN=imagemetaadmin SQL_ADMIN_PASSWORD='<a strong password>'": (
        "tests/deploy"
    ),
    "infra/deploy.sh": "tests/deploy/test_deploy_script.py",
    "infra/deploy.sh --yes": "tests/deploy/test_deploy_script.py",
}

# Commands that name a deployed app: run against a local devhost by the suite named here.
COVERED_PREFIXES = {
    "python -m devhost monitor --url https://": "tests/monitor (the standalone monitor, "
    "pointed at devhost's Durable HTTP API with a key, as at a deployed app)",
    "export DURABLE_SYSTEM_KEY=": "tests/security/test_secrets_argv.py and tests/monitor "
    "(the monitor reads the key from $DURABLE_SYSTEM_KEY; `az` needs a subscription)",
}


def documents() -> list[Path]:
    """The README, every document in docs/ and the tests' guide."""
    return [
        REPO_ROOT / "README.md",
        *sorted((REPO_ROOT / "docs").glob("*.md")),
        REPO_ROOT / "tests" / "README.md",
    ]


def commands_in(text: str) -> list[str]:
    commands = []
    for raw in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        block = raw.replace("\\\n", " ")  # join continuation lines
        for line in block.splitlines():
            command = line.split("  #")[0].split(" # ")[0].strip()
            if command and not command.startswith("#"):
                commands.append(command)
    return commands


def readme_commands() -> list[str]:
    """Every command of every document (the name is the test's history: README only, once)."""
    return [c for doc in documents() for c in commands_in(doc.read_text(encoding="utf-8"))]


def uncovered(commands: list[str]) -> list[str]:
    return [
        c
        for c in commands
        if c not in COVERED and not any(c.startswith(p) for p in COVERED_PREFIXES)
    ]


def test_every_documented_command_is_covered() -> None:
    missing = {
        doc.relative_to(REPO_ROOT).as_posix(): found
        for doc in documents()
        if (found := uncovered(commands_in(doc.read_text(encoding="utf-8"))))
    }
    assert missing == {}, "commands in the documents that no test runs: " + repr(missing)


def test_the_check_fails_on_a_command_nothing_runs() -> None:
    text = (
        "x\n```bash\nmake start   # fine\nmake frobnicate  # new\n```\n```text\nnot a command\n```"
    )
    assert uncovered(commands_in(text)) == ["make frobnicate"]
    scanned = {d.relative_to(REPO_ROOT).as_posix() for d in documents()}
    assert {"README.md", "tests/README.md", "docs/devhost.md", "docs/performance.md"} <= scanned


def test_test_commands_are_wired() -> None:
    """The tests' guide's commands: `make unit` runs pytest with the marker it says, and each
    pytest line selects tests (the suite itself is `make test`'s run, not repeated here)."""
    plan = subprocess.run(["make", "-n", "unit"], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=60, check=True).stdout  # fmt: skip
    assert '-m pytest -m "not e2e and not reliability"' in plan
    py = str(REPO_ROOT / ".venv" / "bin" / "python")
    for args in (["tests/cli", "-q"], ["-m", "reliability"]):
        listed = subprocess.run(
            [py, "-m", "pytest", *args, "--collect-only"], cwd=REPO_ROOT,
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert listed.returncode == 0, listed.stdout[-2000:] + listed.stderr[-2000:]
        selected = re.search(r"(\d+)(?:/\d+)? tests? collected", listed.stdout)
        assert selected and int(selected.group(1)) > 0, listed.stdout[-2000:]


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
    out = result.stdout
    assert "ImageMetadata rows:" in out
    images = [p for p in (checkout / "samples").rglob("*") if p.is_file()]
    assert images
    # Each list's count is the number of lines under it (it once said "(1)" above two).
    for title in ("Rejected files", "Skipped by the trigger, not an image extension"):
        match = re.search(rf"^{re.escape(title)} \((\d+)\):\n((?:  .*\n?)*)", out, flags=re.M)
        assert match, out[-3000:]
        assert int(match.group(1)) == len(match.group(2).splitlines()), match.group(0)
    assert "  broken.jpg: not a JPEG, PNG or GIF image" in out
    assert "  notes.txt" in out
    rows = out[out.index("ImageMetadata rows:") : out.index("Rejected files")]
    assert re.search(r"^truncated-body\.jpg .* 640x480 +JPEG", rows, flags=re.M), rows
    assert all(len(line) <= 80 for line in rows.splitlines()), rows

    again = run(checkout, "make", "demo", timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "demo: uploaded" not in again.stdout  # same samples, no new blob versions
    assert "unchanged, already uploaded" in again.stdout


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

        def started() -> str:
            text = (checkout / "start.log").read_text()
            assert start.poll() is None, text
            return text if "Host started" in text else ""

        text = wait_until(
            started, timeout=120, interval=0.5, message=(checkout / "start.log").read_text
        )
        assert "applied: 0001_create_image_metadata" in text  # make start migrates first

        upload = run(checkout, py, "-m", "devhost", "upload", "samples/")
        assert upload.returncode == 0, upload.stderr
        uploaded = re.findall(r"uploaded images-input/(\S+)", upload.stdout)
        assert uploaded
        assert "README.md" not in uploaded and "notes.txt" not in uploaded
        assert "--all uploads them" in upload.stdout
        again = run(checkout, py, "-m", "devhost", "upload", "samples/")
        assert again.returncode == 0, again.stderr
        assert f"{len(uploaded)} unchanged" in again.stdout  # no second version, no new row

        images = [
            n for n in uploaded if Path(n).suffix.lower() in (".jpg", ".jpeg", ".png", ".gif")
        ]

        shown = [""]

        def all_done() -> subprocess.CompletedProcess[str] | None:
            status = run(checkout, py, "-m", "devhost", "status")
            assert status.returncode == 0, status.stderr
            out = shown[0] = status.stdout
            finished = out.count("Completed") >= len(images)
            return status if finished and "Running" not in out and "Pending" not in out else None

        status = wait_until(all_done, timeout=120, interval=1, message=lambda: shown[0])

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
        restarted = run(
            checkout, py, "-m", "devhost", "restart-failed", "--url", f"http://127.0.0.1:{port}"
        )
        assert restarted.returncode == 0, restarted.stderr
        assert "restarted 0 failed orchestrations" in restarted.stdout
    finally:
        os.killpg(start.pid, signal.SIGINT)  # Ctrl-C, as the README says
        try:
            start.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(start.pid, signal.SIGKILL)
        log.close()
    assert start.returncode is not None
    assert azurite_ports_free() or sys.platform != "linux"

    # Reset local state, as the README shows it.
    assert (checkout / "data" / "azurite").is_dir() and (
        checkout / "data" / "imagemetadata.db"
    ).exists()
    reset = subprocess.run(["bash", "-c", "rm -rf data"], cwd=checkout, check=False)
    assert reset.returncode == 0 and not (checkout / "data").exists()
    empty = run(checkout, py, "-m", "imagemeta.db", "rows")
    assert empty.returncode == 2 and "does not exist" in empty.stderr
