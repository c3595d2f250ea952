"""The tightest storage client for Azurite this machine can run: raw aiohttp requests
authorised by one account SAS (no per-request signing, no SDK pipeline), responses parsed
with regular expressions. Used by the protocol floor and to seed task hubs; every call is
counted by kind.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import quote
from xml.sax.saxutils import escape

import aiohttp

from devhost import sdkshortcuts
from devhost.azurite import ACCOUNT, ACCOUNT_KEY, Azurite
from devhost.sdkshortcuts import Op, batch_body

HUB = "FloorHub"
VERSION = "2021-12-02"
_MSG = re.compile(
    rb"<MessageId>(.*?)</MessageId>.*?<PopReceipt>(.*?)</PopReceipt>.*?"
    rb"<MessageText>(.*?)</MessageText>",
    re.S,
)


@dataclass
class Raw:
    """Storage REST calls over one aiohttp session, SAS-authorised; counts every request."""

    azurite: Azurite
    session: aiohttp.ClientSession
    sas: str
    counts: Counter[str] = field(default_factory=Counter)

    def url(self, service: str, path: str, query: str = "") -> str:
        port = {
            "blob": self.azurite.blob_port,
            "queue": self.azurite.queue_port,
            "table": self.azurite.table_port,
        }[service]
        q = f"{query}&{self.sas}" if query else self.sas
        return f"http://127.0.0.1:{port}/{ACCOUNT}/{path}?{q}"

    async def call(
        self,
        kind: str,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        data: bytes | str | None = None,
        ok: tuple[int, ...] = (200, 201, 202, 204),
    ) -> bytes:
        self.counts[kind] += 1
        h = {"x-ms-version": VERSION, **(headers or {})}
        async with self.session.request(method, url, headers=h, data=data) as r:
            body = await r.read()
            if r.status not in ok:
                raise RuntimeError(f"{kind}: {method} {url} -> {r.status} {body[:300]!r}")
            return body

    # queues
    async def send(self, kind: str, queue: str, text: str) -> None:
        body = f"<QueueMessage><MessageText>{escape(text)}</MessageText></QueueMessage>"
        await self.call(f"{kind}: send", "POST", self.url("queue", f"{queue}/messages"), data=body)

    async def receive(self, kind: str, queue: str, n: int) -> list[tuple[str, str, str]]:
        q = f"numofmessages={n}&visibilitytimeout=60"
        body = await self.call(f"{kind}: receive", "GET", self.url("queue", f"{queue}/messages", q))
        return [(i.decode(), p.decode(), t.decode()) for i, p, t in _MSG.findall(body)]

    async def delete(self, kind: str, queue: str, msg: tuple[str, str, str]) -> None:
        q = f"popreceipt={quote(msg[1], safe='')}"
        await self.call(
            f"{kind}: delete", "DELETE", self.url("queue", f"{queue}/messages/{msg[0]}", q)
        )

    # tables
    def entity_url(self, table: str, pk: str) -> str:
        return self.url("table", f"{table}(PartitionKey='{pk}',RowKey='')")

    async def table(
        self,
        kind: str,
        method: str,
        url: str,
        body: str | None = None,
        *,
        extra: dict[str, str] | None = None,
        ok: tuple[int, ...] = (200, 201, 204),
    ) -> bytes:
        h = {
            "Accept": "application/json;odata=nometadata",
            "DataServiceVersion": "3.0",
            "Content-Type": "application/json",
            "Prefer": "return-no-content",
            **(extra or {}),
        }
        return await self.call(kind, method, url, headers=h, data=body, ok=ok)

    async def batch(self, ops: list[Op], table: str = f"{HUB}History") -> None:
        table_url = f"http://127.0.0.1:{self.azurite.table_port}/{ACCOUNT}/{table}"
        boundary, body = batch_body(table_url, VERSION, ops)
        h = {
            "DataServiceVersion": "3.0",
            "MaxDataServiceVersion": "3.0;NetFx",
            "Content-Type": f"multipart/mixed; boundary={boundary}",
            "Accept": "application/json",
        }
        got = await self.call(
            "History: $batch (history rows + sentinel)",
            "POST",
            self.url("table", "$batch"),
            headers=h,
            data=body,
        )
        if b" 204 " not in got and b" 201 " not in got:
            raise RuntimeError(f"batch failed: {got[:300]!r}")


def account_sas() -> str:
    """The same account SAS devhost's direct sends use."""
    return sdkshortcuts.account_sas(ACCOUNT, ACCOUNT_KEY)
