"""devhost off loopback: refused without a key; with one, the webhooks and admin routes need it
(401 otherwise) and the internal Durable RPC endpoint is not on the public port at all but on
its own listener bound to 127.0.0.1, as in Azure where the Durable webhooks take the system key
and the RPC listener is local (azure-functions-host WebJobs.Script.WebHost authentication by
`code` / `x-functions-key`; the extension's LocalHttpListener binds 127.0.0.1:17071)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devhost.azurite import Azurite, free_port
from devhost.process import REPO_ROOT
from tests.waiting import wait_until

APP = REPO_ROOT / "tests" / "apps" / "durable_app"
KEY = "k3y-for-tests"
RPC_PORT = free_port()


def lan_address() -> str | None:
    """This machine's non-loopback IPv4 address, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.254", 9))  # no packet is sent for a UDP connect
            address = str(s.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") else address


def call(url: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
            return resp.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as err:
        return err.code, None


def test_non_loopback_without_a_key_is_refused_in_one_line(azurite: Azurite) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "devhost", "start", "--app-dir", str(APP), "--host", "0.0.0.0",
         "--port", str(free_port())],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "AzureWebJobsStorage": azurite.connection_string},
    )  # fmt: skip
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0 without a key" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def keyed_host(
    azurite: Azurite, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[int, Path]]:
    port = free_port()
    log = tmp_path_factory.mktemp("keyed") / "devhost.log"
    out = log.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "devhost", "start", "--app-dir", str(APP), "--host", "0.0.0.0",
         "--port", str(port), "--rpc-port", str(RPC_PORT)],
        cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT,
        env={**os.environ, "DEVHOST_KEY": KEY, "AzureWebJobsStorage": azurite.connection_string},
    )  # fmt: skip

    def started() -> bool:
        assert proc.poll() is None, log.read_text()
        return "Host started" in log.read_text()

    wait_until(started, timeout=60, interval=0.3, message=log.read_text)
    yield port, log
    proc.terminate()
    proc.wait(20)
    out.close()


def test_banner_shows_the_real_listening_address(keyed_host: tuple[int, Path]) -> None:
    port, log = keyed_host
    assert f"HTTP on http://0.0.0.0:{port}" in log.read_text()
    assert "key required" in log.read_text()


def test_webhooks_need_the_key(keyed_host: tuple[int, Path]) -> None:
    port, _ = keyed_host
    url = f"http://127.0.0.1:{port}/runtime/webhooks/durabletask/instances"
    assert call(url)[0] == 401
    assert call(url + "?code=wrong")[0] == 401
    assert call(url + f"?code={KEY}")[0] == 200
    assert call(url, headers={"x-functions-key": KEY})[0] == 200
    start = f"http://127.0.0.1:{port}/runtime/webhooks/durabletask/orchestrators/Hello"
    assert call(start, "POST", "x")[0] == 401
    assert call(f"http://127.0.0.1:{port}/admin/host/status")[0] == 401


def test_sdk_starter_works_and_its_urls_carry_the_key(keyed_host: tuple[int, Path]) -> None:
    port, _ = keyed_host
    status, body = call(f"http://127.0.0.1:{port}/api/orchestrators/Chain", "POST", ["Kyiv"])
    assert status == 202
    assert f"code={KEY}" in body["statusQueryGetUri"]

    def finished() -> Any:
        status, got = call(body["statusQueryGetUri"])
        assert status in (200, 202), (status, got)
        return got if status == 200 else None  # 202 while it runs

    got = wait_until(finished, timeout=30, interval=0.3, message="never finished")
    assert got["runtimeStatus"] == "Completed"


def test_internal_rpc_endpoint_is_loopback_only(keyed_host: tuple[int, Path]) -> None:
    port, _ = keyed_host
    assert call(f"http://127.0.0.1:{RPC_PORT}/durabletask/instances/")[0] == 200
    assert call(f"http://127.0.0.1:{port}/durabletask/instances/")[0] == 404  # not public
    lan = lan_address()
    if lan is None:
        pytest.skip("this machine has no non-loopback address to call from")
    with pytest.raises(OSError):  # nothing listens there: the RPC listener binds 127.0.0.1
        call(f"http://{lan}:{RPC_PORT}/durabletask/instances/")
    assert call(f"http://{lan}:{port}/runtime/webhooks/durabletask/instances?code={KEY}")[0] == 200
