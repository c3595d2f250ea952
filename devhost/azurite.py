"""Start and stop a local Azurite (npm) for demos and tests.

Azurite is launched from the repo's node_modules with the flags current Python SDKs need
(`--skipApiVersionCheck`), bound to 127.0.0.1, persisting under a chosen directory so a restart
keeps blobs, queues and tables (the crash-recovery and outage tests rely on that).

`DEVHOST_AZURITE_SPLIT=1` (or `split=True`) runs the three services as Azurite's own separate
binaries (`azurite-blob`, `azurite-queue`, `azurite-table`; same flags, same files under the
same location) under one small shell that stops them together. One Azurite process is one
Node event loop: a table autosave (LokiJS re-serialises the whole table database every 5 s
while it changes, which grows with the task hub) stalls every queue and blob request behind
it, and the emulator never uses more than one core. Split, they run side by side; measured
on the shared 2-core machine it cost more CPU per image and a slower start than it saved
(docs/performance.md, round two), so the single binary stays the default.
"""

from __future__ import annotations

import contextlib
import os
import shlex
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


def azurite_executable(name: str = "azurite") -> str:
    """`azurite`, or one service's binary (`azurite-blob`, `azurite-queue`, `azurite-table`)."""
    local = REPO_ROOT / "node_modules" / ".bin" / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found:
        return found
    raise FileNotFoundError(
        "Azurite is not installed: run `make install` (npm install in the repo root)"
    )


def split_default() -> bool:
    return os.environ.get("DEVHOST_AZURITE_SPLIT", "0") == "1"


# Runs the three service processes; stops all of them when told to or when one exits, and
# exits only after every one has (so a restart never meets a half-saved database file).
# `stop()` signals the whole process group, so the trap only waits: a second SIGINT would
# kill a service before it has saved (each handles the first one only). The table binary
# saves and closes on SIGINT only; SIGTERM would kill it unsaved.
SUPERVISOR = """
{blob} & b=$!
{queue} & q=$!
{table} & t=$!
trap 'wait; exit 130' INT TERM
wait -n
code=$?
kill -INT $b $q $t 2>/dev/null
wait
exit $(( code ? code : 1 ))
"""


@dataclass
class Azurite:
    """A running Azurite process; `stop()` then `start()` again keeps its data and ports."""

    location: Path
    blob_port: int = field(default_factory=free_port)
    queue_port: int = field(default_factory=free_port)
    table_port: int = field(default_factory=free_port)
    log_path: Path | None = None
    debug_log: Path | None = None  # Azurite's --debug: one entry per request (the bench ledger)
    split: bool = field(default_factory=split_default)  # one process per service
    process: subprocess.Popen[bytes] | None = None  # the whole emulator (its process group)

    @property
    def connection_string(self) -> str:
        return connection_string(self.blob_port, self.queue_port, self.table_port)

    def start(self, timeout: float = 30.0) -> Azurite:
        self.location.mkdir(parents=True, exist_ok=True)
        argv = self.split_argv() if self.split else self.single_argv()
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

    def common_args(self) -> list[str]:
        args = ["--silent", "--skipApiVersionCheck", "--disableTelemetry", "--loose"]
        args += ["--location", str(self.location)]
        if self.debug_log is not None:
            args += ["--debug", str(self.debug_log)]
        return args

    def service_args(self, service: str) -> list[str]:
        port = {"blob": self.blob_port, "queue": self.queue_port, "table": self.table_port}
        return [f"--{service}Host", "127.0.0.1", f"--{service}Port", str(port[service])]

    def single_argv(self) -> list[str]:
        argv = [azurite_executable(), *self.common_args()]
        for service in ("blob", "queue", "table"):
            argv += self.service_args(service)
        return argv

    def split_argv(self) -> list[str]:
        commands = {
            service: shlex.join(
                [
                    azurite_executable(f"azurite-{service}"),
                    *self.common_args(),
                    *self.service_args(service),
                ]
            )
            for service in ("blob", "queue", "table")
        }
        bash = shutil.which("bash") or "/bin/bash"
        return [bash, "-c", SUPERVISOR.format(**commands)]

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                # SIGINT: what every Azurite binary closes (and saves its databases) on
                os.killpg(self.process.pid, signal.SIGINT)
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


def patch_note() -> str:
    """Whether the installed Azurite has devhost/azurite_patches.py's look-up fixes, in words."""
    from devhost.azurite_patches import PatchError, state  # noqa: PLC0415

    try:
        found = state()
    except PatchError as exc:
        return f"{exc}: its look-ups slow down as the task hub grows"
    if found == "patched":
        return "look-up patches applied, docs/devhost.md#azurite"
    return "unpatched: its look-ups slow down as the task hub grows (make install patches it)"


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
    print(f"azurite: starting (data in {server.location}; {patch_note()})")
    server.start()
    try:
        yield
    finally:
        server.stop()
