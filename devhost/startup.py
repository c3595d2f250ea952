"""Start-up checks that turn the usual first-run problems into one clear line (exit 2).

The real host keeps retrying storage while it starts and logs why; a busy port or a rejected
account key is reported once. devhost does the same: it waits for storage (Azurite started a
moment later is the common case), then gives up with one line naming the endpoint and the
reason, and refuses a busy port or a wrong key at once instead of printing a traceback.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import time
import urllib.parse
from collections.abc import Awaitable, Callable

from devhost.azurite import client_kwargs

log = logging.getLogger("devhost")

STORAGE_WAIT = 60.0  # seconds to wait for unreachable storage at start
NOTICE_EVERY = 10.0


class StartupError(Exception):
    """A start-up problem the user must fix; the message is the one line they see."""


def check_port_free(host: str, port: int) -> None:
    """Refuse a port another process listens on (aiohttp would raise a long traceback)."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StartupError(
                    f"port {port} on {host} is already in use (another devhost or func start?);"
                    " stop it or choose another port with --port"
                ) from exc
            raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def _probes(connection_string: str) -> list[tuple[str, Callable[[], Awaitable[None]]]]:
    """One cheap authenticated request per service, with the SDK's own retries off."""
    # Imported here: a command that fails on its configuration or on a closed port answers
    # before the storage SDKs are loaded (seconds of imports on a loaded machine).
    from azure.data.tables.aio import TableServiceClient  # noqa: PLC0415
    from azure.storage.blob.aio import BlobServiceClient  # noqa: PLC0415
    from azure.storage.queue.aio import QueueServiceClient  # noqa: PLC0415

    # A blackholed endpoint must not hang a probe for the SDK's default connect timeout.
    opts = {**client_kwargs(connection_string), "retry_total": 0, "connection_timeout": 5}

    async def blob() -> None:
        async with BlobServiceClient.from_connection_string(connection_string, **opts) as c:
            async for _ in c.list_containers(results_per_page=1).by_page():
                break

    async def queue() -> None:
        async with QueueServiceClient.from_connection_string(connection_string, **opts) as c:
            async for _ in c.list_queues(results_per_page=1).by_page():
                break

    async def table() -> None:
        async with TableServiceClient.from_connection_string(connection_string, **opts) as c:
            async for _ in c.list_tables(results_per_page=1).by_page():
                break

    return [("blob", blob), ("queue", queue), ("table", table)]


def _connect_refused(url: str) -> str | None:
    """The reason when a TCP connection to the endpoint is refused at once (nothing listens);
    None when it connects or the answer is not that clear (DNS, timeouts: the SDK probe decides)."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=2):
            return None
    except ConnectionRefusedError as exc:
        return f"nothing listens on {parts.hostname}:{port}: {exc.strerror}"
    except OSError:
        return None


def endpoint(connection_string: str, service: str) -> str:
    parts = dict(p.split("=", 1) for p in connection_string.split(";") if "=" in p)
    explicit = parts.get(f"{service.capitalize()}Endpoint")
    if explicit:
        return explicit
    if parts.get("UseDevelopmentStorage", "").lower() == "true":
        port = {"blob": 10000, "queue": 10001, "table": 10002}[service]
        return f"http://127.0.0.1:{port}/devstoreaccount1"
    account = parts.get("AccountName", "?")
    suffix = parts.get("EndpointSuffix", "core.windows.net")
    return f"https://{account}.{service}.{suffix}"


async def wait_for_storage(
    connection_string: str,
    timeout: float = STORAGE_WAIT,
    services: tuple[str, ...] = ("blob", "queue", "table"),
) -> None:
    """Return once the services answer; StartupError otherwise (timeout=0: one try each)."""
    deadline = time.monotonic() + timeout
    last_notice = 0.0
    for service in services:
        refused = _connect_refused(endpoint(connection_string, service))
        if refused and timeout <= 0:  # nothing listens: say so before loading the SDKs
            raise StartupError(
                f"storage not reachable at {endpoint(connection_string, service)} ({refused}); "
                "is Azurite running? (make start starts it)"
            )
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError  # noqa: PLC0415

    for service, probe in _probes(connection_string):
        if service not in services:
            continue
        while True:
            try:
                await probe()
                break
            except ClientAuthenticationError as exc:
                raise StartupError(
                    f"storage at {endpoint(connection_string, service)} rejected the "
                    f"credentials in AzureWebJobsStorage ({_reason(exc)})"
                ) from exc
            except HttpResponseError as exc:
                if exc.status_code in (401, 403):
                    raise StartupError(
                        f"storage at {endpoint(connection_string, service)} rejected the "
                        f"credentials in AzureWebJobsStorage (HTTP {exc.status_code})"
                    ) from exc
                reason = _reason(exc)
            except Exception as exc:  # connection refused, DNS, timeouts
                reason = _reason(exc)
            now = time.monotonic()
            if now >= deadline:
                waited = f" after {timeout:.0f} s" if timeout > 0 else ""
                raise StartupError(
                    f"storage not reachable at {endpoint(connection_string, service)}{waited} "
                    f"({reason}); is Azurite running? (make start starts it)"
                )
            if now - last_notice >= NOTICE_EVERY:
                log.warning(
                    "Waiting for storage at %s (%s); giving up in %.0f s",
                    endpoint(connection_string, service),
                    reason,
                    deadline - now,
                )
                last_notice = now
            await asyncio.sleep(1.0)
