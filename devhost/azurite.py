"""Start and stop a local Azurite (npm) for demos and tests.

Azurite is launched from the repo's node_modules with the flags current Python SDKs need
(`--skipApiVersionCheck`), bound to 127.0.0.1, persisting under a chosen directory so a restart
keeps blobs, queues and tables (the crash-recovery and outage tests rely on that).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ACCOUNT = "devstoreaccount1"
# Azurite's published development key (not a secret).
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
REPO_ROOT = Path(__file__).resolve().parent.parent


def connection_string(
    blob_port: int, queue_port: int, table_port: int, host: str = "127.0.0.1"
) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint=http://{host}:{blob_port}/{ACCOUNT};"
        f"QueueEndpoint=http://{host}:{queue_port}/{ACCOUNT};"
        f"TableEndpoint=http://{host}:{table_port}/{ACCOUNT}"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def azurite_executable() -> str:
    local = REPO_ROOT / "node_modules" / ".bin" / "azurite"
    if local.exists():
        return str(local)
    found = shutil.which("azurite")
    if found:
        return found
    raise FileNotFoundError(
        "Azurite is not installed: run `make install` (npm install in the repo root)"
    )


@dataclass
class Azurite:
    """A running Azurite process; `stop()` then `start()` again keeps its data and ports."""

    location: Path
    blob_port: int = field(default_factory=free_port)
    queue_port: int = field(default_factory=free_port)
    table_port: int = field(default_factory=free_port)
    log_path: Path | None = None
    debug_log: Path | None = None  # Azurite's --debug: one entry per request (the bench ledger)
    process: subprocess.Popen[bytes] | None = None

    @property
    def connection_string(self) -> str:
        return connection_string(self.blob_port, self.queue_port, self.table_port)

    def start(self, timeout: float = 30.0) -> Azurite:
        self.location.mkdir(parents=True, exist_ok=True)
        argv = [
            azurite_executable(),
            "--silent",
            "--skipApiVersionCheck",
            "--disableTelemetry",
            "--loose",
            "--location",
            str(self.location),
            "--blobHost", "127.0.0.1", "--blobPort", str(self.blob_port),
            "--queueHost", "127.0.0.1", "--queuePort", str(self.queue_port),
            "--tableHost", "127.0.0.1", "--tablePort", str(self.table_port),
        ]  # fmt: skip
        if self.debug_log is not None:
            argv += ["--debug", str(self.debug_log)]
        log = Path(self.log_path or os.devnull).open("ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        ports = (self.blob_port, self.queue_port, self.table_port)
        while not all(port_open(p) for p in ports):
            if self.process.poll() is not None:
                raise RuntimeError(f"Azurite exited with code {self.process.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError("Azurite did not open its ports in time")
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def client_kwargs(connection_string: str) -> dict[str, Any]:
    """Storage client options for devhost's own clients.

    Against a loopback emulator, skip the per-request proxy/.netrc lookups that aiohttp does
    when trusting the environment (a measurable share of devhost's CPU under load).
    """
    text = connection_string.lower()
    loopback = "usedevelopmentstorage=true" in text or "127.0.0.1" in text or "localhost" in text
    return {"use_env_settings": False} if loopback else {}


@contextlib.contextmanager
def local_azurite(app_dir: Path) -> Iterator[None]:
    """Use the Azurite on the standard ports when one is running, else start our own."""
    if all(port_open(p) for p in (10000, 10001, 10002)):
        print("azurite: using the one already listening on 127.0.0.1:10000-10002")
        yield
        return
    data = app_dir / "data"
    server = Azurite(
        location=data / "azurite",
        blob_port=10000,
        queue_port=10001,
        table_port=10002,
        log_path=data / "azurite.log",
    )
    print(f"azurite: starting (data in {server.location})")
    server.start()
    try:
        yield
    finally:
        server.stop()
