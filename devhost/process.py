"""Run `python -m devhost start` as a subprocess, the way a developer does.

Used by scripts/demo.py, the end-to-end tests and the benchmarks: they need a host they can
SIGKILL and restart, and whose only interface is the one users have (storage + the Durable
HTTP API). The storage connection string and any key travel in the child's environment, never
on its command line; the RPC port and the monitor token are chosen here so callers know them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devhost.azurite import free_port
from devhost.guard import TOKEN_ENV
from devhost.remote_api import API_PATH, get_json, iter_instances

REPO_ROOT = Path(__file__).resolve().parents[1]


def _prefix_lines(pipe: Any, prefix: str) -> None:
    for line in iter(pipe.readline, b""):
        sys.stdout.write(prefix + line.decode(errors="replace"))
        sys.stdout.flush()


@dataclass
class DevhostProcess:
    app_dir: Path
    storage_connection_string: str
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    rpc_port: int = field(default_factory=free_port)
    monitor_token: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    log_path: Path | None = None
    extra_args: list[str] = field(default_factory=list)
    stream_prefix: str | None = (
        None  # echo the host's output with this prefix instead of a log file
    )
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def rpc_url(self) -> str:
        """The loopback-only RPC listener (`/durabletask/...`, the SDK's rpcBaseUrl)."""
        return f"http://127.0.0.1:{self.rpc_port}"

    @property
    def monitor_url(self) -> str:
        """The monitor page with this run's token (a browser keeps it as a cookie)."""
        return f"{self.base_url}/monitor?token={self.monitor_token}"

    @property
    def key(self) -> str | None:
        return self.env.get("DEVHOST_KEY") or None

    def start(self, timeout: float = 60.0) -> DevhostProcess:
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        env["AzureWebJobsStorage"] = self.storage_connection_string
        env[TOKEN_ENV] = self.monitor_token
        # devhost itself lives in this repo; the app dir may be elsewhere (test apps).
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
        argv = [
            sys.executable, "-m", "devhost", "start",
            "--app-dir", str(self.app_dir),
            "--port", str(self.port),
            "--rpc-port", str(self.rpc_port),
            "--poll-interval", "0.5",
            *self.extra_args,
        ]  # fmt: skip
        if self.stream_prefix is not None:
            out: Any = subprocess.PIPE
        else:
            out = Path(self.log_path or os.devnull).open("ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            argv, cwd=self.app_dir, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        if self.stream_prefix is not None:
            threading.Thread(
                target=_prefix_lines, args=(self.process.stdout, self.stream_prefix), daemon=True
            ).start()
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"devhost exited with {self.process.returncode}: {self.log_tail()}"
                )
            with contextlib.suppress(OSError):
                self.get_json(f"{API_PATH}/instances/?top=1")
                return self
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"devhost did not start: {self.log_tail()}")
            time.sleep(0.2)

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def get_json(self, path: str) -> Any:
        """GET `path` on the listener that serves it: `/durabletask/...` on the RPC port."""
        origin = self.rpc_url if path.startswith("/durabletask/") else self.base_url
        return get_json(origin + path, key=self.key)

    def list_instances(self) -> list[dict[str, Any]]:
        """Every instance of the task hub (with inputs), following continuation tokens."""
        return list(iter_instances(self.base_url, key=self.key, top=500, showInput=True))

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the whole process group: no cleanup runs, like a crashed host."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def __enter__(self) -> DevhostProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
