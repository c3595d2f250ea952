"""Issue 20 item 7 (devhost's part): names and reasons from outside reach a terminal or a log
escaped (devhost/textsafe.py), never raw.

Before: a blob name with escape sequences printed raw in devhost's log and in `devhost
status`. Azurite cannot list a blob whose name holds ESC or BEL (List Blobs fails with 500),
so the blob names here carry what it can list (CR, LF, the C1 CSI U+009B, RLO U+202E) and ESC
comes in through an orchestration's input, as anyone with the Durable API can send it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from devhost.azurite import Azurite
from devhost.process import REPO_ROOT, DevhostProcess
from devhost.textsafe import SafeFormatter, escape
from tests.waiting import wait_until

HUB_SETTING = "AzureFunctionsJobHost__extensions__durableTask__hubName"
RAW = ("\x1b", "\r", "\x9b", "\u202e", "\x07")  # none of these may reach a terminal or a log
FORGED = "\n[2026-01-01T00:00:00] Host started"  # a log line a name must not be able to forge
BLOB_NAME = f"evil\r{FORGED}\x9b2J\u202egnp.png"
INPUT_NAME = "esc\x1b[2J\x1b]0;owned\x07\u202egnp.png"


def clean(text: str) -> None:
    for ch in RAW:
        assert ch not in text, f"raw {ch!r} in output"
    assert "\nHost started" not in text and "\n[2026-01-01T00:00:00] Host started" not in text


# --- the function -------------------------------------------------------------------------
def test_escape_makes_controls_bidi_and_separators_visible() -> None:
    assert escape("a\x1b[31mb") == "a\\x1b[31mb"
    assert escape("a\rb\nc\td\x00e\x7f") == "a\\rb\\nc\\td\\x00e\\x7f"
    assert escape("x\x9b2J\u202egnp.png\u2066\u200b\ufeff") == (
        "x\\x9b2J\\u202egnp.png\\u2066\\u200b\\ufeff"
    )
    assert escape("line\u2028para\u2029") == "line\\u2028para\\u2029"
    assert escape("\udcff") == "\\udcff"  # an undecodable byte (surrogateescape)
    assert escape("Zürich 東京 🙂.jpg [red]x") == "Zürich 東京 🙂.jpg [red]x"  # text stays
    once = escape(INPUT_NAME)
    assert escape(once) == once  # idempotent: escaped at the source and again in the log


def test_the_log_formatter_keeps_one_record_on_one_line() -> None:
    import logging  # noqa: PLC0415

    record = logging.LogRecord("devhost", logging.INFO, __file__, 1, "blob %s", (BLOB_NAME,), None)
    line = SafeFormatter("%(message)s").format(record)
    assert "\n" not in line
    clean(line)
    assert line == "blob " + escape(BLOB_NAME)


# --- through devhost ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def blob_host(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """tests/apps/poison_app (a blob trigger that always fails, naming its blob) on a container
    of its own, and the evil blob: devhost logs its detection, each failure and the poison."""
    root = tmp_path_factory.mktemp("escape-blob")
    app = root / "app"
    shutil.copytree(REPO_ROOT / "tests" / "apps" / "poison_app", app,
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    container = "esc" + uuid.uuid4().hex[:12]
    conf = app / "AlwaysFails" / "function.json"
    conf.write_text(conf.read_text().replace("poison-test/", f"{container}/"))
    host = DevhostProcess(app_dir=app, storage_connection_string=azurite.connection_string,
                          log_path=root / "devhost.log")  # fmt: skip
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    service.create_container(container)
    host.start()
    try:
        service.get_container_client(container).upload_blob(BLOB_NAME, b"not an image")
        wait_until(lambda: "is poison" in host.log_tail(10_000), 120, message="the poison line")
        yield root / "devhost.log"
    finally:
        host.stop()


def test_blob_trigger_lines_escape_the_blob_name(blob_host: Path) -> None:
    log = blob_host.read_text(encoding="utf-8", errors="surrogateescape")
    clean(log)
    shown = escape(BLOB_NAME)
    assert "New blob detected: " in log and shown in log
    assert log.count(shown) >= 3  # detection, each failed attempt, the poison line


@pytest.fixture(scope="module")
def failed(
    azurite: Azurite, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[DevhostProcess, dict[str, str], str]]:
    """tests/apps/durable_app with a Failed instance whose input names INPUT_NAME."""
    root = tmp_path_factory.mktemp("escape-durable")
    # the image pipeline's app view names the instance's subject ("blob ...") from its input
    env = {HUB_SETTING: "Esc" + uuid.uuid4().hex[:10], "DEVHOST_APP_VIEW": "imagemeta.devview"}
    host = DevhostProcess(app_dir=REPO_ROOT / "tests" / "apps" / "durable_app",
                          storage_connection_string=azurite.connection_string,
                          log_path=root / "devhost.log", env=env)  # fmt: skip
    host.start()
    try:
        iid = "esc-" + uuid.uuid4().hex[:8]
        payload = {"name": INPUT_NAME, "counter": str(root / "no-such-dir" / "n"), "succeed_on": 9}
        import urllib.request  # noqa: PLC0415

        req = urllib.request.Request(
            f"{host.rpc_url}/durabletask/orchestrators/Retry/{iid}",
            data=json.dumps(payload).encode(), method="POST",
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.status == 202
        wait_until(
            lambda: (
                (host.get_json(f"/durabletask/instances/{iid}") or {}).get("runtimeStatus")
                == "Failed"
            ),
            120,
            message="the Retry instance failing",
        )
        yield host, {**env, "AzureWebJobsStorage": azurite.connection_string}, iid
    finally:
        host.stop()


def _devhost(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "devhost", *args], cwd=REPO_ROOT, capture_output=True,
        timeout=120, check=True, env={**os.environ, **env},
    )  # fmt: skip
    return result.stdout.decode("utf-8", errors="surrogateescape")


def test_the_host_finish_line_escapes_the_name(
    failed: tuple[DevhostProcess, dict[str, str], str],
) -> None:
    host, _, iid = failed
    log = wait_until(
        lambda: t if f"({iid}) failed" in (t := host.log_tail(10_000)) else None,
        30,
        message="the finish line",
    )
    clean(log)
    assert f"Orchestration 'Retry' ({iid}) failed: blob {escape(INPUT_NAME)}" in log


def test_devhost_status_escapes_names(failed: tuple[DevhostProcess, dict[str, str], str]) -> None:
    _, env, iid = failed
    app = str(REPO_ROOT / "tests" / "apps" / "durable_app")
    listing = _devhost(env, "status", "--app-dir", app, "--status", "Failed")
    clean(listing)
    assert escape(INPUT_NAME)[:10] in listing  # the table may fold a long name
    detail = _devhost(env, "status", "--app-dir", app, iid)
    clean(detail)
    assert f"blob: {escape(INPUT_NAME)}" in detail


def test_restart_failed_escapes_names(failed: tuple[DevhostProcess, dict[str, str], str]) -> None:
    host, env, iid = failed
    out = _devhost(env, "restart-failed", "--url", host.base_url, "--dry-run")
    clean(out)
    row = next(line for line in out.splitlines() if iid in line)
    assert escape(INPUT_NAME) in row and "Retry" in row, out
    assert out.startswith("would restart:"), out
