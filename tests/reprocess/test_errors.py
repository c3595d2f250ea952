"""Bad configuration and unreachable services: one line on stderr, exit code 2, within seconds
(no devhost needed: the tool checks before it starts anything)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devhost.azurite import connection_string, free_port
from devhost.process import REPO_ROOT
from imagemeta.reprocess.cli import build_parser, main
from scripts.build_package import package_files
from tests.reprocess.conftest import SCRUBBED


def run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    clean["PYTHONPATH"] = str(REPO_ROOT)  # run from a folder without local.settings.json
    return subprocess.run(
        [sys.executable, "-m", "imagemeta.reprocess", *args], cwd=cwd, env={**clean, **env},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("reprocess: ")
    return lines[0]


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        ((), {}, "no AzureWebJobsStorage in the environment or local.settings.json"),
        (("--url", "https://app.example.invalid"), {}, "a deployed app needs its storage account"),
        (("--url", "https://app.example.invalid/?code=secret"), {}, "must not carry a query"),
        (("--url", "ftp://x"), {"AZURE_STORAGE_CONNECTION_STRING": "x"}, "must be an http(s) URL"),
        (("--modified-since", "yesterday"), {"AzureWebJobsStorage": "x"}, "is not an ISO 8601"),
        (
            ("--modified-since", "2026-11-25", "--until", "2026-11-24"),
            {"AzureWebJobsStorage": "x"},
            "--modified-since must be before --until",
        ),
        (("--max-in-flight", "0"), {"AzureWebJobsStorage": "x"}, "between 1 and 1000"),
        (("--key-file", "/nonexistent/key"), {}, "cannot read the key file /nonexistent/key"),
        (("--account-url", "https://a.example.invalid/?sv=x"), {}, "(no SAS)"),
    ],
)
def test_bad_configuration_is_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    env: dict[str, str],
    expected: str,
) -> None:
    """In-process (main() as `python -m` calls it): checked before any SDK is loaded."""
    for name in SCRUBBED:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no local.settings.json here
    code = main(list(args))
    out = capsys.readouterr()
    line = one_line(subprocess.CompletedProcess([], code, out.out, out.err))
    assert expected in line


def test_unreachable_app_is_one_line(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    line = one_line(
        run(tmp_path, DEVHOST_PORT=str(port), AzureWebJobsStorage=connection_string(1, 2, 3))
    )
    assert f"cannot reach the Durable HTTP API at http://127.0.0.1:{port}" in line


def test_no_secret_on_argv() -> None:
    """The key and connection strings have no command-line option (they would show in ps)."""
    out = build_parser().format_help()
    assert "--key " not in out and "--connection-string" not in out and "--key-file" in out


def test_reprocess_is_app_side_and_never_deployed() -> None:
    """imagemeta/ is deployed without devhost: nothing in it may import devhost. The operator
    tool itself stays out of the deployment package."""
    offenders = []
    for path in (REPO_ROOT / "imagemeta").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "devhost"]
    assert offenders == []
    files = package_files(REPO_ROOT)
    assert "imagemeta/trigger.py" in files
    assert not [f for f in files if f.startswith("imagemeta/reprocess/")]
