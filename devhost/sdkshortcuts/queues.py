"""Queue messages: Put, Get and Delete Message for the Durable and blob-trigger queues.

The generated client serialises and deserialises each message through its model layer, ~0.8 ms
of a ~2.3 ms send and ~2.5 ms of a ~4.5 ms receive of 32. Here the same requests (URL, query,
headers, XML body) are sent and the reply is read with ElementTree; the client's message
encode/decode policy is applied when it is one of the SDK's own (plain, base64), and a client
that encrypts takes the public calls.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

from azure.core.exceptions import HttpResponseError
from azure.storage.queue import QueueMessage
from azure.storage.queue.aio import QueueClient

from devhost.sdkshortcuts import _private
from devhost.sdkshortcuts._private import Request, fell_back, queue_codec, url_of
from devhost.sdkshortcuts.blobs import http_date


async def _send_shortcut(queue: QueueClient, text: str, visibility_timeout: int | None) -> None:
    xml = f"<QueueMessage><MessageText>{escape(text)}</MessageText></QueueMessage>"
    request = Request(
        "POST",
        f"{url_of(queue)}/messages?visibilitytimeout={visibility_timeout or 0}",
        headers={"x-ms-version": queue.api_version, "Content-Type": "application/xml"},
        content=f"<?xml version='1.0' encoding='utf-8'?>\n{xml}".encode(),  # as the SDK's
    )
    reply = await _private.send(queue, request)
    if reply.status != 201:
        raise HttpResponseError(message=f"Put Message returned {reply.status}: {reply.body!r}")


async def send_message(
    queue: QueueClient, content: Any, visibility_timeout: int | None = None
) -> None:
    """Put Message. A shortcut that raised is followed by the public call, which can deliver
    the message twice if the first request reached the service: every receiver of these
    queues takes a message at least once (duplicates are dropped by message id)."""
    codec = queue_codec(queue) if _private.QUEUES_SHORTCUT else None
    if codec is not None:
        try:
            await _send_shortcut(queue, codec[0](content), visibility_timeout)
            return
        except Exception as exc:
            fell_back("Put Message", exc)
    await queue.send_message(content, visibility_timeout=visibility_timeout)


def parse_messages(body: bytes, decode: Any = None) -> list[QueueMessage]:
    """Get Messages' reply as the SDK's QueueMessage models (the fields devhost reads)."""
    out = []
    root = ET.fromstring(body)  # noqa: S314 - the storage service's own response
    for el in root.iter("QueueMessage"):
        text = el.findtext("MessageText") or ""
        msg = QueueMessage(content=decode(text) if decode else text)
        msg.id = el.findtext("MessageId") or ""
        msg.pop_receipt = el.findtext("PopReceipt")
        msg.dequeue_count = int(el.findtext("DequeueCount") or 0)
        msg.inserted_on = http_date(el.findtext("InsertionTime") or "")
        msg.expires_on = http_date(el.findtext("ExpirationTime") or "")
        msg.next_visible_on = http_date(el.findtext("TimeNextVisible") or "")
        out.append(msg)
    return out


async def _receive_shortcut(
    queue: QueueClient, count: int, visibility: int, decode: Any
) -> list[QueueMessage]:
    request = Request(
        "GET",
        f"{url_of(queue)}/messages?numofmessages={count}&visibilitytimeout={visibility}",
        headers={"x-ms-version": queue.api_version},
    )
    reply = await _private.send(queue, request)
    if reply.status != 200:
        raise HttpResponseError(message=f"Get Messages returned {reply.status}: {reply.body!r}")
    return parse_messages(reply.body, decode)


async def receive_messages(queue: QueueClient, count: int, visibility: int) -> list[QueueMessage]:
    """Get Messages (up to `count`, hidden for `visibility` s). A shortcut that raised after
    the service answered leaves those messages hidden until their visibility ends; the public
    call then receives others."""
    codec = queue_codec(queue) if _private.QUEUES_SHORTCUT else None
    if codec is not None:
        try:
            return await _receive_shortcut(queue, count, visibility, codec[1])
        except Exception as exc:
            fell_back("Get Messages", exc)
    return [
        m
        async for m in queue.receive_messages(
            messages_per_page=count, max_messages=count, visibility_timeout=visibility
        )
    ]


async def delete_message(queue: QueueClient, message: QueueMessage) -> None:
    """Delete Message with the receive's pop receipt; ResourceNotFoundError when it is gone
    (the public call's, made again on any outcome but 204)."""
    if _private.QUEUES_SHORTCUT and message.pop_receipt:
        try:
            request = Request(
                "DELETE",
                f"{url_of(queue)}/messages/{quote(message.id, safe='')}"
                f"?popreceipt={quote(message.pop_receipt, safe='')}",
                headers={"x-ms-version": queue.api_version},
            )
            if (await _private.send(queue, request)).status == 204:
                return
        except Exception as exc:
            fell_back("Delete Message", exc)
    await queue.delete_message(message)
