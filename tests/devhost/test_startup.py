"""First-run problems give one clear line and exit code 2, as `func start` reports them once
(a busy port, storage that is not there, a wrong account key); storage that comes up a little
later is waited for, as the real host keeps retrying storage while it starts."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devhost.azurite import ACCOUNT_KEY, Azurite, connection_string, free_port
from devhost.process import REPO_ROOT
from devhost.remote_api import get_json, request_json
from tests.waiting import wait_until

APP = REPO_ROOT / "tests" / "apps" / "durable_app"


def devhost(*args: str, storage: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """devhost with AzureWebJobsStorage in its environment (never on its command line)."""
    return subprocess.run(
        [sys.executable, "-m", "devhost", *args], cwd=REPO_ROOT, capture_output=True,
        text=True, timeout=timeout, check=False,
        env={**os.environ, "AzureWebJobsStorage": storage},
    )  # fmt: skip


def one_line(stderr: str) -> str:
    lines = [ln for ln in stderr.strip().splitlines() if ln.startswith("devhost:")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def closed_storage() -> str:
    return connection_string(free_port(), free_port(), free_port())


def logged(proc: subprocess.Popen[bytes], log: Path, line: str) -> str:
    """The log once it holds `line`; fails at once if the process ends first."""

    def holds() -> str:
        text = log.read_text()
        assert proc.poll() is None, text
        return text if line in text else ""

    return wait_until(holds, timeout=60, message=lambda: f"no {line!r} in {log.read_text()}")


def test_busy_port_is_one_line(azurite: Azurite) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = devhost(
            "start", "--app-dir", str(APP), "--port", str(port),
            storage=azurite.connection_string,
        )  # fmt: skip
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in one_line(result.stderr)


def test_unreachable_storage_waits_then_gives_up_in_one_line() -> None:
    started = time.monotonic()
    result = devhost(
        "start", "--app-dir", str(APP), "--port", str(free_port()), "--storage-wait", "3",
        storage=closed_storage(),
    )  # fmt: skip
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert "storage not reachable at http://127.0.0.1:" in line and "after 3 s" in line
    assert "Waiting for storage" in result.stdout
    assert time.monotonic() - started >= 3


def test_wrong_account_key_is_refused_at_once(azurite: Azurite) -> None:
    wrong = azurite.connection_string.replace(ACCOUNT_KEY, "d3Jvbmc=" * 11)
    result = devhost(
        "start", "--app-dir", str(APP), "--port", str(free_port()), "--storage-wait", "30",
        storage=wrong,
    )  # fmt: skip
    assert result.returncode == 2
    assert "rejected the credentials in AzureWebJobsStorage" in one_line(result.stderr)


def test_status_with_storage_down_is_one_line() -> None:
    result = devhost("status", "--app-dir", str(APP), storage=closed_storage())
    assert result.returncode == 2
    assert "storage not reachable" in one_line(result.stderr)


@pytest.mark.e2e
def test_storage_that_comes_up_later_is_waited_for(tmp_path: Path) -> None:
    ports = free_port(), free_port(), free_port()
    cs = connection_string(*ports)
    port = free_port()
    log = (tmp_path / "devhost.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "devhost", "start", "--app-dir", str(APP), "--port", str(port),
         "--storage-wait", "60"],
        cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "AzureWebJobsStorage": cs},
    )  # fmt: skip
    server = Azurite(
        location=tmp_path / "azurite", blob_port=ports[0], queue_port=ports[1],
        table_port=ports[2], log_path=tmp_path / "azurite.log",
    )  # fmt: skip
    try:
        logged(proc, tmp_path / "devhost.log", "Waiting for storage")
        assert proc.poll() is None  # still waiting, not crashed
        server.start()
        text = logged(proc, tmp_path / "devhost.log", "Host started")
        assert "Waiting for storage" in text
        assert "Not as in Azure:" in text  # the one-line statement of what devhost cannot match
    finally:
        proc.terminate()
        proc.wait(20)
        server.stop()
        log.close()


def test_disabled_function_is_listed_as_disabled_and_not_run(
    azurite: Azurite, tmp_path: Path
) -> None:
    # `func start` lists a function disabled by AzureWebJobs.<name>.Disabled and does not run it;
    # it is still loaded and validated (an invalid disabled function fails start-up too).
    port = free_port()
    log = tmp_path / "devhost.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "devhost", "start", "--app-dir", str(APP), "--port", str(port)],
            cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "AzureWebJobs.Hello.Disabled": "true",
                 "AzureWebJobsStorage": azurite.connection_string},
        )  # fmt: skip
        try:
            logged(proc, log, "Host started")
        finally:
            proc.terminate()
            proc.wait(20)
    text = log.read_text()
    assert "Hello: disabled (AzureWebJobs.Hello.Disabled)" in text
    assert "Hello: activityTrigger" not in text


def test_retain_completed_is_announced_and_purges_through_the_running_host(
    azurite: Azurite, tmp_path: Path
) -> None:
    """`--retain-completed 2s`: the start line says what Azure does instead, and a completed
    instance is gone (404 from the Durable API) once it is older than that; devhost/retention.py
    over the purge path HttpApiHandler's purge by filter uses."""
    port = free_port()
    hub = f"Ret{os.getpid()}x{port}"
    log = tmp_path / "devhost.log"
    api = f"http://127.0.0.1:{port}/runtime/webhooks/durabletask"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "devhost", "start", "--app-dir", str(APP), "--port", str(port),
             "--retain-completed", "2s"],
            cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "AzureWebJobsStorage": azurite.connection_string,
                 "AzureFunctionsJobHost__extensions__durableTask__hubName": hub},
        )  # fmt: skip
        try:
            text = logged(proc, log, "Host started")
            request_json(f"{api}/orchestrators/Chain/kept-then-purged", "POST", ["Oslo"])
            wait_until(
                lambda: (
                    (get_json(f"{api}/instances/kept-then-purged") or {}).get("runtimeStatus")
                    == "Completed"
                ),
                timeout=60,
                message="the orchestration never completed",
            )
            wait_until(
                lambda: get_json(f"{api}/instances/kept-then-purged") is None,
                timeout=60,
                message=lambda: f"never purged: {log.read_text()[-2000:]}",
            )
            logged(proc, log, "Retention: purged 1 instance created more than 2s ago")
        finally:
            proc.terminate()
            proc.wait(20)
    assert (
        "Not as in Azure: devhost purges Completed, Failed, Terminated instances created more "
        "than 2s ago (--retain-completed / DEVHOST_RETAIN_COMPLETED); Azure keeps them until "
        "you purge" in text
    )
