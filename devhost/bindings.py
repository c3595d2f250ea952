"""Blob input, blob output and queue output bindings, as the host's storage extensions bind them.

v1 apps commonly read a second blob or write a result blob / queue message through
function.json. The host resolves `path` / `queueName` templates from the trigger's binding data
(`{name}` of a blob trigger, route parameters of an HTTP trigger; `{rand-guid}` and `{DateTime}`
built in), hands an input blob to the worker as bytes (missing blob: null), and after a
successful invocation writes what the function set on its `func.Out` (or returned through
`$return`), encoded by azure.functions' own converters inside the invocation (devhost.invoker).
Queue messages are base64, the storage extension's default (`extensions.queues.messageEncoding`
in host.json can say "none").
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.functions import meta
from azure.storage.blob.aio import BlobServiceClient
from azure.storage.queue.aio import QueueServiceClient

from devhost.azurite import client_kwargs
from devhost.loader import Binding, FunctionSpec

TOKEN = re.compile(r"\{([^{}]+)\}")


class BindingError(Exception):
    """A binding expression or target the host cannot resolve (the invocation fails)."""


def resolve(template: str, data: Mapping[str, str]) -> str:
    """Fill `{token}`s from binding data (case-insensitive keys, as the host's binding data)."""
    lowered = {k.lower(): v for k, v in data.items()}

    def one(match: re.Match[str]) -> str:
        token = match.group(1)
        key = token.lower()
        if key == "rand-guid":
            return str(uuid.uuid4())
        if key == "datetime":
            return datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
        if key not in lowered:
            raise BindingError(f"no value for '{{{token}}}' in the trigger's binding data")
        return str(lowered[key])

    return TOKEN.sub(one, template)


def split_blob_path(path: str) -> tuple[str, str]:
    container, _, blob = path.strip("/").partition("/")
    if not container or not blob:
        raise BindingError(f"blob path '{path}' must be 'container/blob'")
    return container, blob


class BindingIO:
    """Storage clients per connection setting, and the reads/writes around one invocation."""

    def __init__(self, settings: Mapping[str, str], host_json: Mapping[str, Any]) -> None:
        self.settings = settings
        queues = host_json.get("extensions", {}).get("queues", {})
        self.base64_messages = str(queues.get("messageEncoding", "base64")).lower() != "none"
        self._blobs: dict[str, BlobServiceClient] = {}
        self._queues: dict[str, QueueServiceClient] = {}

    def _connection(self, binding: Binding) -> str:
        name = str(binding.raw.get("connection") or "AzureWebJobsStorage")
        value = self.settings.get(name)
        if not value:
            raise BindingError(f"binding '{binding.name}': connection setting '{name}' is not set")
        return value

    def _blob_service(self, binding: Binding) -> BlobServiceClient:
        cs = self._connection(binding)
        if cs not in self._blobs:
            self._blobs[cs] = BlobServiceClient.from_connection_string(cs, **client_kwargs(cs))
        return self._blobs[cs]

    def _queue_service(self, binding: Binding) -> QueueServiceClient:
        cs = self._connection(binding)
        if cs not in self._queues:
            self._queues[cs] = QueueServiceClient.from_connection_string(cs, **client_kwargs(cs))
        return self._queues[cs]

    async def close(self) -> None:
        for blobs in self._blobs.values():
            await blobs.close()
        for queues in self._queues.values():
            await queues.close()

    async def inputs(self, spec: FunctionSpec, data: Mapping[str, str]) -> dict[str, meta.Datum]:
        """Blob input bindings as datums (bytes; a missing blob is null, as in the host)."""
        out: dict[str, meta.Datum] = {}
        for b in spec.bindings:
            if b.type != "blob" or b.direction != "in":
                continue
            container, name = split_blob_path(resolve(str(b.raw.get("path", "")), data))
            blob = self._blob_service(b).get_blob_client(container, name)
            try:
                content = await (await blob.download_blob()).readall()
            except ResourceNotFoundError:
                out[b.name] = meta.Datum(type=None, value=None)
                continue
            if str(b.raw.get("dataType", "")).lower() == "string":
                out[b.name] = meta.Datum(type="string", value=content.decode("utf-8"))
            else:
                out[b.name] = meta.Datum(type="bytes", value=content)
        return out

    async def write_outputs(
        self, spec: FunctionSpec, datums: Mapping[str, meta.Datum], data: Mapping[str, str]
    ) -> None:
        """Write the blob/queue outputs the worker encoded (`$return` included) after
        success."""
        for b in spec.bindings:
            if b.direction != "out" or b.type not in ("blob", "queue"):
                continue
            datum = datums.get(b.name)
            if datum is None or datum.value is None:
                continue
            if b.type == "blob":
                await self._write_blob(b, datum, data)
            else:
                await self._send(b, datum, data)

    async def _write_blob(self, b: Binding, datum: meta.Datum, data: Mapping[str, str]) -> None:
        container, name = split_blob_path(resolve(str(b.raw.get("path", "")), data))
        service = self._blob_service(b)
        with contextlib.suppress(ResourceExistsError):
            await service.get_container_client(container).create_container()
        body = datum.value if isinstance(datum.value, bytes) else str(datum.value).encode()
        await service.get_blob_client(container, name).upload_blob(body, overwrite=True)

    async def _send(self, b: Binding, datum: meta.Datum, data: Mapping[str, str]) -> None:
        queue_name = resolve(str(b.raw.get("queueName") or b.raw.get("queue_name") or ""), data)
        if not queue_name:
            raise BindingError(f"binding '{b.name}': queueName is not set")
        queue = self._queue_service(b).get_queue_client(queue_name.lower())
        with contextlib.suppress(ResourceExistsError):
            await queue.create_queue()
        messages = json.loads(datum.value) if datum.type == "json" else [datum.value]
        if not isinstance(messages, list):
            messages = [messages]
        for m in messages:
            raw = m if isinstance(m, bytes | str) else json.dumps(m)
            text = raw.decode() if isinstance(raw, bytes) else raw
            if self.base64_messages:
                text = base64.b64encode(text.encode("utf-8")).decode("ascii")
            await queue.send_message(text)
