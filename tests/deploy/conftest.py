"""Run infra/deploy.sh offline: a fresh copy of the repository, `az`/`func`/`curl` replaced on
PATH by recording stand-ins (tests/deploy/standins.py), the migration run for real through pyodbc
(the SQLite ODBC driver stands in for Azure SQL; a TCP listener for an unreachable server)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.deploy import standins

ROOT = Path(__file__).resolve().parents[2]
SQLITE_DRIVER = next(
    iter(sorted(Path("/usr/lib").glob("*-linux-gnu/odbc/libsqlite3odbc.so"))), None
)
ADMIN_PASSWORD = "Adm;n{pa}ss 'w0rd\""  # ; { } ' " and a space: every quoting hazard at once
CLIENT_IP = "203.0.113.7"
DECOYS = {
    ".env": "SqlConnectionString=Pwd=leaked\n",
    ".venv-deploy/bin/python": "not a python\n",
    ".venv-deploy/lib/site.py": "x = 1\n",
    ".azure/config": "[defaults]\n",
    "local.settings.prod.json": '{"Values": {"Secret": "leaked"}}\n',
    "notes.bak": "old\n",
    "host.json.bak": "{}\n",
    "imagemeta/db.py.bak": "old = 1\n",
    "imagemeta/.env": "x=1\n",
    "imagemeta/__pycache__/db.cpython-311.pyc": "pyc\n",
    "ExtractMetadata/local.settings.json": "{}\n",
}


def repo_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, check=True, text=True,
    ).stdout  # fmt: skip
    return [f for f in out.split("\0") if f and (ROOT / f).is_file()]


@pytest.fixture(scope="session")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh copy of the working tree (tracked + new files), plus files that must never ship."""
    dest = tmp_path_factory.mktemp("clone") / "repo"
    for rel in repo_files():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dest / rel)
    for rel, text in DECOYS.items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text(text)
    return dest


@pytest.fixture(scope="session")
def cache_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """XDG_CACHE_HOME shared by every run: the migration environment is built once."""
    return tmp_path_factory.mktemp("xdg-cache")


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    state: Path
    tmpdir: Path

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def calls(self) -> list[dict[str, Any]]:
        return standins.calls(self.state)

    def load(self, name: str, default: Any = None) -> Any:
        path = self.state / name
        return json.loads(path.read_text()) if path.exists() else default

    def index(self, tool: str, *words: str) -> int:
        """Position of the first call of `tool` whose argv starts with words (-1 if none)."""
        for i, call in enumerate(self.calls):
            if call["tool"] == tool and call["argv"][: len(words)] == list(words):
                return i
        return -1


@dataclass
class Deployer:
    clone: Path
    base: Path
    cache_home: Path
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.bin = self.base / "bin"
        standins.install(self.bin)
        self.state = self.base / "azure"
        self.state.mkdir()
        self.tmpdir = self.base / "tmp"
        self.tmpdir.mkdir()
        self.database = self.base / "imagemetadata.db"
        self.env = {
            "PATH": f"{self.bin}:/usr/bin:/bin",
            "HOME": str(self.base),
            "XDG_CACHE_HOME": str(self.cache_home),
            "TMPDIR": str(self.tmpdir),
            "LANG": "C.UTF-8",
            "FAKE_AZURE": str(self.state),
            "FAKE_SQL_DATABASE": str(self.database),
            "SQL_ADMIN_LOGIN": "imagemetaadmin",
            "SQL_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "DEPLOY_PYTHON": sys.executable,
            "DEPLOY_CLIENT_IP": CLIENT_IP,
            "DEPLOY_ODBC_DRIVER": str(SQLITE_DRIVER),
            "DEPLOY_MIGRATE_INTERVAL": "0.5",
        }

    def run(
        self, *args: str, stdin: Any = subprocess.DEVNULL, timeout: float = 300, **env: str
    ) -> Result:
        proc = subprocess.run(
            ["bash", str(self.clone / "infra" / "deploy.sh"), *args],
            env={**self.env, **env}, stdin=stdin, capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip
        return Result(proc.returncode, proc.stdout, proc.stderr, self.state, self.tmpdir)


@pytest.fixture
def deployer(clone: Path, cache_home: Path, tmp_path: Path) -> Deployer:
    if SQLITE_DRIVER is None:
        pytest.skip("libsqliteodbc is not installed (scripts/bootstrap.sh installs it)")
    return Deployer(clone, tmp_path, cache_home)


@pytest.fixture
def refusing_server() -> Iterator[tuple[str, list[int]]]:
    """A TCP listener that accepts and closes at once: the real ODBC driver fails its handshake
    with 08001, as when a firewall rule is not applied yet. Yields ("127.0.0.1,port", count)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.settimeout(0.2)
    accepted = [0]
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            accepted[0] += 1
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1,{sock.getsockname()[1]}", accepted
    finally:
        stop.set()
        thread.join(2)
        sock.close()


def no_secret_in_argv(calls: list[dict[str, Any]], secrets: list[str]) -> list[str]:
    """Recorded command lines that contain any of the secrets (should be none)."""
    return [
        " ".join(c["argv"])
        for c in calls
        if any(s and s in arg for s in secrets for arg in c["argv"])
    ]


def env_without(*names: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in names}


def build_migration_env(cache_home: Path, python: str) -> Path:
    """The migration environment deploy.sh builds (same place, same stamp): its python."""
    version = subprocess.run(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    requirements = ROOT / "infra" / "requirements-migrate.txt"
    want = subprocess.run(
        ["cksum"], stdin=requirements.open("rb"), capture_output=True, check=True, text=True
    ).stdout.strip()
    venv = cache_home / "image-metadata-deploy" / f"migrate-py{version}"
    stamp = venv / ".requirements"
    if not stamp.exists() or stamp.read_text().strip() != want:
        shutil.rmtree(venv, ignore_errors=True)
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
             "--disable-pip-version-check", "--ignore-requires-python", "-r", str(requirements)],
            check=True,
        )  # fmt: skip
        stamp.write_text(want + "\n")
    return venv / "bin" / "python"
