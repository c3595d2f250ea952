"""A small client of the Durable HTTP API: status, start and the instance query.

Written for this tool rather than borrowed from devhost (which is never deployed) or from the
SDK's DurableOrchestrationClient (which needs a durableClient binding and would put the system
key in every URL it logs): the key travels in the `x-functions-key` header only. Starts are
sent as the SDK sends them (the input serialised once more as JSON text), so an instance this
tool starts holds the same input as one the blob trigger started.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp

KEY_HEADER = "x-functions-key"
CONTINUATION = "x-ms-continuation-token"
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)  # transient failures: ~15 s in all, then give up
PROBE_DELAYS = (0.5, 1.0)  # at start: an app that is not there is reported within seconds
_TRANSIENT = (408, 429, 502, 503, 504)


class ApiError(Exception):
    """The API answered something this tool cannot use (one line for the operator)."""


class ApiUnreachable(ApiError):
    """No answer (connection refused, timeouts, gateway errors) after the retries."""


class StartRefused(ApiError):
    """The API refused a start (e.g. the instance is running); the caller re-reads its status."""


@dataclass(frozen=True)
class Status:
    runtime_status: str | None  # None: no such instance
    output: Any = None
    input: Any = None
    name: str | None = None


def _decode(value: Any) -> Any:
    """Payloads of SDK-started instances are JSON text (in Azure): unwrap once or twice."""
    for _ in range(2):
        if not isinstance(value, str) or not value.lstrip().startswith(("{", "[", '"')):
            return value
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return value


def status_from(body: Mapping[str, Any]) -> Status:
    return Status(
        runtime_status=body.get("runtimeStatus"),
        output=_decode(body.get("output")),
        input=_decode(body.get("input")),
        name=body.get("name"),
    )


class DurableApi:
    """Calls on one aiohttp session; transient failures are retried, then ApiUnreachable."""

    def __init__(self, root: str, key: str | None, session: aiohttp.ClientSession):
        self.root = root.rstrip("/")
        self._headers = {KEY_HEADER: key} if key else {}
        self._session = session

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: str | None = None,
        headers: Mapping[str, str] | None = None,
        delays: tuple[float, ...] = RETRY_DELAYS,
    ) -> tuple[int, bytes, Mapping[str, str]]:
        url = f"{self.root}/{path}"
        h = {**self._headers, **(headers or {})}
        if body is not None:
            h["Content-Type"] = "application/json"
        last = ""
        for delay in (*delays, None):
            try:
                async with self._session.request(method, url, data=body, headers=h) as resp:
                    data = await resp.read()
                    if resp.status not in _TRANSIENT:
                        if resp.status in (401, 403):
                            raise ApiError(
                                f"the Durable HTTP API at {self.root} refused the key "
                                f"({resp.status}): set DURABLETASK_KEY or --key-file to the "
                                "app's durabletask_extension system key"
                            )
                        return resp.status, data, resp.headers
                    last = f"HTTP {resp.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                last = str(exc) or type(exc).__name__
            if delay is None:
                break
            await asyncio.sleep(delay)
        raise ApiUnreachable(f"cannot reach the Durable HTTP API at {self.root}: {last}")

    async def probe(self) -> None:
        """One query, so a wrong URL or key is reported before any work starts."""
        status, _, _ = await self._call("GET", "instances?top=1", delays=PROBE_DELAYS)
        if status == 404:
            raise ApiError(f"no Durable HTTP API at {self.root} (404): is it the app's URL?")
        if status != 200:
            raise ApiError(f"the Durable HTTP API at {self.root} answered {status} to a query")

    async def get_status(self, instance_id: str) -> Status:
        status, data, _ = await self._call("GET", f"instances/{quote(instance_id, safe='')}")
        if status == 404:
            return Status(None)
        if status not in (200, 202):
            raise ApiError(f"status of {instance_id}: HTTP {status}")
        return status_from(json.loads(data))

    async def start_new(
        self,
        orchestration_function_name: str,
        instance_id: str | None = None,
        client_input: Any = None,
    ) -> str:
        path = f"orchestrators/{quote(orchestration_function_name, safe='')}"
        if instance_id:
            path += f"/{quote(instance_id, safe='')}"
        # The SDK posts json=df_dumps(input): JSON text of the JSON text.
        body = json.dumps(json.dumps(client_input))
        status, data, _ = await self._call("POST", path, body=body)
        if status > 202:
            raise StartRefused(f"start of {instance_id}: HTTP {status} {data[:200]!r}")
        return str(json.loads(data)["id"]) if data else str(instance_id)

    async def pages(self, **query: str) -> AsyncIterator[list[dict[str, Any]]]:
        """Pages of `GET instances?...`, following x-ms-continuation-token."""
        token = ""
        while True:
            headers = {CONTINUATION: token} if token else {}
            status, data, resp_headers = await self._call(
                "GET", f"instances?{urlencode(query)}", headers=headers
            )
            if status != 200:
                raise ApiError(f"instance query: HTTP {status}")
            yield list(json.loads(data or b"[]"))
            token = resp_headers.get(CONTINUATION) or ""
            if not token:
                return
