"""A client of the Durable HTTP API as the real extension serves it
(`/runtime/webhooks/durabletask/...` with the system key), for devhost or a deployed app.

The key goes in the `x-functions-key` header (which the Functions host accepts as it does
`code=`), never in a URL, and a redirect is never followed: a client following one would send
the header to wherever the `Location` points (App Service's HTTP-to-HTTPS redirect keeps path
and query). A redirect is reported as an error naming only its status. Error texts never
include the key.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import aiohttp

PAGE = 1000  # the extension caps a list page at 1000


def iso_utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


WEBHOOKS = "/runtime/webhooks/durabletask"
KEY_HEADER = "x-functions-key"


class ApiError(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"HTTP {status}: {text[:300]}")
        self.status = status
        self.text = text


class RedirectRefused(ApiError):
    def __init__(self, status: int) -> None:
        super().__init__(status, "the app redirected; not followed (the key stays here): "
                         "give --url the address the app answers on")  # fmt: skip


class DurableApi:
    def __init__(
        self,
        base_url: str,
        key: str | None = None,
        timeout: float = 30.0,
        api_path: str = WEBHOOKS,
    ) -> None:
        self.base = base_url.rstrip("/") + api_path
        self.key = key
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _params(self, **extra: str) -> dict[str, str]:
        return {k: v for k, v in extra.items() if v != ""}

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            headers = {KEY_HEADER: self.key} if self.key else None
            self._session = aiohttp.ClientSession(timeout=self.timeout, headers=headers)
        return self._session

    def _check(self, resp: aiohttp.ClientResponse) -> None:
        if 300 <= resp.status < 400:
            raise RedirectRefused(resp.status)

    def scrub(self, text: str) -> str:
        """`text` without the key (for a message that quotes something the app sent back)."""
        return text.replace(self.key, "***") if self.key else text

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _instance(self, instance_id: str, suffix: str = "") -> str:
        return f"{self.base}/instances/{quote(instance_id, safe='')}{suffix}"

    async def list_page(
        self, token: str | None = None, **filters: str
    ) -> tuple[list[dict[str, Any]], str | None]:
        headers = {"x-ms-continuation-token": token} if token else {}
        params = self._params(**({"top": str(PAGE)} | filters))
        async with self.session.get(
            self.base + "/instances", params=params, headers=headers, allow_redirects=False
        ) as resp:
            self._check(resp)
            text = await resp.text()
            if resp.status != 200:
                raise ApiError(resp.status, self.scrub(text))
            nxt = resp.headers.get("x-ms-continuation-token")
        body = json.loads(text or "[]")
        # The extension sends the header on the last page too (empty or "null").
        return list(body), (nxt if nxt and nxt != "null" else None)

    async def list_all(self, **filters: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page, token = await self.list_page(token, **filters)
            out.extend(page)
            if not token:
                return out

    async def status(self, instance_id: str, history: bool = True) -> dict[str, Any] | None:
        flags = "true" if history else "false"
        params = self._params(showHistory=flags, showHistoryOutput=flags, showInput="true")
        url = self._instance(instance_id)
        async with self.session.get(url, params=params, allow_redirects=False) as resp:
            self._check(resp)
            if resp.status == 404:
                return None
            text = await resp.text()
            if resp.status not in (200, 202, 500):
                raise ApiError(resp.status, self.scrub(text))
        data = json.loads(text) if text else None
        return data if isinstance(data, dict) else None

    async def _post(self, url: str, params: dict[str, str], body: str | None = None) -> int:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        async with self.session.post(
            url, params=params, data=body, headers=headers, allow_redirects=False
        ) as resp:
            self._check(resp)
            await resp.read()
            return resp.status

    async def restart(self, instance_id: str) -> int:
        url = self._instance(instance_id, "/restart")
        return await self._post(url, self._params(restartWithNewInstanceId="false"))

    async def terminate(self, instance_id: str, reason: str) -> int:
        url = self._instance(instance_id, "/terminate")
        return await self._post(url, self._params(reason=reason))

    async def raise_event(self, instance_id: str, name: str, data: Any) -> int:
        url = self._instance(instance_id, f"/raiseEvent/{quote(name, safe='')}")
        return await self._post(url, self._params(), json.dumps(data))

    async def purge(self, instance_id: str) -> int:
        async with self.session.delete(
            self._instance(instance_id), params=self._params(), allow_redirects=False
        ) as r:
            self._check(r)
            await r.read()
            return r.status
