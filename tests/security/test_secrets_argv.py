"""Issue 20 items 1 and 8: secrets never on a command line, never sent after a redirect, never
printed.

Before: devhost's `--storage-connection-string` (with the account key), its workers' arguments
and the monitor's `--key` were readable by every user in `ps`; the monitor sent the key as
`code=` and followed a redirect with it, then printed it in an error.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import pytest

from devhost.azurite import ACCOUNT_KEY, Azurite, connection_string, free_port, port_open
from devhost.process import REPO_ROOT
from tests.waiting import wait_until

APP = REPO_ROOT / "tests" / "apps" / "durable_app"
KEY = "argv-test-key-93b1"
TOKEN = "argv-test-token"


def devhost(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devhost", *args], cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=120, check=False, env={**os.environ, **(env or {})},
    )  # fmt: skip


def closed_storage() -> str:
    return connection_string(free_port(), free_port(), free_port())


@pytest.mark.parametrize(
    ("args", "replacement"),
    [
        (["start", "--key", KEY], "--key-file"),
        (["start", "--storage-connection-string", "<cs>"], "AzureWebJobsStorage"),
        (["status", "--storage-connection-string", "<cs>"], "AzureWebJobsStorage"),
        (["upload", "x.png", "--storage-connection-string", "<cs>"], "AzureWebJobsStorage"),
        (["restart-failed", "--key", KEY], "--key-file"),
        (["monitor", "--url", "http://127.0.0.1:9", "--key", KEY], "DURABLE_SYSTEM_KEY"),
        (["monitor", "--url", "http://127.0.0.1:9", "--storage", "<cs>"], "--storage-file"),
        (["monitor", "--url", f"http://127.0.0.1:9/?code={KEY}"], "DURABLE_SYSTEM_KEY"),
    ],
)
def test_a_secret_on_the_command_line_is_refused_in_one_line(
    args: list[str], replacement: str
) -> None:
    cs = closed_storage()  # holds Azurite's account key, like any real connection string
    argv = [cs if a == "<cs>" else a for a in args]
    if argv[0] in ("start", "status", "upload"):
        argv[1:1] = ["--app-dir", str(APP)]
    if argv[0] == "start":
        argv += ["--port", str(free_port()), "--storage-wait", "1"]
    result = devhost(*argv, env={"AzureWebJobsStorage": closed_storage()})
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "visible to every user" in lines[0], result.stderr
    assert replacement in lines[0]
    assert KEY not in result.stderr + result.stdout
    assert ACCOUNT_KEY not in result.stderr + result.stdout


def test_a_key_file_other_users_can_read_is_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o644)
    result = devhost("start", "--app-dir", str(APP), "--key-file", str(key_file),
                     env={"AzureWebJobsStorage": closed_storage()})  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"devhost: the key file {key_file} can be read by other users: chmod 600 {key_file}"
    )


def _cmdlines(pid: int) -> list[str]:
    """/proc/<pid>/cmdline of the process and of all its descendants, as `ps` shows them."""
    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    out = []
    for p in procs:
        raw = Path(f"/proc/{p.pid}/cmdline").read_bytes()
        out.append(raw.replace(b"\0", b" ").decode(errors="replace"))
    return out


def test_ps_never_shows_the_key_or_the_account_key(azurite: Azurite, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(KEY)
    key_file.chmod(0o600)
    port, log = free_port(), tmp_path / "devhost.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "devhost", "start", "--app-dir", str(APP), "--port", str(port),
             "--rpc-port", str(free_port()), "--workers", "1", "--key-file", str(key_file)],
            cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "AzureWebJobsStorage": azurite.connection_string},
        )  # fmt: skip
    try:
        wait_until(lambda: proc.poll() is not None or "Host started" in log.read_text(), 90,
                   message="devhost start")  # fmt: skip
        assert proc.poll() is None, log.read_text()

        def with_worker() -> list[str] | None:
            found = _cmdlines(proc.pid)
            return found if any(" worker " in line for line in found) else None

        cmdlines = wait_until(with_worker, 60, message="the activity worker process")
        assert len(cmdlines) >= 2  # the host and its worker
        for line in cmdlines:
            assert KEY not in line and ACCOUNT_KEY not in line, line
        # The key read from the file is the one devhost requires.
        import urllib.request  # noqa: PLC0415

        url = f"http://127.0.0.1:{port}/runtime/webhooks/durabletask/instances/?top=1"
        req = urllib.request.Request(url, headers={"x-functions-key": KEY})
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.status == 200
            resp.read()
        assert KEY not in log.read_text()
    finally:
        proc.terminate()
        proc.wait(30)


# --- the monitor and a redirecting app ------------------------------------------------------
class _Recorder(BaseHTTPRequestHandler):
    """Records every request; `redirect_to` (if set) answers 301 to the same path and query
    there, as App Service's HTTPS-only redirect keeps path and query."""

    seen: list[tuple[str, dict[str, str]]]
    redirect_to = ""

    def do_GET(self) -> None:
        self.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        if self.redirect_to:
            self.send_response(301)
            self.send_header("Location", self.redirect_to + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"[]"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def _server(redirect_to: str = "") -> ThreadingHTTPServer:
    handler = type("Recorder", (_Recorder,), {"seen": [], "redirect_to": redirect_to})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def redirecting_app() -> Iterator[tuple[ThreadingHTTPServer, ThreadingHTTPServer]]:
    elsewhere = _server()
    app = _server(redirect_to=f"http://127.0.0.1:{elsewhere.server_address[1]}")
    yield app, elsewhere
    for s in (app, elsewhere):
        s.shutdown()
        s.server_close()


def test_the_monitor_sends_the_key_in_a_header_and_never_after_a_redirect(
    redirecting_app: tuple[ThreadingHTTPServer, ThreadingHTTPServer], tmp_path: Path
) -> None:
    app, elsewhere = redirecting_app
    port, log = free_port(), tmp_path / "monitor.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "devhost", "monitor", "--url",
             f"http://127.0.0.1:{app.server_address[1]}", "--port", str(port)],
            cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "DURABLE_SYSTEM_KEY": KEY, "DEVHOST_MONITOR_TOKEN": TOKEN},
        )  # fmt: skip
    try:
        wait_until(lambda: port_open(port), 60, message="monitor start")
        import urllib.error  # noqa: PLC0415
        import urllib.request  # noqa: PLC0415

        url = f"http://127.0.0.1:{port}/monitor/api/overview?token={TOKEN}"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=60)
        assert refused.value.code == 502
        message = refused.value.read().decode()
        assert "HTTP 301" in message and "not followed" in message and KEY not in message
        seen = app.RequestHandlerClass.seen  # type: ignore[attr-defined]
        assert seen, "the monitor never called the app"
        for path, headers in seen:
            assert headers.get("x-functions-key") == KEY  # the header, as the host accepts it
            assert KEY not in path  # never in the URL (logs, Referer, redirects keep URLs)
        assert elsewhere.RequestHandlerClass.seen == []  # type: ignore[attr-defined]
    finally:
        proc.terminate()
        proc.wait(20)
    assert KEY not in log.read_text()
